package pii

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/tenantflow/tenantflow/domain"
)

// WithoutPersonalData is a back end's error text as the log may keep it:
// every contact's email address and names replaced by "[personal data]".
// Step errors go to the topic, the analytics stream and backups, where
// erasure (destroying a person's key) cannot reach plain text.
func WithoutPersonalData(ctx context.Context, o Opener, t *domain.Tenant, text string) string {
	c, cs := t.Contact(), t.Contacts()
	if err := OpenContacts(ctx, o, &c, cs); err != nil {
		return "(the back end's error is not recorded: it could not be checked for personal data)"
	}
	var values []string
	for _, p := range append(cs, domain.TenantContact{Contact: c}) {
		for _, f := range ContactFields(&p.Contact) {
			if v := *f; len(v) >= 2 && v != Erased {
				values = append(values, regexp.QuoteMeta(v))
			}
		}
	}
	if len(values) == 0 {
		return text
	}
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) }) // the longest first: an address before a name in it
	return regexp.MustCompile(`(?i)`+strings.Join(values, "|")).ReplaceAllString(text, "[personal data]")
}
