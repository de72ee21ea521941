package docs_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/domain"
)

var update = flag.Bool("update", false, "rewrite the generated parts of docs/ from the code")

// The marked step table of docs/choreography.md is domain.Flow rendered:
// the doc cannot say a step reacts to something the engine does not wire.
// `go test ./docs -run StepTable -update` writes it again.
func TestStepTableIsRenderedFromTheFlow(t *testing.T) {
	const page, begin, end = "choreography.md", "<!-- step table: rendered from domain.Flow by docs/flow_test.go; do not edit -->", "<!-- end of step table -->"
	raw, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	from, to := strings.Index(text, begin), strings.Index(text, end)
	if from < 0 || to < from {
		t.Fatalf("%s lacks the markers %q … %q around the step table", page, begin, end)
	}
	want := begin + "\n" + renderFlow() + end
	if got := text[from : to+len(end)]; got != want {
		if *update {
			if err := os.WriteFile(page, []byte(text[:from]+want+text[to+len(end):]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's step table differs from domain.Flow; run `go test ./docs -run StepTable -update`. Want:\n%s", page, want)
	}
	// The hand-written table of what each step does names the same steps,
	// in the same order.
	var described []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ").FindAllStringSubmatch(text[to:], -1) {
		described = append(described, m[1])
	}
	if strings.Join(described, " ") != strings.Join(domain.AllSteps, " ") {
		t.Errorf("%s describes the steps %v; the flow has %v", page, described, domain.AllSteps)
	}
}

func renderFlow() string {
	code := func(types []string) string {
		if len(types) == 0 {
			return "—"
		}
		return "`" + strings.Join(types, "`, `") + "`"
	}
	var b strings.Builder
	b.WriteString("| # | step | runs | triggered by | appends | its undo appends | long-running |\n|---|---|---|---|---|---|---|\n")
	b.WriteString("| 1 | request | provisioning | `POST /tenants/{id}/provision` (the API) | `tenant.provisioning.requested` | — | no |\n")
	for i, s := range domain.Flow {
		long, runs := "no", "provisioning"
		if s.LongRunning {
			long = "yes"
		}
		switch {
		case s.AfterActivation:
			runs = "once ACTIVE"
		case s.AfterAttempt:
			runs = "after the attempt"
		case s.Change != "":
			runs = "change: " + s.Change
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s | %s | %s | %s |\n", i+2, s.Step, runs, code(s.TriggeredBy), code(s.Emits), code(s.UndoEmits), long)
	}
	fmt.Fprintf(&b, "\nA `*` stands for any step. Every undo runs after one of %s, in reverse order of the table (a change undoes only its own steps; provisioning and deprovisioning never undo a change's); the saga reacts to %s.\n", code(domain.UndoTriggers), code(domain.SagaTriggers))
	return b.String()
}
