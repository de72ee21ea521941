package billing

import (
	"errors"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/testkit/stripetest"
)

func delivery(secret, typ, status, tenant string, at time.Time) ([]byte, string) {
	return stripetest.Delivery(secret, "evt_1", typ, "sub_1", status, tenant, at)
}

// A delivery is trusted only with the endpoint's signature, fresh; only a
// tenantflow subscription's move to unpaid or back to active is a notice.
func TestStripeNotices(t *testing.T) {
	n := StripeNotices{Secret: "whsec_test"}
	now := time.Now()
	for name, tt := range map[string]struct {
		secret, typ, status, tenant string
		at                          time.Time
		want                        domain.BillingNotice
		ok                          bool
		err                         error
	}{
		"unpaid": {"whsec_test", "customer.subscription.updated", "unpaid", "t1", now,
			domain.BillingNotice{EventID: "evt_1", SubscriptionID: "sub_1", TenantID: "t1", Standing: domain.BillingUnpaid}, true, nil},
		"active again": {"whsec_test", "customer.subscription.updated", "active", "t1", now,
			domain.BillingNotice{EventID: "evt_1", SubscriptionID: "sub_1", TenantID: "t1", Standing: domain.BillingPaid}, true, nil},
		"past due, Stripe still retrying": {"whsec_test", "customer.subscription.updated", "past_due", "t1", now, domain.BillingNotice{}, false, nil},
		"another event type":              {"whsec_test", "customer.subscription.created", "unpaid", "t1", now, domain.BillingNotice{}, false, nil},
		"not a tenantflow subscription":   {"whsec_test", "customer.subscription.updated", "unpaid", "", now, domain.BillingNotice{}, false, nil},
		"signed with another secret":      {"whsec_other", "customer.subscription.updated", "unpaid", "t1", now, domain.BillingNotice{}, false, ErrNotVerified},
		"replayed after the five minutes": {"whsec_test", "customer.subscription.updated", "unpaid", "t1", now.Add(-10 * time.Minute), domain.BillingNotice{}, false, ErrNotVerified},
	} {
		payload, sig := delivery(tt.secret, tt.typ, tt.status, tt.tenant, tt.at)
		got, ok, err := n.Notice(payload, sig)
		if got != tt.want || ok != tt.ok || !errors.Is(err, tt.err) {
			t.Errorf("%s: %+v %v %v, want %+v %v %v", name, got, ok, err, tt.want, tt.ok, tt.err)
		}
	}
	payload, sig := delivery("whsec_test", "customer.subscription.updated", "unpaid", "t1", now)
	if _, _, err := n.Notice(append(payload[:len(payload)-1:len(payload)-1], ` `...), sig); !errors.Is(err, ErrNotVerified) {
		t.Errorf("a changed body: %v", err)
	}
}
