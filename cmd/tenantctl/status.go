package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

type statusCmd struct {
	api
	Tenant  string        `arg:"" help:"Tenant id."`
	Every   time.Duration `default:"500ms" help:"How often to look."`
	Timeout time.Duration `name:"wait" default:"30m" help:"Give up after this long (exit 2)."`
}

type statusView struct {
	Key       string `json:"key"`
	Status    string `json:"status"`
	Attempt   int    `json:"attempt"`
	LastError string `json:"lastError"`
	Steps     []struct {
		Step, State, Undo, Error string
		Attempts                 int
		StartedAt, FinishedAt    *time.Time
	} `json:"steps"`
}

// Run follows the tenant until it settles: exit 0 on ACTIVE once the
// welcome mail's outcome is recorded (the attempt's last step; or on
// INACTIVE after a deprovisioning), 1 on PROVISION_FAILED, 2 on timeout. In a
// terminal the view is redrawn in place; otherwise each change is printed.
func (c statusCmd) Run() error { return c.run(os.Stdout, isTerminal(os.Stdout)) }

func (c statusCmd) run(out io.Writer, tty bool) error {
	spinner := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	deadline := time.Now().Add(c.Timeout)
	last, lines := "", 0
	for frame := 0; ; frame++ {
		raw, err := c.request(http.MethodGet, "/tenants/"+url.PathEscape(c.Tenant), nil)
		if err != nil {
			return err
		}
		var v statusView
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		view := render(v, spinner[frame%len(spinner)])
		if tty && lines > 0 {
			fmt.Fprintf(out, "\033[%dA\033[J", lines) // back up and redraw
		}
		if tty || view != last {
			fmt.Fprint(out, view)
			lines, last = strings.Count(view, "\n"), view
		}
		switch v.Status {
		case "ACTIVE":
			if v.notified() {
				return nil
			}
		case "INACTIVE":
			return nil
		case "PROVISION_FAILED":
			return fmt.Errorf("tenant %s: provisioning failed: %s", v.Key, v.LastError)
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(out, "still %s after %s\n", v.Status, c.Timeout)
			os.Exit(2)
		}
		time.Sleep(c.Every)
	}
}

// notified reports whether the notify step has an outcome.
func (v statusView) notified() bool {
	for _, s := range v.Steps {
		if s.Step == "notify" {
			return s.State != "pending"
		}
	}
	return true // a tenantd that lists no notify step has none to wait for
}

// render draws the steps: ✔ done, – skipped, ✖ failed (or its undo failed),
// ↺ undone, a spinner on the one running.
func render(v statusView, spin string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  attempt %d\n", v.Key, v.Status, v.Attempt)
	running := v.Status == "PROVISIONING" || v.Status == "DEPROVISIONING"
	for _, s := range v.Steps {
		mark := " "
		switch {
		case s.State == "failed" || s.Undo == "compensation_failed":
			mark = "✖"
		case s.Undo == "compensated":
			mark = "↺"
		case s.State == "completed":
			mark = "✔"
		case s.State == "skipped":
			mark = "–"
		case running:
			mark, running = spin, false // the first pending step is the one running
		}
		took := ""
		if s.StartedAt != nil && s.FinishedAt != nil {
			took = s.FinishedAt.Sub(*s.StartedAt).Round(time.Millisecond).String()
		}
		line := fmt.Sprintf("  %s %-15s %-9s %8s", mark, s.Step, s.State, took)
		if s.Attempts > 1 {
			line += fmt.Sprintf("  %d tries", s.Attempts)
		}
		if s.Error != "" {
			line += "  " + s.Error
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String()
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
