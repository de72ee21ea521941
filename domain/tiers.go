package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Isolation models: how much of the platform a tenant shares. silo and
// bridge get infrastructure of their own; pooled shares what exists.
const (
	IsolationSilo   = "silo"
	IsolationBridge = "bridge"
	IsolationPooled = "pooled"
)

// IsolationModels lists every isolation model.
var IsolationModels = []string{IsolationSilo, IsolationBridge, IsolationPooled}

// Identity models: where a tenant's users live in Keycloak. realm gives the
// tenant a realm of its own (its own keys, login flows and admin console:
// silo customers); organization makes it an organization in the platform's
// shared realm (thousands of small tenants: Keycloak slows with every realm
// it holds, not with organizations).
const (
	IdentityRealm        = "realm"
	IdentityOrganization = "organization"
)

// IdentityModels lists every identity model.
var IdentityModels = []string{IdentityRealm, IdentityOrganization}

// Tier is what a plan tier decides: its isolation model and its identity
// model.
type Tier struct {
	Isolation string
	Identity  string
}

// Tiers maps plan tier names, which are the operator's own (enterprise,
// standard, basic, ...), onto isolation and identity models. A provisioning
// request names a tier; the models it maps to are recorded in the request's
// event, so the log says what was decided even after the operator's
// catalogue changes.
type Tiers map[string]Tier

// ARC's plan tiers, spelled as its clients send them.
const (
	TierPremium  = "PREMIUM"
	TierStandard = "STANDARD"
	TierBasic    = "BASIC"
)

// DefaultTiers is the catalogue when none is configured: each isolation
// model is a tier of its own name, and ARC's three tiers map onto them
// (PREMIUM silo, STANDARD bridge, BASIC pooled), all with a realm a
// tenant: organizations need the shared realm configured
// (docs/identity.md), and a default must work on its own.
var DefaultTiers = Tiers{
	IsolationSilo:   {IsolationSilo, IdentityRealm},
	IsolationBridge: {IsolationBridge, IdentityRealm},
	IsolationPooled: {IsolationPooled, IdentityRealm},
	TierPremium:     {IsolationSilo, IdentityRealm},
	TierStandard:    {IsolationBridge, IdentityRealm},
	TierBasic:       {IsolationPooled, IdentityRealm},
}

// ParseTiers reads "enterprise=silo,standard=bridge:organization" (the
// configuration's form: tier=isolation[:identity]) and checks every model;
// a tier without an identity model has a realm a tenant, as before identity
// models existed. An empty string gives DefaultTiers.
func ParseTiers(spec string) (Tiers, error) {
	if strings.TrimSpace(spec) == "" {
		return maps.Clone(DefaultTiers), nil
	}
	out := Tiers{}
	var bad []string
	for part := range strings.SplitSeq(spec, ",") {
		name, models, ok := strings.Cut(strings.TrimSpace(part), "=")
		isolation, identity, _ := strings.Cut(models, ":")
		name, isolation, identity = strings.TrimSpace(name), strings.TrimSpace(isolation), strings.TrimSpace(identity)
		if identity == "" {
			identity = IdentityRealm
		}
		_, named := out[name]
		switch {
		case !ok || name == "":
			bad = append(bad, fmt.Sprintf("%q is not tier=isolation[:identity]", part))
		case !slices.Contains(IsolationModels, isolation):
			bad = append(bad, fmt.Sprintf("tier %s: %q is not an isolation model (%s)", name, isolation, strings.Join(IsolationModels, ", ")))
		case !slices.Contains(IdentityModels, identity):
			bad = append(bad, fmt.Sprintf("tier %s: %q is not an identity model (%s)", name, identity, strings.Join(IdentityModels, ", ")))
		case named:
			bad = append(bad, fmt.Sprintf("tier %s is named twice", name))
		default:
			out[name] = Tier{Isolation: isolation, Identity: identity}
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return out, nil
}

// Names are the tier names, sorted.
func (t Tiers) Names() []string { return slices.Sorted(maps.Keys(t)) }
