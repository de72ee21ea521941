package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/internal/config"
)

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("tenantctl", version)
	return nil
}

type configCmd struct{}

// Run prints every variable and its effective value; values of the
// settings marked secret (config.Secrets), and passwords inside URLs, are
// replaced by "***".
func (c configCmd) Run() error { return c.run(os.Stdout) }

func (configCmd) run(out io.Writer) error {
	_, err := config.Load()
	for _, name := range config.VariableNames() {
		fmt.Fprintf(out, "%s=%s\n", name, redact(name, os.Getenv(name)))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "configuration is valid")
	return nil
}

func redact(name, value string) string {
	if value == "" {
		return ""
	}
	if slices.Contains(config.Secrets(), name) {
		return "***"
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "***")
			return strings.Replace(u.String(), "%2A%2A%2A", "***", 1)
		}
	}
	return value
}

type readyCmd struct {
	URL     string        `default:"http://127.0.0.1:14000" env:"TENANTCTL_URL" help:"Base URL of tenantd."`
	Timeout time.Duration `default:"5s" help:"How long to wait for the answer."`
}

func (r readyCmd) Run() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.URL, "/")+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("bad --url: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("tenantd at %s does not answer: %w", r.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var pretty map[string]any
	if json.Unmarshal(body, &pretty) == nil {
		body, _ = json.MarshalIndent(pretty, "", "  ")
	}
	fmt.Println(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("tenantd is not ready (HTTP %d)", resp.StatusCode)
	}
	return nil
}
