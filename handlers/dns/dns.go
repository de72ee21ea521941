// Package dns is the dns step's back end: RFC 2136 updates of the platform's
// zone, the records a customer must create for a domain of their own, with
// the undo, the probe and the check of customers' domains.
package dns

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// DNS points the tenant's platform name (<key>.<zone>) and its domains
// inside the zone at the application's entry point with RFC 2136 dynamic
// updates signed with TSIG, which BIND, PowerDNS, Knot and most managed DNS
// accept; domains outside the zone are the customer's to point (see Do).
// Every name it manages gets a CNAME to the load balancer the
// infrastructure step reported (output "load_balancer"), else to Target, and
// a TXT record _tenantflow.<domain> naming the tenant: a CNAME without our
// TXT is someone else's and is never touched.
type DNS struct {
	Server     string // host:port of the primary
	Zone       string // e.g. tenants.example.com; every tenant domain must be inside it
	TSIGName   string
	TSIGSecret string // base64
	Target     string // CNAME target when the infrastructure names no load balancer
	TTL        uint32 // default 300
}

func (d DNS) fqdn(s string) string { return dns.Fqdn(strings.ToLower(s)) }

func ownerName(domainName string) string { return "_tenantflow." + domainName }

func (d DNS) mark(t *domain.Tenant) string { return "tenant=" + t.ID() }

// target is where the tenant's domains point.
func (d DNS) target(t *domain.Tenant) (string, error) {
	if lb := t.Outputs(domain.StepInfrastructure)["load_balancer"]; lb != "" {
		return d.fqdn(lb), nil
	}
	if d.Target == "" {
		return "", step.Permanent(errors.New("no CNAME target: the infrastructure reported no load_balancer and TENANTFLOW_DNS_TARGET is empty"))
	}
	return d.fqdn(d.Target), nil
}

// query asks the primary for name's records of type qtype.
func (d DNS) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	return resolve(ctx, d.Server, name, qtype)
}

// owner says whether the TXT marker names t (ours), another tenant, or nobody.
func (d DNS) owner(ctx context.Context, t *domain.Tenant, name string) (ours, foreign bool, err error) {
	txts, err := d.query(ctx, ownerName(name), dns.TypeTXT)
	if err != nil {
		return false, false, err
	}
	for _, rr := range txts {
		if strings.Join(rr.(*dns.TXT).Txt, "") == d.mark(t) {
			return true, false, nil
		}
	}
	cnames, err := d.query(ctx, name, dns.TypeCNAME)
	if err != nil {
		return false, false, err
	}
	return false, len(txts) > 0 || len(cnames) > 0, nil
}

// update sends a signed RFC 2136 update.
func (d DNS) update(ctx context.Context, m *dns.Msg) error {
	c := &dns.Client{Timeout: 5 * time.Second, TsigSecret: map[string]string{dns.Fqdn(d.TSIGName): d.TSIGSecret}}
	m.SetTsig(dns.Fqdn(d.TSIGName), dns.HmacSHA256, 300, time.Now().Unix())
	in, _, err := c.ExchangeContext(ctx, m, d.Server)
	if err != nil {
		return fmt.Errorf("dns update: %w", err) // network: retried
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeRefused, dns.RcodeNotAuth, dns.RcodeNotZone, dns.RcodeFormatError, dns.RcodeBadSig, dns.RcodeBadKey:
		return step.Permanent(fmt.Errorf("dns update refused: %s", dns.RcodeToString[in.Rcode]))
	default:
		return fmt.Errorf("dns update: %s", dns.RcodeToString[in.Rcode])
	}
}

// names splits the tenant's names into those this step manages (the
// platform name <key>.<zone> first, which every tenant gets, then the tenant's domains inside the zone, as FQDNs)
// and the customer's own domains outside it, which it never touches: for
// those it says which records the customer must create.
func (d DNS) names(t *domain.Tenant) (managed []string, custom []domain.CustomDomain, err error) {
	return d.namesOf(t, t.Domains())
}

// namesOf is names for a given list of the tenant's domains.
func (d DNS) namesOf(t *domain.Tenant, domains []string) (managed []string, custom []domain.CustomDomain, err error) {
	host := domain.PlatformHost(t.Key(), d.Zone)
	zone, platform := d.fqdn(d.Zone), d.fqdn(host)
	managed = []string{platform}
	for _, domainName := range domains {
		name := d.fqdn(domainName)
		switch {
		case name == platform:
		case name == zone:
			return nil, nil, step.Permanent(fmt.Errorf("domain %s is the zone %s itself: it cannot be a tenant's CNAME", domainName, zone))
		case domain.ReservedIn(domainName, t.Key(), d.Zone):
			return nil, nil, step.Permanent(fmt.Errorf("domain %s is reserved: inside the zone a tenant has only %s and the names under it", domainName, host))
		case dns.IsSubDomain(zone, name):
			managed = append(managed, name)
		default:
			custom = append(custom, domain.CustomDomain{Domain: domainName, CNAME: host,
				TXTName: ownerName(domainName), TXTValue: d.mark(t)})
		}
	}
	return managed, custom, nil
}

// Do points the platform name and the tenant's domains inside the zone at
// the application's entry point. A customer's own domain outside the zone
// is not a failure: the outcome records the CNAME (to the platform name) and
// the TXT record the customer must create, for GET /tenants/{id}, the
// welcome mail and `tenantctl domains`.
func (d DNS) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	zone := d.fqdn(d.Zone)
	target, err := d.target(t)
	if err != nil {
		return step.Result{}, err
	}
	managed, custom, err := d.names(t)
	if err != nil {
		return step.Result{}, err
	}
	ttl := d.TTL
	if ttl == 0 {
		ttl = 300
	}
	res := step.Result{PlatformHost: domain.PlatformHost(t.Key(), d.Zone), CustomDomains: custom}
	for _, name := range managed {
		_, foreign, err := d.owner(ctx, t, name)
		if err != nil {
			return step.Result{}, err
		}
		if foreign {
			return step.Result{}, step.Foreign(name + " (records that are not this tenant's)")
		}
		cname, _ := dns.NewRR(fmt.Sprintf("%s %d IN CNAME %s", name, ttl, target))
		txt, _ := dns.NewRR(fmt.Sprintf(`%s %d IN TXT "%s"`, ownerName(name), ttl, d.mark(t)))
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.RemoveRRset([]dns.RR{cname, txt}) // replace, so a re-run converges
		m.Insert([]dns.RR{cname, txt})
		if err := d.update(ctx, m); err != nil {
			return step.Result{}, err
		}
		res.Resources = append(res.Resources, domain.Resource{Step: domain.StepDNS, Kind: "dns-cname",
			ID: strings.TrimSuffix(name, ".") + " -> " + strings.TrimSuffix(target, "."), Location: "dns://" + d.Server + "/" + strings.TrimSuffix(zone, ".")})
	}
	return res, nil
}

// Reconcile follows a domain change of an ACTIVE tenant: the records of
// the names it managed for the previous domains and no longer manages are
// removed (ours only), then Do points the current names again.
func (d DNS) Reconcile(ctx context.Context, t *domain.Tenant, previous []string) (step.Result, error) {
	managed, _, err := d.names(t)
	if err != nil {
		return step.Result{}, err
	}
	before, _, err := d.namesOf(t, previous)
	if err == nil {
		var dropped []string
		for _, name := range before {
			if !slices.Contains(managed, name) {
				dropped = append(dropped, name)
			}
		}
		if err := d.remove(ctx, t, dropped); err != nil {
			return step.Result{}, err
		}
	}
	return d.Do(ctx, t)
}

func (d DNS) Undo(ctx context.Context, t *domain.Tenant) error {
	managed, _, err := d.names(t)
	if err != nil {
		return nil // nothing was made: Do refuses the same names
	}
	if previous := t.UnfollowedDomains(); previous != nil { // a change not followed: the records may be the older names'
		if before, _, err := d.namesOf(t, previous); err == nil {
			managed = append(managed, before...)
		}
	}
	return d.remove(ctx, t, managed)
}

// remove deletes the records of names that carry the tenant's mark.
func (d DNS) remove(ctx context.Context, t *domain.Tenant, names []string) error {
	zone := d.fqdn(d.Zone)
	for _, name := range names {
		ours, _, err := d.owner(ctx, t, name)
		if err != nil {
			return err
		}
		if !ours {
			continue // gone already, or someone else's
		}
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.RemoveRRset([]dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}},
			&dns.TXT{Hdr: dns.RR_Header{Name: ownerName(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET}}})
		if err := d.update(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// DomainCheck is what a resolver says of a customer's own domain.
type DomainCheck struct {
	TenantID string `json:"tenantId"`
	Key      string `json:"key"`
	domain.CustomDomain
	Pointed bool     `json:"pointed"` // the CNAME answers with the platform name
	Proven  bool     `json:"proven"`  // the TXT record holds the tenant's mark
	Answer  []string `json:"answer"`  // what the CNAME query returned
	Error   string   `json:"error,omitempty"`
}

// OK reports whether the domain points at the tenant and is proven.
func (c DomainCheck) OK() bool { return c.Pointed && c.Proven }

// CheckCustomDomains asks resolver (host:port, recursion desired) whether
// each custom domain the tenant's dns step recorded now points at its
// platform name, and carries the ownership TXT record.
func CheckCustomDomains(ctx context.Context, resolver string, t *domain.Tenant) []DomainCheck {
	_, custom := t.Addressing()
	out := make([]DomainCheck, 0, len(custom))
	for _, cd := range custom {
		c := DomainCheck{TenantID: t.ID(), Key: t.Key(), CustomDomain: cd, Answer: []string{}}
		cnames, err := resolve(ctx, resolver, cd.Domain, dns.TypeCNAME)
		if err == nil {
			for _, rr := range cnames {
				target := strings.TrimSuffix(strings.ToLower(rr.(*dns.CNAME).Target), ".")
				c.Answer = append(c.Answer, target)
				c.Pointed = c.Pointed || target == strings.ToLower(cd.CNAME)
			}
			var txts []dns.RR
			if txts, err = resolve(ctx, resolver, cd.TXTName, dns.TypeTXT); err == nil {
				for _, rr := range txts {
					c.Proven = c.Proven || strings.Join(rr.(*dns.TXT).Txt, "") == cd.TXTValue
				}
			}
		}
		if err != nil {
			c.Error = err.Error()
		}
		out = append(out, c)
	}
	return out
}

// resolve asks a recursive resolver for name's records of type qtype.
func resolve(ctx context.Context, resolver, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(strings.ToLower(name)), qtype) // recursion desired
	in, _, err := (&dns.Client{Timeout: 5 * time.Second}).ExchangeContext(ctx, m, resolver)
	if err != nil {
		return nil, fmt.Errorf("ask %s for %s %s: %w", resolver, name, dns.TypeToString[qtype], err)
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("%s answered %s for %s %s", resolver, dns.RcodeToString[in.Rcode], name, dns.TypeToString[qtype])
	}
	var out []dns.RR
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, nil
}

func (d DNS) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	var out []domain.Resource
	managed, _, err := d.names(t)
	if err != nil {
		return nil, nil
	}
	for _, name := range managed {
		ours, _, err := d.owner(ctx, t, name)
		if err != nil {
			return nil, err
		}
		if !ours {
			continue
		}
		cnames, err := d.query(ctx, name, dns.TypeCNAME)
		if err != nil {
			return nil, err
		}
		for _, rr := range cnames {
			out = append(out, domain.Resource{Step: domain.StepDNS, Kind: "dns-cname",
				ID: strings.TrimSuffix(name, ".") + " -> " + strings.TrimSuffix(rr.(*dns.CNAME).Target, ".")})
		}
	}
	return out, nil
}
