package domain

import (
	"slices"
	"strings"
	"testing"
)

// The flow's rows must name real event types, and each step of an attempt
// must follow the one before it: a typo in a trigger would leave every
// tenant waiting at that step for ever.
func TestFlowNamesRealEventsAndChainsTheSteps(t *testing.T) {
	known := EventTypes()
	expand := func(pattern string) []string {
		if !strings.Contains(pattern, "*") {
			return []string{pattern}
		}
		var out []string
		for _, s := range AllSteps {
			out = append(out, strings.Replace(pattern, "*", s, 1))
		}
		return out
	}
	for _, row := range Flow {
		for _, list := range [][]string{row.TriggeredBy, row.Emits, row.UndoEmits, UndoTriggers, SagaTriggers} {
			for _, p := range list {
				for _, typ := range expand(p) {
					if !slices.Contains(known, typ) {
						t.Errorf("step %s: %q is not an event type of the log", row.Step, typ)
					}
				}
			}
		}
		if !slices.Contains(row.Emits, OutcomeType(row.Step, OutcomeFailed)) {
			t.Errorf("step %s: its failure %s is not among what it emits %v", row.Step, OutcomeType(row.Step, OutcomeFailed), row.Emits)
		}
		if row.Undo != (len(row.UndoEmits) > 0) {
			t.Errorf("step %s: Undo %v but UndoEmits %v", row.Step, row.Undo, row.UndoEmits)
		}
	}
	for i := 1; i < len(Steps); i++ {
		prev, _ := FlowOf(Steps[i-1])
		row, _ := FlowOf(Steps[i])
		if !slices.Contains(row.TriggeredBy, OutcomeType(prev.Step, OutcomeCompleted)) && !slices.Contains(row.TriggeredBy, TypeTenantActivated) {
			t.Errorf("step %s is not triggered by %s completing (%v)", row.Step, prev.Step, row.TriggeredBy)
		}
		for _, trig := range row.TriggeredBy {
			if !slices.Contains(prev.Emits, trig) {
				t.Errorf("step %s is triggered by %s, which the step before it (%s) never emits", row.Step, trig, prev.Step)
			}
		}
	}
	if first, _ := FlowOf(Steps[0]); !slices.Equal(first.TriggeredBy, []string{TypeProvisioningRequested}) {
		t.Errorf("the first step is triggered by %v, want the request", first.TriggeredBy)
	}
}

func TestTriggersWildcardStandsForOneStep(t *testing.T) {
	for typ, want := range map[string]bool{
		"tenant.dns.failed":                 true,
		"tenant.notify.failed":              true,
		"tenant.provisioning.failed":        false, // not a step: the saga names it itself
		"tenant.dns.extra.failed":           false,
		"tenant..failed":                    false,
		"tenant.dns.completed":              false,
		"lead.dns.failed":                   false,
		"tenant.deployment.undo_requested":  false,
		"tenant.infrastructure.compensated": false, // another pattern
	} {
		if got := Triggers([]string{"tenant.*.failed"}, typ); got != want {
			t.Errorf("Triggers(tenant.*.failed, %s) = %v, want %v", typ, got, want)
		}
	}
	if !Triggers(SagaTriggers, TypeProvisioningFailed) || !Triggers(SagaTriggers, "tenant.dns.compensation_failed") {
		t.Error("the saga must react to a failed attempt and to every undo's outcome")
	}
}

// Each registered type decodes into the event that names it: a wrong
// constructor in the registry would fold one event as another.
func TestRegistryDecodesEachTypeIntoItself(t *testing.T) {
	for typ, newEvent := range registry {
		if got := newEvent().EventType(); got != typ {
			t.Errorf("%s decodes into an event of type %s", typ, got)
		}
		if d := deref(newEvent()); d.EventType() != typ {
			t.Errorf("deref of a *%s is %T", typ, d)
		}
	}
}
