package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/pii"
)

// Novu sends the tenant's mails through Novu's event trigger API instead of
// SMTP (TENANTFLOW_NOTIFIER=novu): workflows tenant-welcome,
// tenant-provisioning-failed and tenant-set-password (the admin's
// set-password link, when Keycloak cannot mail it), one subscriber per
// tenant admin.
type Novu struct {
	BaseURL string // e.g. https://api.novu.co
	APIKey  string
	Links   Links
	Client  *http.Client // default: 10 s timeout
	// Personal opens the subscriber's sealed address and names (nil: not sealed).
	Personal pii.Opener
}

// NovuSubscriberID is tenant-<tenantId>-<email with @ and . as _>.
func NovuSubscriberID(t *domain.Tenant) string {
	return "tenant-" + t.ID() + "-" + strings.NewReplacer("@", "_", ".", "_").Replace(t.Contact().Email)
}

func (n Novu) Welcome(ctx context.Context, t *domain.Tenant) error {
	t, err := opened(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.trigger(ctx, "tenant-welcome", t, n.Links.welcome(t))
}

func (n Novu) Failure(ctx context.Context, t *domain.Tenant) error {
	t, err := opened(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.trigger(ctx, "tenant-provisioning-failed", t, n.Links.failure(t))
}

func (n Novu) SetPassword(ctx context.Context, t *domain.Tenant, link string) error {
	t, err := opened(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.trigger(ctx, "tenant-set-password", t, n.Links.setPassword(t, link))
}

type novuTrigger struct {
	Name    string         `json:"name"`
	To      novuSubscriber `json:"to"`
	Payload any            `json:"payload"`
}

type novuSubscriber struct {
	SubscriberID string `json:"subscriberId"`
	Email        string `json:"email"`
	FirstName    string `json:"firstName"`
	LastName     string `json:"lastName"`
}

// trigger posts one event. 5xx, 429 and network errors are retried by the
// step; other 4xx are permanent (a wrong key or an unknown workflow).
func (n Novu) trigger(ctx context.Context, workflow string, t *domain.Tenant, payload any) error {
	t, err := opened(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	c := t.Contact()
	body, err := json.Marshal(novuTrigger{Name: workflow, Payload: payload,
		To: novuSubscriber{SubscriberID: NovuSubscriberID(t), Email: c.Email, FirstName: c.FirstName, LastName: c.LastName}})
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(n.BaseURL, "/")+"/v1/events/trigger", bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "ApiKey "+n.APIKey)
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("novu %s: %w", workflow, err)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("novu %s: HTTP %d: %s", workflow, resp.StatusCode, detail)
	default:
		return Permanent(fmt.Errorf("novu %s: HTTP %d: %s", workflow, resp.StatusCode, detail))
	}
}
