// Package notify sends the tenant's mails: the welcome after activation, the
// failure notice after a rollback, the admin's set-password link and the
// warnings of a subscription's expiry, by SMTP or through Novu.
package notify

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/platform/pii"
)

//go:embed templates/*.txt
var templateFiles embed.FS

var templates = template.Must(template.ParseFS(templateFiles, "templates/*.txt"))

// Mailer sends one plain-text mail (adapters/smtp).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Links are the addresses the welcome mail gives the tenant's admin.
type Links struct {
	KeycloakURL string // public base URL of Keycloak: the login link is its account page of the realm
	// SharedRealm is the realm of the organization model's tenants, whose
	// login link is the shared realm's account page.
	SharedRealm    string
	AdminPortalURL string
	SupportEmail   string
}

// WelcomeData is what the welcome template (and Novu's tenant-welcome) gets.
type WelcomeData struct {
	TenantID       string `json:"tenantId"`
	TenantName     string `json:"tenantName"`
	FirstName      string `json:"firstName"`
	LastName       string `json:"lastName"`
	AppPlaneURL    string `json:"appPlaneUrl"`
	AdminPortalURL string `json:"adminPortalUrl"`
	LoginURL       string `json:"loginUrl"`
	SupportEmail   string `json:"supportEmail"`
	// CustomDomains are the customer's own domains with the records the
	// customer must create (a CNAME to the platform name, a TXT proving
	// ownership); AppPlaneURL is the platform name, which works at once.
	CustomDomains []domain.CustomDomain `json:"customDomains,omitempty"`
}

// FailureData is what the failure template (and Novu's
// tenant-provisioning-failed) gets: the replaced system's fields, in words
// meant for the customer. The back end's own error (OpenTofu's output, an
// SQL error) stays in the tenant's history and the logs, for operators.
type FailureData struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	FirstName  string `json:"firstName"`
	// Error says what could not be done, and whether anything is left.
	Error string `json:"error"`
	// FailedStep names the step as the customer would ("your database").
	FailedStep string `json:"failedStep"`
	// LeftForOperator: some undo failed, and what it made is still there
	// (the tenant's orphans) until an operator removes it.
	LeftForOperator bool   `json:"leftForOperator"`
	SupportEmail    string `json:"supportEmail"`
}

// stepWords names each step as a customer understands it.
var stepWords = map[string]string{
	domain.StepIdentity:       "your sign-in service",
	domain.StepAdminUser:      "your administrator account",
	domain.StepDatabase:       "your database",
	domain.StepStorage:        "your file storage",
	domain.StepInfrastructure: "your dedicated infrastructure",
	domain.StepDeploy:         "your application",
	domain.StepDNS:            "your web address",
	domain.StepResources:      "the final checks",
	domain.StepActivate:       "the final checks",
}

// StepInWords is step as the failure notice names it.
func StepInWords(step string) string {
	if w, ok := stepWords[step]; ok {
		return w
	}
	return "the setup"
}

func (l Links) welcome(t *domain.Tenant) WelcomeData {
	d := WelcomeData{TenantID: t.ID(), TenantName: t.Name(), FirstName: t.Contact().FirstName, LastName: t.Contact().LastName,
		AdminPortalURL: l.AdminPortalURL, SupportEmail: l.SupportEmail,
		LoginURL: strings.TrimRight(l.KeycloakURL, "/") + "/realms/" + l.realm(t) + "/account"}
	platform, custom := t.Addressing()
	d.CustomDomains = custom
	switch domains := t.Domains(); {
	case platform != "":
		d.AppPlaneURL = "https://" + platform
	case len(domains) > 0:
		d.AppPlaneURL = "https://" + domains[0]
	}
	return d
}

// SetPasswordData is what the set-password template (and Novu's
// tenant-set-password) gets. The link is Keycloak's action token: it goes
// to the admin and nowhere else (no log, no event).
type SetPasswordData struct {
	TenantID       string `json:"tenantId"`
	TenantName     string `json:"tenantName"`
	FirstName      string `json:"firstName"`
	LastName       string `json:"lastName"`
	SetPasswordURL string `json:"setPasswordUrl"`
	SupportEmail   string `json:"supportEmail"`
}

func (l Links) setPassword(t *domain.Tenant, link string) SetPasswordData {
	return SetPasswordData{TenantID: t.ID(), TenantName: t.Name(), FirstName: t.Contact().FirstName, LastName: t.Contact().LastName,
		SetPasswordURL: link, SupportEmail: l.SupportEmail}
}

func (l Links) failure(t *domain.Tenant) FailureData {
	step, _, _ := t.FailedStep()
	d := FailureData{TenantID: t.ID(), TenantName: t.Name(), FirstName: t.Contact().FirstName,
		FailedStep: StepInWords(step), LeftForOperator: len(t.Orphans()) > 0, SupportEmail: l.SupportEmail}
	d.Error = "we could not set up " + d.FailedStep + ", and everything made on the way has been removed again."
	if d.LeftForOperator {
		d.Error = "we could not set up " + d.FailedStep + ". Some of what was made on the way could not be removed " +
			"automatically; our operators have been told and will remove it."
	}
	return d
}

// ExpiryWarningData is what the expiry-warning template (and Novu's
// tenant-expiry-warning) gets: Stage (domain.ExpirySuspension or
// ExpiryOffboarding) is due at DueAt (RFC 3339, UTC) because the
// subscription ended on EndDate.
type ExpiryWarningData struct {
	TenantID     string `json:"tenantId"`
	TenantName   string `json:"tenantName"`
	FirstName    string `json:"firstName"`
	Stage        string `json:"stage"`
	EndDate      string `json:"endDate"`
	DueDate      string `json:"dueDate"`
	DueAt        string `json:"dueAt"`
	SupportEmail string `json:"supportEmail"`
}

func (l Links) expiryWarning(t *domain.Tenant, stage string, dueAt time.Time) ExpiryWarningData {
	sub, _ := t.Subscription()
	return ExpiryWarningData{TenantID: t.ID(), TenantName: t.Name(), FirstName: t.Contact().FirstName, Stage: stage,
		EndDate: sub.EndDate.UTC().Format(time.DateOnly), DueDate: dueAt.UTC().Format(time.DateOnly), DueAt: dueAt.UTC().Format(time.RFC3339),
		SupportEmail: l.SupportEmail}
}

// MailNotifier sends the tenant's mails over SMTP from the templates in
// handlers/templates (first line "Subject: ...", then the body).
type MailNotifier struct {
	Mailer Mailer
	Links  Links
	// Personal opens the recipient's sealed address and names (nil: not sealed).
	Personal pii.Opener
}

func (n MailNotifier) Welcome(ctx context.Context, t *domain.Tenant) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.send(ctx, t.Contact().Email, "welcome.txt", n.Links.welcome(t))
}

func (n MailNotifier) Failure(ctx context.Context, t *domain.Tenant) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.send(ctx, t.Contact().Email, "failure.txt", n.Links.failure(t))
}

func (n MailNotifier) SetPassword(ctx context.Context, t *domain.Tenant, link string) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.send(ctx, t.Contact().Email, "set-password.txt", n.Links.setPassword(t, link))
}

// ExpiryWarning warns the tenant's contact that stage of its
// subscription's expiry is due at dueAt (app.Lifecycle).
func (n MailNotifier) ExpiryWarning(ctx context.Context, t *domain.Tenant, stage string, dueAt time.Time) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.send(ctx, t.Contact().Email, "expiry-warning.txt", n.Links.expiryWarning(t, stage, dueAt))
}

func (n MailNotifier) send(ctx context.Context, to, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return step.Permanent(fmt.Errorf("template %s: %w", name, err))
	}
	first, body, _ := strings.Cut(buf.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok {
		return step.Permanent(fmt.Errorf("template %s does not start with a Subject line", name))
	}
	return n.Mailer.Send(ctx, to, subject, strings.TrimLeft(body, "\n"))
}

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
func NovuSubscriberID(t *domain.Tenant) string { return novuSubscriberID(t.ID(), t.Contact().Email) }

func novuSubscriberID(tenantID, email string) string {
	return "tenant-" + tenantID + "-" + strings.NewReplacer("@", "_", ".", "_").Replace(email)
}

// ForgetPerson deletes the Novu subscriber the person was for each of the
// tenants (an erasure): Novu keeps the address, the names and the id that
// spells the address. A subscriber Novu does not have is nothing to do.
func (n Novu) ForgetPerson(ctx context.Context, email string, tenants []*domain.Tenant) ([]string, error) {
	var done []string
	for _, t := range tenants {
		id := t.ID()
		subscriber := novuSubscriberID(id, email)
		resp, err := n.send(ctx, http.MethodDelete, "/v1/subscribers/"+url.PathEscape(subscriber), nil)
		if err != nil {
			return done, fmt.Errorf("novu: delete the subscriber of tenant %s: %w", id, err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			done = append(done, "Novu subscriber of tenant "+id)
		case resp.StatusCode == http.StatusNotFound:
		default:
			return done, fmt.Errorf("novu: delete the subscriber of tenant %s: HTTP %d", id, resp.StatusCode)
		}
	}
	return done, nil
}

func (n Novu) Welcome(ctx context.Context, t *domain.Tenant) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.trigger(ctx, "tenant-welcome", t, n.Links.welcome(t))
}

func (n Novu) Failure(ctx context.Context, t *domain.Tenant) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.trigger(ctx, "tenant-provisioning-failed", t, n.Links.failure(t))
}

func (n Novu) SetPassword(ctx context.Context, t *domain.Tenant, link string) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.trigger(ctx, "tenant-set-password", t, n.Links.setPassword(t, link))
}

// ExpiryWarning triggers Novu's tenant-expiry-warning (app.Lifecycle).
func (n Novu) ExpiryWarning(ctx context.Context, t *domain.Tenant, stage string, dueAt time.Time) error {
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.trigger(ctx, "tenant-expiry-warning", t, n.Links.expiryWarning(t, stage, dueAt))
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
	t, err := pii.OpenTenant(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	c := t.Contact()
	body, err := json.Marshal(novuTrigger{Name: workflow, Payload: payload,
		To: novuSubscriber{SubscriberID: NovuSubscriberID(t), Email: c.Email, FirstName: c.FirstName, LastName: c.LastName}})
	if err != nil {
		return step.Permanent(err)
	}
	resp, err := n.send(ctx, http.MethodPost, "/v1/events/trigger", body)
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
		return step.Permanent(fmt.Errorf("novu %s: HTTP %d: %s", workflow, resp.StatusCode, detail))
	}
}

// send makes one call to Novu's API with the key (body, if any, as JSON).
func (n Novu) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(n.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, step.Permanent(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "ApiKey "+n.APIKey)
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return client.Do(req)
}

// realm is the realm the tenant's admin signs in to.
func (l Links) realm(t *domain.Tenant) string {
	if t.Identity() == domain.IdentityOrganization && l.SharedRealm != "" {
		return l.SharedRealm
	}
	return t.RealmName()
}
