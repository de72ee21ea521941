package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func provisioning(t *testing.T) *Tenant {
	t.Helper()
	tn, _, _ := NewTenant("t-1", "", validTenant())
	if _, err := tn.RequestProvisioning(validSubscription(), DefaultTiers); err != nil {
		t.Fatal(err)
	}
	return tn
}

// A failure at any step undoes that step and every completed one before it,
// in reverse order, and ends PROVISION_FAILED naming the step.
func TestFailureAtEachStepUndoesInReverse(t *testing.T) {
	for i, failing := range Steps {
		t.Run(failing, func(t *testing.T) {
			tn := provisioning(t)
			completeSteps(t, tn, failing)
			if _, err := tn.RecordStep(StepOutcome{Step: failing, Outcome: OutcomeFailed, Error: "boom"}); err != nil {
				t.Fatal(err)
			}
			if _, err := tn.Activate(); err == nil {
				t.Fatal("activated after a failure")
			}
			if _, err := tn.FailProvisioning(); err != nil {
				t.Fatal(err)
			}
			if _, err := tn.FailProvisioning(); !errors.Is(err, ErrNotYourTurn) {
				t.Fatalf("compensation started twice: %v", err)
			}
			var want []string
			for _, s := range Steps[:i+1] {
				if slices.Contains(UndoableSteps, s) {
					want = append([]string{s}, want...)
				}
			}
			if got := undoAll(t, tn); !slices.Equal(got, want) {
				t.Fatalf("undo order %v, want %v", got, want)
			}
			if _, err := tn.FinishUndo(); err != nil || tn.Status() != StatusProvisionFailed {
				t.Fatalf("finish: %v, %s", err, tn.Status())
			}
			if step, reason, _ := tn.FailedStep(); step != failing || reason != "boom" {
				t.Fatalf("failed step %s %s", step, reason)
			}
		})
	}
}

func TestStepsRunInOrderOnly(t *testing.T) {
	tn := provisioning(t)
	if _, err := tn.RecordStep(StepOutcome{Step: StepDatabase, Outcome: OutcomeCompleted}); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("database before idp: %v", err)
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepIdentity, Outcome: OutcomeCompleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepIdentity, Outcome: OutcomeCompleted}); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("a second outcome for one step: %v", err)
	}
	if _, err := tn.RecordUndo(StepOutcome{Step: StepIdentity, Outcome: OutcomeCompensated}); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("undo while provisioning goes well: %v", err)
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepAdminUser, Outcome: OutcomeCompensated}); err == nil {
		t.Fatal("a do step recorded as compensated")
	}
}

func TestCancel(t *testing.T) {
	tn := provisioning(t)
	completeSteps(t, tn, StepDatabase)
	if evs, err := tn.RequestCancel(); err != nil || len(evs) != 1 || !tn.CancelRequested() {
		t.Fatalf("cancel: %v %v", evs, err)
	}
	if evs, err := tn.RequestCancel(); err != nil || len(evs) != 0 {
		t.Fatalf("second cancel: %v %v, want nothing new", evs, err)
	}
	tn2, _, _ := NewTenant("t-2", "", validTenant())
	if _, err := tn2.RequestCancel(); !isTransition(err) {
		t.Fatalf("cancel without an attempt: %v", err)
	}
}

// An undo that fails leaves an orphan the tenant shows, and the chain goes on.
func TestCompensationFailureLeavesAnOrphan(t *testing.T) {
	tn := provisioning(t)
	completeSteps(t, tn, StepDatabase)
	if _, err := tn.RecordStep(StepOutcome{Step: StepDatabase, Outcome: OutcomeFailed, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	_, _ = tn.FailProvisioning()
	_, _ = tn.RecordUndo(StepOutcome{Step: StepDatabase, Outcome: OutcomeCompensated})
	if _, err := tn.RecordUndo(StepOutcome{Step: StepAdminUser, Outcome: OutcomeCompensationFailed, Error: "keycloak down"}); err != nil {
		t.Fatal(err)
	}
	if next, _ := tn.NextUndo(); next != StepIdentity {
		t.Fatalf("next undo %s, want idp", next)
	}
	if o := tn.Orphans(); len(o) != 1 || o[0].Step != StepAdminUser {
		t.Fatalf("orphans %v", o)
	}
}

// An event stored at schema version 1 still loads: the upcaster renames its
// fields; a version newer than the code is refused.
func TestUpcastProvisioningFailed(t *testing.T) {
	e, err := DecodeVersion(TypeProvisioningFailed, 1, []byte(`{"attempt":2,"step":"dns","reason":"zone missing"}`))
	if err != nil {
		t.Fatal(err)
	}
	if pf := e.(*ProvisioningFailed); pf.Attempt != 2 || pf.FailedStep != "dns" || pf.Error != "zone missing" {
		t.Fatalf("upcast %+v", pf)
	}
	if _, err := DecodeVersion(TypeProvisioningFailed, 3, []byte(`{}`)); !errors.Is(err, ErrUndecodable) {
		t.Fatalf("a future version: %v", err)
	}
	if SchemaVersion(TypeProvisioningFailed) != 2 || SchemaVersion(TypeKeyReserved) != 1 {
		t.Fatal("schema versions")
	}
}

func TestDeploymentIsAwaited(t *testing.T) {
	tn := provisioning(t)
	completeSteps(t, tn, StepDeploy)
	if _, err := tn.ReportDeployment(1, StepOutcome{Outcome: OutcomeCompleted}); !errors.Is(err, ErrNoDeploymentPending) {
		t.Fatalf("a report before the request: %v", err)
	}
	if _, err := tn.RequestDeployment(DeploymentRequested{Deadline: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RequestDeployment(DeploymentRequested{}); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("a second request: %v", err)
	}
	if _, err := tn.ReportDeployment(2, StepOutcome{Outcome: OutcomeCompleted}); !errors.Is(err, ErrNoDeploymentPending) {
		t.Fatalf("a report for another attempt: %v", err)
	}
	if _, err := tn.ReportDeployment(1, StepOutcome{Outcome: OutcomeCompleted, Outputs: map[string]string{"endpoint": "https://x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.ReportDeployment(1, StepOutcome{Outcome: OutcomeCompleted}); !errors.Is(err, ErrNoDeploymentPending) {
		t.Fatalf("a replayed report: %v", err)
	}
	if next, _ := tn.NextStep(); next != StepDNS {
		t.Fatalf("next %s", next)
	}
}

// The deployment's removal is a request and, later, the application
// plane's answer: until it comes the undo chain waits at the deploy step; a
// failure (or no answer) leaves the deployment as an orphan, and a retried
// round asks again.
func TestDeploymentRemovalIsAwaited(t *testing.T) {
	tn := provisioning(t)
	completeSteps(t, tn, StepDeploy)
	_, _ = tn.RequestDeployment(DeploymentRequested{Deadline: time.Now()})
	if _, err := tn.ReportDeployment(1, StepOutcome{Outcome: OutcomeCompleted, Outputs: map[string]string{"endpoint": "https://x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepDNS, Outcome: OutcomeFailed, Error: "zone"}); err != nil {
		t.Fatal(err)
	}
	_, _ = tn.FailProvisioning()
	_, _ = tn.RecordUndo(StepOutcome{Step: StepDNS, Outcome: OutcomeCompensated})
	if _, err := tn.ReportDeploymentUndo(1, 0, StepOutcome{Outcome: OutcomeCompensated}); !errors.Is(err, ErrNoDeploymentPending) {
		t.Fatalf("a removal report before the request: %v", err)
	}
	if _, err := tn.RequestDeploymentUndo(DeploymentUndoRequested{Deadline: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RequestDeploymentUndo(DeploymentUndoRequested{}); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("a second request in the round: %v", err)
	}
	if next, _ := tn.NextUndo(); next != StepDeploy {
		t.Fatalf("the undo chain moved on to %s before the removal was confirmed", next)
	}
	if _, err := tn.ReportDeploymentUndo(1, 1, StepOutcome{Outcome: OutcomeCompensated}); !errors.Is(err, ErrNoDeploymentPending) {
		t.Fatalf("a report for another round: %v", err)
	}
	if _, err := tn.ReportDeploymentUndo(1, 0, StepOutcome{Outcome: OutcomeCompensationFailed, Error: "helm: timeout"}); err != nil {
		t.Fatal(err)
	}
	want := Resource{Step: StepDeploy, Kind: "deployment", ID: tn.Key(), Location: "https://x", TenantID: tn.ID()}
	if o := tn.Orphans(); len(o) != 1 || !o[0].same(want) || o[0].Location != want.Location {
		t.Fatalf("orphans %+v, want the deployment", o)
	}
	if next, _ := tn.NextUndo(); next != StepInfrastructure {
		t.Fatalf("after the failed removal the next undo is %q", next)
	}
	completeUndos(t, tn)
	if _, err := tn.FinishUndo(); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RetryUndos(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.RequestDeploymentUndo(DeploymentUndoRequested{Deadline: time.Now()}); err != nil {
		t.Fatalf("round 1 cannot ask again: %v", err)
	}
	if _, err := tn.ReportDeploymentUndo(1, 1, StepOutcome{Outcome: OutcomeCompensated}); err != nil {
		t.Fatal(err)
	}
	if o := tn.Orphans(); len(o) != 0 {
		t.Fatalf("a confirmed removal left orphans %+v", o)
	}
}

// completeUndos records every due undo as compensated.
func completeUndos(t *testing.T, tn *Tenant) {
	t.Helper()
	for s, ok := tn.NextUndo(); ok; s, ok = tn.NextUndo() {
		if _, err := tn.RecordUndo(StepOutcome{Step: s, Outcome: OutcomeCompensated}); err != nil {
			t.Fatal(err)
		}
	}
}

// A back end's error text and outputs are bounded before they enter the
// log: an outcome too big to append would keep its step retrying for ever.
func TestStepOutcomesAreBounded(t *testing.T) {
	tn := provisioning(t)
	outputs := map[string]string{}
	for i := range 80 {
		outputs[fmt.Sprintf("out%02d", i)] = strings.Repeat("v", 5000)
	}
	evs, err := tn.RecordStep(StepOutcome{Step: StepIdentity, Outcome: OutcomeFailed, Error: strings.Repeat("é", 100_000), Outputs: outputs})
	if err != nil {
		t.Fatal(err)
	}
	got := evs[0].(StepOutcome)
	if n := utf8.RuneCountInString(got.Error); n != maxStepError || !strings.HasSuffix(got.Error, "…") {
		t.Errorf("error kept %d characters", n)
	}
	if len(got.Outputs) != maxOutputs || utf8.RuneCountInString(got.Outputs["out00"]) != maxOutputValue {
		t.Errorf("outputs kept %d values, the first %d characters", len(got.Outputs), len(got.Outputs["out00"]))
	}
	data, _ := json.Marshal(got)
	if len(data) > 64<<10 {
		t.Errorf("the bounded outcome is %d bytes, over the default event cap", len(data))
	}
}

// An operator forgets an orphan with a reason; without one, or for an
// orphan the tenant does not have, nothing is recorded.
func TestForgetOrphan(t *testing.T) {
	tn, _, _ := NewTenant("t-1", "", validTenant())
	if _, err := tn.RequestProvisioning(validSubscription(), DefaultTiers); err != nil {
		t.Fatal(err)
	}
	completeSteps(t, tn, StepDatabase)
	if _, err := tn.RecordStep(StepOutcome{Step: StepDatabase, Outcome: OutcomeFailed, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	_, _ = tn.FailProvisioning()
	_, _ = tn.RecordUndo(StepOutcome{Step: StepDatabase, Outcome: OutcomeCompensated})
	if _, err := tn.RecordUndo(StepOutcome{Step: StepAdminUser, Outcome: OutcomeCompensationFailed, Error: "keycloak down"}); err != nil {
		t.Fatal(err)
	}
	o := tn.Orphans()
	if len(o) != 1 {
		t.Fatalf("orphans %v", o)
	}
	version := tn.Version()
	var ve *ValidationError
	if _, err := tn.ForgetOrphan(o[0].Step, o[0].Kind, o[0].ID, " ", time.Now()); !errors.As(err, &ve) {
		t.Errorf("no reason: %v, want a validation error", err)
	}
	if _, err := tn.ForgetOrphan(o[0].Step, o[0].Kind, "other", "gone", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("an orphan the tenant does not have: %v, want ErrNotFound", err)
	}
	if tn.Version() != version || len(tn.Orphans()) != 1 {
		t.Fatal("a refused forget changed the tenant")
	}
	evs, err := tn.ForgetOrphan(o[0].Step, o[0].Kind, o[0].ID, "removed by hand", time.Now())
	if err != nil || len(evs) != 1 || len(tn.Orphans()) != 0 {
		t.Fatalf("forget: %v %v, orphans left %v", evs, err, tn.Orphans())
	}
}

// RetryUndos: only for a settled tenant with failed undos; while they run,
// the tenant's status cannot move; once they finished, the step's orphans
// are gone if the undo now succeeded.
func TestRetryUndos(t *testing.T) {
	tn, _, _ := NewTenant("t-1", "", validTenant())
	if _, err := tn.RetryUndos(time.Now()); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("retry on a pending tenant: %v", err)
	}
	if _, err := tn.RequestProvisioning(validSubscription(), DefaultTiers); err != nil {
		t.Fatal(err)
	}
	completeSteps(t, tn, StepDatabase)
	_, _ = tn.RecordStep(StepOutcome{Step: StepDatabase, Outcome: OutcomeFailed, Error: "boom"})
	_, _ = tn.FailProvisioning()
	_, _ = tn.RecordUndo(StepOutcome{Step: StepDatabase, Outcome: OutcomeCompensated})
	_, _ = tn.RecordUndo(StepOutcome{Step: StepAdminUser, Outcome: OutcomeCompensationFailed, Error: "keycloak down"})
	_, _ = tn.RecordUndo(StepOutcome{Step: StepIdentity, Outcome: OutcomeCompensated})
	if _, err := tn.FinishUndo(); err != nil || tn.Status() != StatusProvisionFailed || len(tn.Orphans()) != 1 {
		t.Fatalf("rolled back: %v %s %v", err, tn.Status(), tn.Orphans())
	}
	if _, err := tn.RetryUndos(time.Now()); err != nil || !tn.Undoing() || tn.UndoRound() != 1 {
		t.Fatalf("retry: %v, undoing %v, round %d", err, tn.Undoing(), tn.UndoRound())
	}
	if next, ok := tn.NextUndo(); !ok || next != StepAdminUser {
		t.Fatalf("next undo %q, want admin_user only", next)
	}
	if _, err := tn.RequestProvisioning(validSubscription(), DefaultTiers); !errors.Is(err, ErrUndoRunning) {
		t.Fatalf("a new attempt while undos are retried: %v", err)
	}
	if _, err := tn.RecordUndo(StepOutcome{Step: StepAdminUser, Outcome: OutcomeCompensated}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.FinishUndo(); err != nil || tn.Undoing() || tn.Status() != StatusProvisionFailed || len(tn.Orphans()) != 0 {
		t.Fatalf("after the retry: %v, undoing %v, %s, orphans %v", err, tn.Undoing(), tn.Status(), tn.Orphans())
	}
	if _, err := tn.RetryUndos(time.Now()); !errors.Is(err, ErrNoFailedUndo) {
		t.Fatalf("nothing left to retry: %v", err)
	}
}

// A back end's error text loses the credentials it quotes before it is
// recorded: events are published and read by people and consumers.
func TestStepErrorsAreRedacted(t *testing.T) {
	tn := provisioning(t)
	evs, err := tn.RecordStep(StepOutcome{Step: StepIdentity, Outcome: OutcomeFailed,
		Error: `dial postgres://tenantflow:s3cr3t@db:5432/x failed; password=hunter2 token: "abc.def" api_key=K1 (user admin)`})
	if err != nil {
		t.Fatal(err)
	}
	got := evs[0].(StepOutcome).Error
	for _, secret := range []string{"s3cr3t", "hunter2", "abc.def", "K1"} {
		if strings.Contains(got, secret) {
			t.Errorf("%q kept %q", got, secret)
		}
	}
	if !strings.Contains(got, "postgres://tenantflow:***@db:5432/x") || !strings.Contains(got, "(user admin)") {
		t.Errorf("redacted too much or in the wrong place: %q", got)
	}
}

// A tenant requested before identity models existed (schema 2, or schema 1
// whose tier was the isolation model) keeps its realm.
func TestUpcastProvisioningRequestedKeepsRealms(t *testing.T) {
	for version, data := range map[int]string{
		1: `{"attempt":1,"subscription":{"plan":{"tier":"pooled"}}}`,
		2: `{"attempt":1,"subscription":{"plan":{"tier":"basic"}},"isolation":"pooled"}`,
	} {
		e, err := DecodeVersion(TypeProvisioningRequested, version, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.(*ProvisioningRequested); got.Identity != IdentityRealm || got.Isolation != IsolationPooled {
			t.Errorf("schema %d: got isolation %q identity %q, want pooled and realm", version, got.Isolation, got.Identity)
		}
	}
}

func TestTiersRecordTheIdentityModel(t *testing.T) {
	tiers, err := ParseTiers("enterprise=silo, basic=pooled:organization")
	if err != nil {
		t.Fatal(err)
	}
	tn, _, err := NewTenant("t-1", "", validTenant())
	if err != nil {
		t.Fatal(err)
	}
	sub := validSubscription()
	sub.Plan.Tier = "basic"
	if _, err := tn.RequestProvisioning(sub, tiers); err != nil {
		t.Fatal(err)
	}
	if tn.Identity() != IdentityOrganization || tn.Isolation() != IsolationPooled {
		t.Errorf("basic: identity %q isolation %q, want organization and pooled", tn.Identity(), tn.Isolation())
	}
	if tiers["enterprise"].Identity != IdentityRealm {
		t.Errorf("a tier without an identity model has %q, want realm", tiers["enterprise"].Identity)
	}
	if _, err := ParseTiers("basic=pooled:tenancy"); err == nil || !strings.Contains(err.Error(), "identity model") {
		t.Errorf("an unknown identity model: %v", err)
	}
}

// A lead stored at schema 1 kept its address as one string: it reads as
// the street line of the address object schema 2 writes, sealed or not.
func TestUpcastLeadAddress(t *testing.T) {
	for _, line := range []string{"1 Main St", "pii:1:0b6c1a1e-3f7d-4c55-9a0e-5c3d2b1a0f9e:c2VhbGVk"} {
		raw, _ := json.Marshal(map[string]any{"leadId": "l-1", "contact": Contact{Email: "a@example.com"}, "companyName": "C",
			"address": line, "tokenHash": "h", "at": now})
		e, err := DecodeVersion(TypeLeadCreated, 1, raw)
		if err != nil {
			t.Fatal(err)
		}
		if lc := e.(*LeadCreated); lc.Address == nil || *lc.Address != (Address{Address: line}) {
			t.Errorf("%q upcast to %+v", line, lc.Address)
		}
	}
	e, err := DecodeVersion(TypeLeadCreated, 1, []byte(`{"leadId":"l-2","contact":{"email":"a@example.com"},"companyName":"C","tokenHash":"h"}`))
	if err != nil || e.(*LeadCreated).Address != nil {
		t.Errorf("a lead without an address: %+v %v", e, err)
	}
}

// A lead's address is ARC's object or tenantflow's first form, a string;
// the object is read strictly.
func TestAddressInput(t *testing.T) {
	var in LeadInput
	if err := json.Unmarshal([]byte(`{"address":"1 Main St"}`), &in); err != nil || in.Address != (AddressInput{Address: "1 Main St"}) {
		t.Errorf("string: %+v %v", in.Address, err)
	}
	if err := json.Unmarshal([]byte(`{"address":{"address":"1 Main St","city":"X","country":"US"}}`), &in); err != nil ||
		in.Address != (AddressInput{Address: "1 Main St", City: "X", Country: "US"}) {
		t.Errorf("object: %+v %v", in.Address, err)
	}
	if err := json.Unmarshal([]byte(`{"address":{"street":"1 Main St"}}`), &in); err == nil {
		t.Error("an unknown member of the address object was accepted")
	}
	if err := json.Unmarshal([]byte(`{"address":42}`), &in); err == nil {
		t.Error("a number was accepted as an address")
	}
}

// Billing follows activation: the tenant is ACTIVE before it runs, the
// welcome mail waits for its outcome (a failure included, which rolls
// nothing back), and deprovisioning undoes it first.
func TestBillingFollowsActivation(t *testing.T) {
	tn := provisioning(t)
	completeSteps(t, tn, StepActivate)
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	if next, ok := tn.NextStep(); !ok || next != StepBilling || tn.Status() != StatusActive {
		t.Fatalf("after activation: next %q %v, status %s", next, ok, tn.Status())
	}
	if !tn.NotificationDue() || tn.NotificationReady() {
		t.Fatal("the welcome mail is ready before billing ran")
	}
	if _, err := tn.RecordNotification(StepOutcome{Step: StepNotify, Outcome: OutcomeCompleted}); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("a welcome mail before billing: %v", err)
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepBilling, Outcome: OutcomeFailed, Error: "provider refused"}); err != nil {
		t.Fatal(err)
	}
	if tn.Status() != StatusActive || !tn.NotificationReady() {
		t.Fatalf("after a billing failure: %s, mail ready %v", tn.Status(), tn.NotificationReady())
	}
	if _, err := tn.FailProvisioning(); !errors.Is(err, ErrNotYourTurn) {
		t.Fatalf("a billing failure started a rollback: %v", err)
	}
	if _, _, billed := tn.BillingAccount(); billed {
		t.Error("a failed billing step left a billing account")
	}
	if _, err := tn.RequestDeprovisioning("bye"); err != nil {
		t.Fatal(err)
	}
	if next, ok := tn.NextUndo(); !ok || next != StepBilling {
		t.Fatalf("deprovisioning undoes %q first, want billing", next)
	}
}

// A tenant is settled only while no step of its flow is running or due:
// the documents projection renders settled tenants only.
func TestSettledOnlyWhenNothingIsDue(t *testing.T) {
	created, _, _ := NewTenant("t-1", "", validTenant())
	if !created.Settled() {
		t.Fatal("a tenant nobody asked to provision is not settled")
	}
	tn := provisioning(t)
	for _, s := range Steps {
		if tn.Settled() {
			t.Fatalf("settled while %s is due", s)
		}
		if s == StepActivate {
			break
		}
		record(t, tn, s, OutcomeCompleted)
	}
	if _, err := tn.Activate(); err != nil {
		t.Fatal(err)
	}
	if tn.Settled() {
		t.Fatal("settled while billing and the welcome mail are due")
	}
	if _, err := tn.RecordStep(StepOutcome{Step: StepBilling, Outcome: OutcomeSkipped}); err != nil {
		t.Fatal(err)
	}
	if tn.Settled() {
		t.Fatal("settled while the welcome mail is due")
	}
	if _, err := tn.RecordNotification(StepOutcome{Step: StepNotify, Outcome: OutcomeCompleted}); err != nil {
		t.Fatal(err)
	}
	if !tn.Settled() {
		t.Fatal("an ACTIVE tenant with nothing due is not settled")
	}
	if _, err := tn.RequestDeprovisioning("bye"); err != nil {
		t.Fatal(err)
	}
	if tn.Settled() {
		t.Fatal("settled while being deprovisioned")
	}
	failed := provisioning(t)
	completeSteps(t, failed, StepDatabase)
	record(t, failed, StepDatabase, OutcomeFailed)
	if _, err := failed.FailProvisioning(); err != nil {
		t.Fatal(err)
	}
	undoAll(t, failed)
	if _, err := failed.FinishUndo(); err != nil {
		t.Fatal(err)
	}
	if failed.Settled() {
		t.Fatal("settled while the failure notice is due")
	}
	if _, err := failed.RecordNotification(StepOutcome{Step: StepNotify, Outcome: OutcomeCompleted}); err != nil || !failed.Settled() {
		t.Fatalf("a rolled back tenant whose notice went: settled %v, %v", failed.Settled(), err)
	}
}
