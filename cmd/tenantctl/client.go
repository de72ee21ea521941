package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// api is what every command that talks to tenantd's REST API shares.
type api struct {
	URL            string        `default:"http://127.0.0.1:14000" env:"TENANTCTL_URL" help:"Base URL of tenantd."`
	Token          string        `env:"TENANTCTL_TOKEN" help:"Bearer token; default: the one tenantctl login keeps (refreshed when it expires)."`
	TokenFile      string        `env:"TENANTCTL_TOKEN_FILE" help:"Where tenantctl login keeps the token."`
	IdempotencyKey string        `help:"Idempotency-Key for a POST: repeating the command with the same key and body does the work once."`
	Timeout        time.Duration `default:"30s" help:"How long to wait for tenantd."`
}

// call sends one request and prints the JSON answer, indented, to stdout.
// A problem answer (HTTP 4xx/5xx) becomes the error, with its detail.
func (a api) call(method, path string, body any) error {
	out, err := a.request(method, path, body)
	if out != nil {
		fmt.Println(string(out))
	}
	return err
}

func (a api) request(method, path string, body any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout)
	defer cancel()
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.URL, "/")+path, reader)
	if err != nil {
		return nil, fmt.Errorf("bad --url: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token := a.Token
	if token == "" {
		if token, err = keptToken(ctx, a.TokenFile); err != nil {
			return nil, err
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if a.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", a.IdempotencyKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tenantd at %s does not answer: %w", a.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		var p struct {
			Title, Detail string
			Errors        map[string]string
			TenantID      string
		}
		_ = json.Unmarshal(raw, &p)
		msg := fmt.Sprintf("HTTP %d %s: %s", resp.StatusCode, p.Title, p.Detail)
		for f, e := range p.Errors {
			msg += fmt.Sprintf("\n  %s: %s", f, e)
		}
		if p.TenantID != "" {
			msg += "\n  tenant: " + p.TenantID
		}
		return nil, fmt.Errorf("%s", msg)
	}
	var pretty any
	if json.Unmarshal(raw, &pretty) == nil {
		raw, _ = json.MarshalIndent(pretty, "", "  ")
	}
	return raw, nil
}

type leadCmd struct {
	Create leadCreateCmd `cmd:"" help:"Sign up (POST /leads); tenantd mails the verification token."`
	Verify leadVerifyCmd `cmd:"" help:"Spend the mailed token; print the lead's short-lived token."`
	Tenant leadTenantCmd `cmd:"" help:"Create the lead's tenant with the lead's token (or a 10204 token)."`
	Get    leadGetCmd    `cmd:"" help:"Show a lead (10203)."`
	List   leadListCmd   `cmd:"" help:"List leads, oldest first, a page at a time (10203)."`
}

type leadCreateCmd struct {
	api
	FirstName string `required:""`
	LastName  string `required:""`
	Email     string `required:""`
	Company   string `required:""`
	Address   string
}

func (c leadCreateCmd) Run() error {
	return c.call(http.MethodPost, "/leads", map[string]string{"firstName": c.FirstName, "lastName": c.LastName,
		"email": c.Email, "companyName": c.Company, "address": c.Address})
}

type leadVerifyCmd struct {
	api
	Lead        string `arg:"" help:"Lead id."`
	MailedToken string `name:"mailed-token" required:"" help:"The one-time token from the verification mail."`
}

// Run prints only the token, so that it can be captured: TOKEN=$(tenantctl lead verify ...).
func (c leadVerifyCmd) Run() error {
	out, err := c.request(http.MethodPost, "/leads/"+url.PathEscape(c.Lead)+"/verify", map[string]string{"token": c.MailedToken})
	if err != nil {
		return err
	}
	var v struct{ Token string }
	if err := json.Unmarshal(out, &v); err != nil || v.Token == "" {
		return fmt.Errorf("unexpected answer: %s", out)
	}
	fmt.Println(v.Token)
	return nil
}

type leadTenantCmd struct {
	api
	Lead    string   `arg:"" help:"Lead id."`
	Key     string   `required:"" help:"Tenant key: a-z then up to 9 of a-z, 0-9."`
	Name    string   `help:"Tenant name (default: the lead's company)."`
	Domains []string `name:"domain" help:"A domain of the tenant (repeatable)."`
}

func (c leadTenantCmd) Run() error {
	return c.call(http.MethodPost, "/leads/"+url.PathEscape(c.Lead)+"/tenants",
		map[string]any{"key": c.Key, "name": c.Name, "domains": c.Domains})
}

type leadGetCmd struct {
	api
	Lead string `arg:""`
}

func (c leadGetCmd) Run() error { return c.call(http.MethodGet, "/leads/"+url.PathEscape(c.Lead), nil) }

type tenantCmd struct {
	Create    tenantCreateCmd    `cmd:"" help:"Create a tenant as an operator (10204)."`
	Provision tenantProvisionCmd `cmd:"" help:"Start provisioning with a subscription (10216)."`
	Get       tenantGetCmd       `cmd:"" help:"Show a tenant (10207)."`
	List      tenantListCmd      `cmd:"" help:"List tenants (10207)."`
	Events    tenantEventsCmd    `cmd:"" help:"Show a tenant's event history (10207)."`
	Resources tenantResourcesCmd `cmd:"" help:"List the resources a tenant's steps made (10207)."`
	Update    tenantUpdateCmd    `cmd:"" help:"Change a tenant's name, contacts or domains (10205)."`
	Config    tenantConfigCmd    `cmd:"" help:"A tenant's configuration: key → JSON value (10220–10223)."`
}

type tenantCreateCmd struct {
	api
	Key       string   `required:""`
	Name      string   `required:""`
	Email     string   `required:"" help:"Contact email."`
	FirstName string   `required:"" help:"Contact first name."`
	LastName  string   `required:"" help:"Contact last name."`
	Domains   []string `name:"domain" help:"A domain of the tenant (repeatable)."`
}

func (c tenantCreateCmd) Run() error {
	return c.call(http.MethodPost, "/tenants", map[string]any{"key": c.Key, "name": c.Name, "domains": c.Domains,
		"contact": map[string]string{"email": c.Email, "firstName": c.FirstName, "lastName": c.LastName}})
}

type tenantProvisionCmd struct {
	api
	Tenant       string `arg:""`
	Subscription string `required:"" type:"existingfile" help:"File holding the subscription JSON (see the README)."`
}

func (c tenantProvisionCmd) Run() error {
	raw, err := os.ReadFile(c.Subscription)
	if err != nil {
		return err
	}
	var sub json.RawMessage
	if err := json.Unmarshal(raw, &sub); err != nil {
		return fmt.Errorf("%s is not JSON: %w", c.Subscription, err)
	}
	return c.call(http.MethodPost, "/tenants/"+url.PathEscape(c.Tenant)+"/provision", sub)
}

type tenantGetCmd struct {
	api
	Tenant string `arg:""`
}

func (c tenantGetCmd) Run() error {
	return c.call(http.MethodGet, "/tenants/"+url.PathEscape(c.Tenant), nil)
}

type tenantListCmd struct {
	api
	Status    string `help:"Only this status, e.g. ACTIVE."`
	KeyPrefix string `help:"Only keys starting with this."`
	Limit     int    `default:"50"`
	Cursor    string `help:"Continue from a previous page's next cursor."`
}

func (c tenantListCmd) Run() error {
	q := url.Values{"limit": {strconv.Itoa(c.Limit)}}
	for k, v := range map[string]string{"status": c.Status, "keyPrefix": c.KeyPrefix, "cursor": c.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return c.call(http.MethodGet, "/tenants?"+q.Encode(), nil)
}

type tenantEventsCmd struct {
	api
	Tenant string `arg:""`
	After  int    `help:"Continue after this stream version."`
	Limit  int    `default:"100"`
}

func (c tenantEventsCmd) Run() error {
	return c.call(http.MethodGet, fmt.Sprintf("/tenants/%s/events?after=%d&limit=%d", url.PathEscape(c.Tenant), c.After, c.Limit), nil)
}

type tenantResourcesCmd struct {
	api
	Tenant string `arg:""`
	JSON   bool   `name:"json" help:"Print them as JSON."`
}

func (c tenantResourcesCmd) Run() error {
	raw, err := c.request(http.MethodGet, "/tenants/"+url.PathEscape(c.Tenant), nil)
	if err != nil {
		return err
	}
	var t struct {
		Resources []struct {
			Step, Kind, ID, Location, TenantID string
			CreatedAt                          time.Time
		} `json:"resources"`
		Orphans []struct{ Step, Kind, ID string } `json:"orphans"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return err
	}
	if c.JSON {
		out, _ := json.MarshalIndent(t, "", "  ")
		fmt.Println(string(out))
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STEP\tTYPE\tID\tLOCATION\tCREATED")
	for _, r := range t.Resources {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Step, r.Kind, r.ID, r.Location, r.CreatedAt.Format(time.RFC3339))
	}
	for _, o := range t.Orphans {
		fmt.Fprintf(w, "%s\t%s\t%s\tORPHANED: remove by hand\t\n", o.Step, o.Kind, o.ID)
	}
	return w.Flush()
}
