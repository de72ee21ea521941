package domain

import (
	"slices"
	"strings"
)

// FlowStep is one row of the provisioning flow: a step, the events its
// handler reacts to, and what it appends.
type FlowStep struct {
	Step string
	// TriggeredBy are the event types after which the step may be due (its
	// handler then decides from the tenant's folded log, never from the
	// event alone). A "*" stands for any step: tenant.*.failed.
	TriggeredBy []string
	// Emits are the event types the step's handler (or, for a long-running
	// step, whoever completes it) appends when it runs.
	Emits []string
	// Undo: the step makes something outside tenantflow, so compensation
	// and deprovisioning undo it, in reverse order of Flow, after UndoTriggers;
	// UndoEmits are what its undo appends.
	Undo      bool
	UndoEmits []string
	// LongRunning: a try takes minutes (OpenTofu), or the step completes
	// outside its handler (the application plane reports the deployment).
	LongRunning bool
	// AfterActivation: the step runs once the tenant is ACTIVE (billing):
	// activation never waits for it, and its failure rolls nothing back
	// (the tenant stays ACTIVE, the step says why); deprovisioning undoes
	// it first.
	AfterActivation bool
	// AfterAttempt: the step runs once the attempt has ended (activated or
	// rolled back); it is not one of the attempt's steps and is never undone.
	AfterAttempt bool
	// Change: the step belongs to a change of the live tenant (ChangeSuspend,
	// ChangeReactivate, ChangePlan), run once the change is requested, undone when a
	// later step of the same change fails; never part of provisioning or
	// deprovisioning.
	Change string
}

// Flow is the provisioning choreography, written down once: the engine
// builds its handlers from it, the saga takes its undo order from it, and
// docs/choreography.md's step table is rendered from it (a docs test keeps
// the two equal). What triggers a step is its row here.
var Flow = []FlowStep{
	{Step: StepIdentity, TriggeredBy: []string{"tenant.provisioning.requested"},
		Emits: []string{"tenant.idp.completed", "tenant.idp.skipped", "tenant.idp.failed"},
		Undo:  true, UndoEmits: []string{"tenant.idp.compensated", "tenant.idp.compensation_failed"}},
	{Step: StepAdminUser, TriggeredBy: []string{"tenant.idp.completed", "tenant.idp.skipped"},
		Emits: []string{"tenant.admin_user.completed", "tenant.admin_user.skipped", "tenant.admin_user.failed"},
		Undo:  true, UndoEmits: []string{"tenant.admin_user.compensated", "tenant.admin_user.compensation_failed"}},
	{Step: StepDatabase, TriggeredBy: []string{"tenant.admin_user.completed", "tenant.admin_user.skipped"},
		Emits: []string{"tenant.database.completed", "tenant.database.skipped", "tenant.database.failed"},
		Undo:  true, UndoEmits: []string{"tenant.database.compensated", "tenant.database.compensation_failed"}},
	{Step: StepStorage, TriggeredBy: []string{"tenant.database.completed", "tenant.database.skipped"},
		Emits: []string{"tenant.storage.completed", "tenant.storage.skipped", "tenant.storage.failed"},
		Undo:  true, UndoEmits: []string{"tenant.storage.compensated", "tenant.storage.compensation_failed"}},
	{Step: StepInfrastructure, TriggeredBy: []string{"tenant.storage.completed", "tenant.storage.skipped"},
		Emits: []string{"tenant.infrastructure.completed", "tenant.infrastructure.skipped", "tenant.infrastructure.failed"},
		Undo:  true, UndoEmits: []string{"tenant.infrastructure.compensated", "tenant.infrastructure.compensation_failed"},
		LongRunning: true},
	{Step: StepDeploy, TriggeredBy: []string{"tenant.infrastructure.completed", "tenant.infrastructure.skipped"},
		Emits: []string{"tenant.deployment.requested", "tenant.deploy.completed", "tenant.deploy.skipped", "tenant.deploy.failed"},
		Undo:  true, UndoEmits: []string{"tenant.deployment.undo_requested", "tenant.deploy.compensated", "tenant.deploy.compensation_failed"},
		LongRunning: true},
	{Step: StepDNS, TriggeredBy: []string{"tenant.deploy.completed", "tenant.deploy.skipped"},
		Emits: []string{"tenant.dns.completed", "tenant.dns.skipped", "tenant.dns.failed"},
		Undo:  true, UndoEmits: []string{"tenant.dns.compensated", "tenant.dns.compensation_failed"}},
	{Step: StepResources, TriggeredBy: []string{"tenant.dns.completed", "tenant.dns.skipped"},
		Emits: []string{"tenant.resources.completed", "tenant.resources.failed"}},
	{Step: StepActivate, TriggeredBy: []string{"tenant.resources.completed"},
		Emits: []string{"tenant.activated", "tenant.activate.failed"}},
	{Step: StepBilling, TriggeredBy: []string{"tenant.activated"},
		Emits: []string{"tenant.billing.completed", "tenant.billing.skipped", "tenant.billing.failed"},
		Undo:  true, UndoEmits: []string{"tenant.billing.compensated", "tenant.billing.compensation_failed"},
		AfterActivation: true},
	{Step: StepNotify, TriggeredBy: []string{"tenant.billing.completed", "tenant.billing.skipped", "tenant.billing.failed",
		"tenant.provisioning.rolled_back"},
		Emits: []string{"tenant.notify.completed", "tenant.notify.skipped", "tenant.notify.failed"}, AfterAttempt: true},
	// Suspension: sign-in off (sessions end), then the application plane.
	{Step: StepSignInOff, Change: ChangeSuspend, TriggeredBy: []string{"tenant.change.requested"},
		Emits: []string{"tenant.signin_off.completed", "tenant.signin_off.skipped", "tenant.signin_off.failed"},
		Undo:  true, UndoEmits: []string{"tenant.signin_off.compensated", "tenant.signin_off.compensation_failed"}},
	{Step: StepAppSuspend, Change: ChangeSuspend, TriggeredBy: []string{"tenant.signin_off.completed", "tenant.signin_off.skipped"},
		Emits: []string{"tenant.appplane.requested", "tenant.app_suspend.completed", "tenant.app_suspend.skipped", "tenant.app_suspend.failed", "tenant.change.completed"},
		Undo:  true, UndoEmits: []string{"tenant.appplane.requested", "tenant.app_suspend.compensated", "tenant.app_suspend.compensation_failed"}},
	// Reactivation: the application plane first, then sign-in on.
	{Step: StepAppResume, Change: ChangeReactivate, TriggeredBy: []string{"tenant.change.requested"},
		Emits: []string{"tenant.appplane.requested", "tenant.app_resume.completed", "tenant.app_resume.skipped", "tenant.app_resume.failed"},
		Undo:  true, UndoEmits: []string{"tenant.appplane.requested", "tenant.app_resume.compensated", "tenant.app_resume.compensation_failed"}},
	{Step: StepSignInOn, Change: ChangeReactivate, TriggeredBy: []string{"tenant.app_resume.completed", "tenant.app_resume.skipped"},
		Emits: []string{"tenant.signin_on.completed", "tenant.signin_on.skipped", "tenant.signin_on.failed", "tenant.change.completed"},
		Undo:  true, UndoEmits: []string{"tenant.signin_on.compensated", "tenant.signin_on.compensation_failed"}},
	// Plan change: billing first (the customer pays the new price), then the
	// new sizes for the infrastructure and the application plane.
	{Step: StepPlanBilling, Change: ChangePlan, TriggeredBy: []string{"tenant.change.requested"},
		Emits: []string{"tenant.plan_billing.completed", "tenant.plan_billing.skipped", "tenant.plan_billing.failed"},
		Undo:  true, UndoEmits: []string{"tenant.plan_billing.compensated", "tenant.plan_billing.compensation_failed"}},
	{Step: StepPlanInfra, Change: ChangePlan, TriggeredBy: []string{"tenant.plan_billing.completed", "tenant.plan_billing.skipped"},
		Emits: []string{"tenant.plan_infra.completed", "tenant.plan_infra.skipped", "tenant.plan_infra.failed"},
		Undo:  true, UndoEmits: []string{"tenant.plan_infra.compensated", "tenant.plan_infra.compensation_failed"}, LongRunning: true},
	{Step: StepPlanApp, Change: ChangePlan, TriggeredBy: []string{"tenant.plan_infra.completed", "tenant.plan_infra.skipped"},
		Emits: []string{"tenant.appplane.requested", "tenant.plan_app.completed", "tenant.plan_app.skipped", "tenant.plan_app.failed", "tenant.change.completed"},
		Undo:  true, UndoEmits: []string{"tenant.appplane.requested", "tenant.plan_app.compensated", "tenant.plan_app.compensation_failed"}},
}

// UndoTriggers are the events after which an undo may be due: a failed
// attempt, a deprovisioning, a retry of failed undos, and every undo's
// outcome (the next undo in reverse order follows it).
var UndoTriggers = []string{"tenant.provisioning.failed", "tenant.change.failed", "tenant.deprovisioning.requested", "tenant.undo.retry_requested",
	"tenant.*.compensated", "tenant.*.compensation_failed"}

// SagaTriggers are the events after which the saga may act: a failed step
// starts compensation (tenant.provisioning.failed), and the last undo ends
// it (tenant.provisioning.rolled_back, tenant.deactivated, or
// tenant.undo.retry_finished).
var SagaTriggers = append([]string{"tenant.*.failed"}, UndoTriggers...)

// Steps lists the steps a provisioning attempt runs, in order, up to and
// including activation. (Step 1, the request, is the API command; notify
// follows activation or rollback and never undoes anything.)
var Steps = flowSteps(func(s FlowStep) bool { return !s.AfterAttempt && !s.AfterActivation && s.Change == "" })

// ProvisioningSteps are the steps of an attempt and after it, in order,
// notify last: what a tenant's record lists (changes apart).
var ProvisioningSteps = flowSteps(func(s FlowStep) bool { return s.Change == "" })

// ActiveSteps follow activation: they run once the tenant is ACTIVE.
var ActiveSteps = flowSteps(func(s FlowStep) bool { return s.AfterActivation })

// UndoableSteps are the steps that create external resources; compensation
// and deprovisioning undo them in reverse order.
var UndoableSteps = flowSteps(func(s FlowStep) bool { return s.Undo && s.Change == "" })

// AllSteps are the names of every step of Flow, notify included.
var AllSteps = flowSteps(func(FlowStep) bool { return true })

func flowSteps(keep func(FlowStep) bool) []string {
	var out []string
	for _, s := range Flow {
		if keep(s) {
			out = append(out, s.Step)
		}
	}
	return out
}

// FlowOf is step's row of Flow.
func FlowOf(step string) (FlowStep, bool) {
	i := slices.IndexFunc(Flow, func(s FlowStep) bool { return s.Step == step })
	if i < 0 {
		return FlowStep{}, false
	}
	return Flow[i], true
}

// OutcomeType is the type of a step's outcome event: tenant.<step>.<outcome>.
func OutcomeType(step, outcome string) string { return "tenant." + step + "." + outcome }

// Triggers reports whether eventType is one of patterns; a "*" in a
// pattern stands for the name of one step of Flow.
func Triggers(patterns []string, eventType string) bool {
	for _, p := range patterns {
		prefix, suffix, wild := strings.Cut(p, "*")
		if p == eventType {
			return true
		}
		if step, ok := strings.CutPrefix(eventType, prefix); wild && ok {
			if step, ok = strings.CutSuffix(step, suffix); ok && slices.Contains(AllSteps, step) {
				return true
			}
		}
	}
	return false
}
