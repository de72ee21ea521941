package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/platform/childenv"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

// appPlaneRequest is tenant.appplane.requested as the agent reads it:
// suspend, resume or resize the tenant (a change of the live tenant).
type appPlaneRequest struct {
	Action       string          `json:"action"`
	Step         string          `json:"step"`
	Round        int             `json:"round"`
	Undo         bool            `json:"undo"`
	Attempt      int             `json:"attempt"`
	TenantKey    string          `json:"tenantKey"`
	Tier         string          `json:"tier"`
	Isolation    string          `json:"isolation"`
	PipelineName string          `json:"pipelineName"`
	Domains      []string        `json:"domains"`
	Size         string          `json:"size"`
	SizeConfig   json.RawMessage `json:"sizeConfig"`
	RequestedAt  string          `json:"requestedAt"`
	Signature    string          `json:"signature"`
}

// appPlaneMaxAge is how old a change's request may be when the agent reads
// it: an older one (the agent was down that long, or the topic is being
// replayed) runs nothing — the tenant's state is the control plane's by
// then, and an operator reconciles.
const appPlaneMaxAge = 24 * time.Hour

// handleAppPlane carries out a change's request: the suspend command, the
// resume command, or the deploy command again with the plan's size
// (resize; deploy commands are idempotent). The control plane is told
// nothing back; a request not signed by it, too old, or not newer than
// one carried out for the tenant runs nothing.
func (a Agent) handleAppPlane(ctx context.Context, headers map[string]string, value []byte) error {
	var payload struct {
		Data appPlaneRequest `json:"data"`
	}
	if err := json.Unmarshal(value, &payload); err != nil {
		a.Logger.Warn("skipping an undecodable record", wire.HeaderID, headers[wire.HeaderID])
		return nil
	}
	req := payload.Data
	tenantID, _ := wire.TenantOf(headers[wire.HeaderSubject])
	signed := deployauth.Request{Type: headers[wire.HeaderType], TenantID: tenantID, TenantKey: req.TenantKey, Attempt: req.Attempt, Round: req.Round,
		Tier: req.Tier, Isolation: req.Isolation, PipelineName: req.PipelineName, Domains: req.Domains, Size: req.Size, SizeConfig: string(req.SizeConfig),
		Action: req.Action, Step: req.Step, Undo: req.Undo, RequestedAt: req.RequestedAt}
	if err := deployauth.VerifyRequest(a.AgentKey, signed, req.Signature); err != nil {
		a.Logger.Error("refusing a request the control plane did not sign", "type", signed.Type, "tenant_id", tenantID, "action", req.Action)
		return nil
	}
	if at, err := time.Parse(time.RFC3339Nano, req.RequestedAt); err != nil || time.Since(at) > appPlaneMaxAge {
		a.Logger.Warn("refusing a change's request older than a day", "tenant_id", tenantID, "action", req.Action, "requested_at", req.RequestedAt)
		return nil
	}
	// A change's do, then its undo, then the next change: the order the
	// ledger keeps, apart from the deployments'.
	ledgerKey, phase := tenantID+"/changes", 0
	if req.Undo {
		phase = 1
	}
	if a.Handled != nil && a.Handled.Done(ledgerKey, req.Round, phase) {
		a.Logger.Info("change request carried out already, or older than one that was: nothing runs", "tenant_id", tenantID, "round", req.Round, "action", req.Action)
		return nil
	}
	argv := map[string][]string{"suspend": a.SuspendCommand, "resume": a.ResumeCommand, "resize": a.Command}[req.Action]
	env := childenv.Build(a.PassEnv, "TENANT_ID="+tenantID, "TENANT_KEY="+req.TenantKey, "TENANT_TIER="+req.Tier,
		"TENANT_ISOLATION="+req.Isolation, "TENANT_PIPELINE="+req.PipelineName, "TENANT_SIZE="+req.Size,
		"TENANT_SIZE_CONFIG="+compactJSON(req.SizeConfig), "TENANT_DOMAINS="+strings.Join(req.Domains, ","),
		"TENANT_ACTION="+req.Action, "ATTEMPT="+strconv.Itoa(req.Attempt))
	out, err := a.run(ctx, argv, env)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: the request comes again
		}
		// Told, not asked: the control plane waits for nothing, so the
		// operator learns it here.
		a.Logger.Error("change command failed", "tenant_id", tenantID, "action", req.Action, "error", err, "output", tail(out))
	} else {
		a.Logger.Info("change carried out", "tenant_id", tenantID, "action", req.Action, "round", req.Round, "undo", req.Undo)
	}
	if a.Handled != nil {
		return a.Handled.Record(ledgerKey, req.Round, phase)
	}
	return nil
}
