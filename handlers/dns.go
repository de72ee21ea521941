package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/tenantflow/tenantflow/domain"
)

// DNS points each tenant domain at the application's entry point with RFC
// 2136 dynamic updates signed with TSIG, which BIND, PowerDNS, Knot and most
// managed DNS accept. Every domain gets a CNAME to the load balancer the
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
		return "", Permanent(errors.New("no CNAME target: the infrastructure reported no load_balancer and TENANTFLOW_DNS_TARGET is empty"))
	}
	return d.fqdn(d.Target), nil
}

// query asks the server for name's records of type qtype.
func (d DNS) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 5 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, d.Server)
	if err != nil {
		return nil, fmt.Errorf("query %s %s: %w", name, dns.TypeToString[qtype], err)
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("query %s: %s", name, dns.RcodeToString[in.Rcode])
	}
	var out []dns.RR
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, nil
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
		return Permanent(fmt.Errorf("dns update refused: %s", dns.RcodeToString[in.Rcode]))
	default:
		return fmt.Errorf("dns update: %s", dns.RcodeToString[in.Rcode])
	}
}

func (d DNS) Do(ctx context.Context, t *domain.Tenant) (Result, error) {
	zone := d.fqdn(d.Zone)
	target, err := d.target(t)
	if err != nil {
		return Result{}, err
	}
	ttl := d.TTL
	if ttl == 0 {
		ttl = 300
	}
	var res Result
	for _, domainName := range t.Domains() {
		name := d.fqdn(domainName)
		if !dns.IsSubDomain(zone, name) || name == zone {
			return Result{}, Permanent(fmt.Errorf("domain %s is not inside the zone %s this step manages", domainName, zone))
		}
		_, foreign, err := d.owner(ctx, t, name)
		if err != nil {
			return Result{}, err
		}
		if foreign {
			return Result{}, Permanent(fmt.Errorf("%s already has records that are not this tenant's: not touched", name))
		}
		cname, _ := dns.NewRR(fmt.Sprintf("%s %d IN CNAME %s", name, ttl, target))
		txt, _ := dns.NewRR(fmt.Sprintf(`%s %d IN TXT "%s"`, ownerName(name), ttl, d.mark(t)))
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.RemoveRRset([]dns.RR{cname, txt}) // replace, so a re-run converges
		m.Insert([]dns.RR{cname, txt})
		if err := d.update(ctx, m); err != nil {
			return Result{}, err
		}
		res.Resources = append(res.Resources, domain.Resource{Step: domain.StepDNS, Kind: "dns-cname",
			ID: strings.TrimSuffix(name, ".") + " -> " + strings.TrimSuffix(target, "."), Location: "dns://" + d.Server + "/" + strings.TrimSuffix(zone, ".")})
	}
	if len(res.Resources) == 0 {
		res.Skipped = true // no domains: nothing to point
	}
	return res, nil
}

func (d DNS) Undo(ctx context.Context, t *domain.Tenant) error {
	zone := d.fqdn(d.Zone)
	for _, domainName := range t.Domains() {
		name := d.fqdn(domainName)
		if !dns.IsSubDomain(zone, name) {
			continue
		}
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
