package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// tenantUpdateCmd is PATCH /tenants/{id} (10205).
type tenantUpdateCmd struct {
	api
	Tenant       string   `arg:""`
	Name         string   `help:"The new name."`
	Contact      []string `help:"A contact as email:FirstName:LastName (repeatable); the list replaces the tenant's contacts."`
	Primary      string   `help:"The primary contact's email (default: the first --contact)."`
	Domain       []string `help:"A domain (repeatable); the list replaces the tenant's domains."`
	ClearDomains bool     `help:"Remove every domain."`
}

func (c tenantUpdateCmd) Run() error {
	body := map[string]any{}
	if c.Name != "" {
		body["name"] = c.Name
	}
	if len(c.Contact) > 0 {
		primary := c.Primary
		var contacts []map[string]any
		for i, raw := range c.Contact {
			parts := strings.SplitN(raw, ":", 3)
			if len(parts) != 3 {
				return fmt.Errorf("--contact %q: want email:FirstName:LastName", raw)
			}
			if primary == "" && i == 0 {
				primary = parts[0]
			}
			contacts = append(contacts, map[string]any{"email": parts[0], "firstName": parts[1], "lastName": parts[2],
				"primary": strings.EqualFold(parts[0], primary)})
		}
		body["contacts"] = contacts
	}
	switch {
	case c.ClearDomains:
		body["domains"] = []string{}
	case len(c.Domain) > 0:
		body["domains"] = c.Domain
	}
	return c.call(http.MethodPatch, "/tenants/"+url.PathEscape(c.Tenant), body)
}

// tenantConfigCmd is a tenant's configuration (10220–10223).
type tenantConfigCmd struct {
	List   configListCmd   `cmd:"" help:"Every key of a tenant's configuration (10221)."`
	Get    configGetCmd    `cmd:"" help:"One key (10221)."`
	Create configSetCmd    `cmd:"" help:"Create a key with a JSON value (10220)."`
	Update configUpdateCmd `cmd:"" help:"Give a key a new JSON value (10222)."`
	Delete configDeleteCmd `cmd:"" help:"Delete a key (10223)."`
}

type configListCmd struct {
	api
	Tenant string `arg:""`
}

func (c configListCmd) Run() error {
	return c.call(http.MethodGet, "/tenants/"+url.PathEscape(c.Tenant)+"/config", nil)
}

type configGetCmd struct {
	api
	Tenant string `arg:""`
	Key    string `arg:""`
}

func (c configGetCmd) Run() error {
	return c.call(http.MethodGet, "/tenants/"+url.PathEscape(c.Tenant)+"/config/"+url.PathEscape(c.Key), nil)
}

type configSetCmd struct {
	api
	Tenant string `arg:""`
	Key    string `arg:""`
	Value  string `arg:"" help:"A JSON value: '{\"beta\":true}', '42', '\"text\"'."`
}

func (c configSetCmd) Run() error {
	value, err := jsonArg(c.Value)
	if err != nil {
		return err
	}
	return c.call(http.MethodPost, "/tenants/"+url.PathEscape(c.Tenant)+"/config", map[string]any{"key": c.Key, "value": value})
}

type configUpdateCmd configSetCmd

func (c configUpdateCmd) Run() error {
	value, err := jsonArg(c.Value)
	if err != nil {
		return err
	}
	return c.call(http.MethodPut, "/tenants/"+url.PathEscape(c.Tenant)+"/config/"+url.PathEscape(c.Key), map[string]any{"value": value})
}

// jsonArg is a command-line argument that must be a JSON value.
func jsonArg(s string) (json.RawMessage, error) {
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("the value is not JSON (quote text: '\"text\"')")
	}
	return json.RawMessage(s), nil
}

type configDeleteCmd configGetCmd

func (c configDeleteCmd) Run() error {
	return c.call(http.MethodDelete, "/tenants/"+url.PathEscape(c.Tenant)+"/config/"+url.PathEscape(c.Key), nil)
}

// leadListCmd is GET /leads (10203).
type leadListCmd struct {
	api
	Limit  int    `default:"50"`
	Cursor string `help:"Continue from a previous page's next cursor."`
}

func (c leadListCmd) Run() error {
	q := url.Values{"limit": {strconv.Itoa(c.Limit)}}
	if c.Cursor != "" {
		q.Set("cursor", c.Cursor)
	}
	return c.call(http.MethodGet, "/leads?"+q.Encode(), nil)
}
