package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// loginCmd gets an operator's token from the identity provider — the
// operators' realm of Keycloak — and keeps it for the other commands:
// people by the OAuth 2.0 device authorization grant (open a link, sign
// in, confirm), scripts by the client credentials grant. Nothing in
// tenantflow mints admin tokens; `tenantctl token` stays for development.
type loginCmd struct {
	Issuer            string        `required:"" env:"TENANTCTL_ISSUER" help:"OpenID issuer of the operators' realm (the dev stack's: http://127.0.0.1:8080/realms/tenantflow-operators)."`
	ClientID          string        `env:"TENANTCTL_CLIENT_ID" help:"OAuth client: tenantctl for people, tenantflow-ci for --client-credentials (the defaults)."`
	ClientCredentials bool          `help:"For scripts: the client credentials grant with TENANTCTL_CLIENT_SECRET instead of a person's sign-in."`
	ClientSecret      string        `env:"TENANTCTL_CLIENT_SECRET" help:"The script client's secret (--client-credentials); never kept on disk."`
	TokenFile         string        `env:"TENANTCTL_TOKEN_FILE" help:"Where the token is kept (default: tenantctl/token.json in the user's configuration folder)."`
	Wait              time.Duration `default:"10m" help:"How long to wait for the sign-in in the browser."`
}

// session is what login keeps: the token, and where to refresh it.
type session struct {
	Issuer   string        `json:"issuer"`
	ClientID string        `json:"clientId"`
	TokenURL string        `json:"tokenUrl"`
	Token    *oauth2.Token `json:"token"`
}

func (c loginCmd) Run() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Wait)
	defer cancel()
	return c.run(ctx, os.Stdout)
}

func (c loginCmd) run(ctx context.Context, out io.Writer) error {
	provider, err := discover(ctx, c.Issuer)
	if err != nil {
		return err
	}
	s := session{Issuer: c.Issuer, ClientID: c.ClientID, TokenURL: provider.TokenEndpoint}
	if c.ClientCredentials {
		if s.ClientID == "" {
			s.ClientID = "tenantflow-ci"
		}
		if c.ClientSecret == "" {
			return errors.New("--client-credentials needs the client's secret in TENANTCTL_CLIENT_SECRET")
		}
		cc := clientcredentials.Config{ClientID: s.ClientID, ClientSecret: c.ClientSecret, TokenURL: provider.TokenEndpoint}
		if s.Token, err = cc.Token(ctx); err != nil {
			return fmt.Errorf("client credentials refused: %w", err)
		}
	} else {
		if s.ClientID == "" {
			s.ClientID = "tenantctl"
		}
		if provider.DeviceEndpoint == "" {
			return fmt.Errorf("%s offers no device authorization endpoint", c.Issuer)
		}
		cfg := oauth2.Config{ClientID: s.ClientID, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{TokenURL: provider.TokenEndpoint, DeviceAuthURL: provider.DeviceEndpoint}}
		da, err := cfg.DeviceAuth(ctx)
		if err != nil {
			return fmt.Errorf("device authorization: %w", err)
		}
		link := da.VerificationURIComplete
		if link == "" {
			link = da.VerificationURI
		}
		fmt.Fprintf(out, "To sign in, open %s\nand confirm the code %s\n", link, da.UserCode)
		if s.Token, err = cfg.DeviceAccessToken(ctx, da); err != nil {
			return fmt.Errorf("sign-in not completed: %w", err)
		}
	}
	if err := s.save(c.TokenFile); err != nil {
		return err
	}
	fmt.Fprintf(out, "signed in to %s as client %s; the token is kept in %s until %s\n", c.Issuer, s.ClientID, tokenPath(c.TokenFile),
		s.Token.Expiry.Local().Format(time.RFC3339))
	return nil
}

// logoutCmd forgets the kept token.
type logoutCmd struct {
	TokenFile string `env:"TENANTCTL_TOKEN_FILE" help:"Where the token is kept."`
}

func (c logoutCmd) Run() error {
	if err := os.Remove(tokenPath(c.TokenFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Println("signed out")
	return nil
}

type provider struct {
	TokenEndpoint  string `json:"token_endpoint"`
	DeviceEndpoint string `json:"device_authorization_endpoint"`
}

// discover reads the issuer's OpenID configuration.
func discover(ctx context.Context, issuer string) (provider, error) {
	var p provider
	url := strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return p, fmt.Errorf("bad --issuer: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return p, fmt.Errorf("the issuer %s does not answer: %w", issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("%s: HTTP %d (is the issuer the realm's URL?)", url, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil || p.TokenEndpoint == "" {
		return p, fmt.Errorf("%s is not an OpenID configuration: %v", url, err)
	}
	return p, nil
}

func tokenPath(flag string) string {
	if flag != "" {
		return flag
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "tenantctl", "token.json")
}

// save writes the session readable by its owner only.
func (s session) save(file string) error {
	path := tokenPath(file)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// keptToken returns the kept session's access token, refreshed (and kept
// again) when it has expired; "" when nobody signed in.
func keptToken(ctx context.Context, file string) (string, error) {
	raw, err := os.ReadFile(tokenPath(file))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var s session
	if err := json.Unmarshal(raw, &s); err != nil || s.Token == nil {
		return "", fmt.Errorf("%s is not a tenantctl session: run tenantctl login again", tokenPath(file))
	}
	if s.Token.Valid() {
		return s.Token.AccessToken, nil
	}
	if s.Token.RefreshToken == "" {
		return "", errors.New("the kept token has expired: run tenantctl login again")
	}
	cfg := oauth2.Config{ClientID: s.ClientID, Endpoint: oauth2.Endpoint{TokenURL: s.TokenURL}}
	fresh, err := cfg.TokenSource(ctx, s.Token).Token()
	if err != nil {
		return "", fmt.Errorf("refreshing the kept token failed (run tenantctl login again): %w", err)
	}
	s.Token = fresh
	if err := s.save(file); err != nil {
		return "", err
	}
	return fresh.AccessToken, nil
}
