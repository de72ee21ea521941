package handlers

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/internal/pii"
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
	KeycloakURL    string // public base URL of Keycloak: the login link is its account page of the realm
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
		LoginURL: strings.TrimRight(l.KeycloakURL, "/") + "/realms/" + RealmName(t) + "/account"}
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

// MailNotifier sends the tenant's mails over SMTP from the templates in
// handlers/templates (first line "Subject: ...", then the body).
type MailNotifier struct {
	Mailer Mailer
	Links  Links
	// Personal opens the recipient's sealed address and names (nil: not sealed).
	Personal pii.Opener
}

func (n MailNotifier) Welcome(ctx context.Context, t *domain.Tenant) error {
	t, err := opened(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.send(ctx, t.Contact().Email, "welcome.txt", n.Links.welcome(t))
}

func (n MailNotifier) Failure(ctx context.Context, t *domain.Tenant) error {
	t, err := opened(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.send(ctx, t.Contact().Email, "failure.txt", n.Links.failure(t))
}

func (n MailNotifier) SetPassword(ctx context.Context, t *domain.Tenant, link string) error {
	t, err := opened(ctx, n.Personal, t)
	if err != nil {
		return err
	}
	return n.send(ctx, t.Contact().Email, "set-password.txt", n.Links.setPassword(t, link))
}

func (n MailNotifier) send(ctx context.Context, to, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return Permanent(fmt.Errorf("template %s: %w", name, err))
	}
	first, body, _ := strings.Cut(buf.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok {
		return Permanent(fmt.Errorf("template %s does not start with a Subject line", name))
	}
	return n.Mailer.Send(ctx, to, subject, strings.TrimLeft(body, "\n"))
}
