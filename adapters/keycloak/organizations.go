package keycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/Nerzal/gocloak/v13"
)

// Organization is Keycloak's organization representation (Keycloak 26),
// the fields tenantflow reads and writes. gocloak has no organization
// calls; these go through its HTTP client.
type Organization struct {
	ID          string               `json:"id,omitempty"`
	Name        string               `json:"name"`
	Alias       string               `json:"alias,omitempty"`
	Description string               `json:"description,omitempty"`
	Enabled     bool                 `json:"enabled"`
	Attributes  map[string][]string  `json:"attributes,omitempty"`
	Domains     []OrganizationDomain `json:"domains,omitempty"`
}

// OrganizationDomain is one of an organization's internet domains.
type OrganizationDomain struct {
	Name     string `json:"name"`
	Verified bool   `json:"verified"`
}

// Call sends one admin API request gocloak has no call for (endpoint:
// the path after the base URL): body (if any) as JSON, the answer into
// result (if any). A non-2xx answer is a *gocloak.APIError, as gocloak's
// own calls return, so callers classify both alike.
func (a *Admin) Call(ctx context.Context, token, method, endpoint string, body, result any) (*http.Response, error) {
	r := a.client.RestyClient().R().SetContext(ctx).SetAuthToken(token)
	if body != nil {
		r.SetHeader("Content-Type", "application/json").SetBody(body)
	}
	if result != nil {
		r.SetResult(result)
	}
	resp, err := r.Execute(method, a.baseURL+endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, endpoint, err)
	}
	if resp.IsError() {
		return resp.RawResponse, &gocloak.APIError{Code: resp.StatusCode(), Message: strings.TrimSpace(resp.String()), Type: gocloak.APIErrTypeUnknown}
	}
	return resp.RawResponse, nil
}

func orgsPath(realm string) string {
	return "/admin/realms/" + url.PathEscape(realm) + "/organizations"
}

// CreateRealmWithOrganizations creates realm rep with organizations
// enabled, a field gocloak's realm representation lacks.
func (a *Admin) CreateRealmWithOrganizations(ctx context.Context, token string, rep gocloak.RealmRepresentation) error {
	doc, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	var body map[string]any
	if err := json.Unmarshal(doc, &body); err != nil {
		return err
	}
	body["organizationsEnabled"] = true
	_, err = a.Call(ctx, token, http.MethodPost, "/admin/realms", body, nil)
	return err
}

// OrganizationByName finds realm's organization named exactly name; nil
// when there is none.
func (a *Admin) OrganizationByName(ctx context.Context, token, realm, name string) (*Organization, error) {
	var found []Organization
	q := url.Values{"search": {name}, "exact": {"true"}, "briefRepresentation": {"false"}}
	if _, err := a.Call(ctx, token, http.MethodGet, orgsPath(realm)+"?"+q.Encode(), nil, &found); err != nil {
		return nil, err
	}
	for i := range found {
		if found[i].Name == name {
			return &found[i], nil
		}
	}
	return nil, nil
}

// CreateOrganization creates org in realm and returns its id.
func (a *Admin) CreateOrganization(ctx context.Context, token, realm string, org Organization) (string, error) {
	resp, err := a.Call(ctx, token, http.MethodPost, orgsPath(realm), org, nil)
	if err != nil {
		return "", err
	}
	return path.Base(resp.Header.Get("Location")), nil
}

// UpdateOrganization replaces org (by its ID) in realm.
func (a *Admin) UpdateOrganization(ctx context.Context, token, realm string, org Organization) error {
	_, err := a.Call(ctx, token, http.MethodPut, orgsPath(realm)+"/"+url.PathEscape(org.ID), org, nil)
	return err
}

// DeleteOrganization deletes the organization id of realm. Keycloak removes
// its memberships with it (and the users it manages, which tenantflow
// never makes).
func (a *Admin) DeleteOrganization(ctx context.Context, token, realm, id string) error {
	_, err := a.Call(ctx, token, http.MethodDelete, orgsPath(realm)+"/"+url.PathEscape(id), nil, nil)
	return err
}

// AddOrganizationMember makes the user a member of the organization; a
// member already is one (Keycloak's 409 counts as done).
func (a *Admin) AddOrganizationMember(ctx context.Context, token, realm, orgID, userID string) error {
	_, err := a.Call(ctx, token, http.MethodPost, orgsPath(realm)+"/"+url.PathEscape(orgID)+"/members", userID, nil)
	if IsConflict(err) {
		return nil
	}
	return err
}

// RemoveOrganizationMember ends the user's membership; none is done.
func (a *Admin) RemoveOrganizationMember(ctx context.Context, token, realm, orgID, userID string) error {
	_, err := a.Call(ctx, token, http.MethodDelete, orgsPath(realm)+"/"+url.PathEscape(orgID)+"/members/"+url.PathEscape(userID), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// OrganizationMembers lists the organization's members, max at most.
func (a *Admin) OrganizationMembers(ctx context.Context, token, realm, orgID string, max int) ([]gocloak.User, error) {
	var users []gocloak.User
	q := url.Values{"first": {"0"}, "max": {fmt.Sprint(max)}}
	_, err := a.Call(ctx, token, http.MethodGet, orgsPath(realm)+"/"+url.PathEscape(orgID)+"/members?"+q.Encode(), nil, &users)
	return users, err
}

// IsOrganizationMember reports whether the user is a member of the
// organization.
func (a *Admin) IsOrganizationMember(ctx context.Context, token, realm, orgID, userID string) (bool, error) {
	_, err := a.Call(ctx, token, http.MethodGet, orgsPath(realm)+"/"+url.PathEscape(orgID)+"/members/"+url.PathEscape(userID), nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// MemberOrganizations lists the organizations the user is a member of.
func (a *Admin) MemberOrganizations(ctx context.Context, token, realm, userID string) ([]Organization, error) {
	var orgs []Organization
	_, err := a.Call(ctx, token, http.MethodGet, orgsPath(realm)+"/members/"+url.PathEscape(userID)+"/organizations?briefRepresentation=true", nil, &orgs)
	return orgs, err
}

// CountOrganizations is the number of organizations of realm.
func (a *Admin) CountOrganizations(ctx context.Context, token, realm string) (int, error) {
	var n int
	_, err := a.Call(ctx, token, http.MethodGet, orgsPath(realm)+"/count", nil, &n)
	return n, err
}

// IsConflict reports whether err is Keycloak's 409.
func IsConflict(err error) bool {
	var apiErr *gocloak.APIError
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusConflict
}
