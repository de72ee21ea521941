package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tenantflow/tenantflow/adapters/kafka"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/platform/childenv"
	"github.com/tenantflow/tenantflow/platform/deployauth"
)

// Agent is the application plane's side of the deploy step: it consumes
// tenant.deployment.requested and .undo_requested, runs a command per
// tenant, and reports the result (deployed or failed; removed or
// remove_failed) to the control plane, signed with the attempt's secret
// (unsealed with its key). It also carries out the changes' requests
// (tenant.appplane.requested: suspend, resume, resize), which report
// nothing. It reads only the published contract (schemas/README.md).
type Agent struct {
	AgentKey    []byte
	Command     []string // deploy: argv; the tenant comes in the environment
	UndoCommand []string
	// SuspendCommand and ResumeCommand carry out a suspension's and a
	// reactivation's request (none: nothing to do); a resize runs Command
	// again with the new size.
	SuspendCommand, ResumeCommand []string
	ControlURL                    string   // tenantd's base URL
	PassEnv                       []string // variables of the agent's environment the scripts get besides childenv.Base
	// Handled remembers what was carried out (nil: nothing is remembered,
	// tests of one request only).
	Handled *Ledger
	Logger  *slog.Logger
	HTTP    *http.Client
}

type request struct {
	Attempt      int             `json:"attempt"`
	Round        int             `json:"round"`
	TenantKey    string          `json:"tenantKey"`
	Tier         string          `json:"tier"`
	Isolation    string          `json:"isolation"`
	PipelineName string          `json:"pipelineName"`
	Size         string          `json:"size"`
	SizeConfig   json.RawMessage `json:"sizeConfig"`
	Domains      []string        `json:"domains"`
	Deadline     string          `json:"deadline"`
	SealedSecret string          `json:"sealedSecret"`
	Signature    string          `json:"signature"`
}

// Handle acts on one record; other event types are ignored. An error means
// "retry" (the record comes again).
func (a Agent) Handle(ctx context.Context, headers map[string]string, value []byte) error {
	typ := headers[wire.HeaderType]
	if typ == "tenant.appplane.requested" {
		return a.handleAppPlane(ctx, headers, value)
	}
	if typ != "tenant.deployment.requested" && typ != "tenant.deployment.undo_requested" {
		return nil
	}
	var payload struct {
		Data request `json:"data"`
	}
	if err := json.Unmarshal(value, &payload); err != nil {
		a.Logger.Warn("skipping an undecodable record", wire.HeaderID, headers[wire.HeaderID])
		return nil
	}
	req := payload.Data
	tenantID, _ := wire.TenantOf(headers[wire.HeaderSubject])
	signed := deployauth.Request{Type: typ, TenantID: tenantID, TenantKey: req.TenantKey, Attempt: req.Attempt, Round: req.Round,
		Tier: req.Tier, Isolation: req.Isolation, PipelineName: req.PipelineName, Size: req.Size, SizeConfig: string(req.SizeConfig),
		Domains: req.Domains, Deadline: req.Deadline, SealedSecret: req.SealedSecret}
	if err := deployauth.VerifyRequest(a.AgentKey, signed, req.Signature); err != nil {
		// Not the control plane's (forged, altered, or from a control plane
		// with another agent key): nothing is run; the control plane's
		// deadline records the step, or the removal, as not done.
		a.Logger.Error("refusing a request the control plane did not sign", "type", typ, "tenant_id", tenantID, "tenant_key", req.TenantKey, wire.HeaderID, headers[wire.HeaderID])
		return nil
	}
	// Signed, but stale or carried out already: nothing runs. The control
	// plane's deadline records a step or a removal nobody confirmed.
	phase := 0
	if typ == "tenant.deployment.undo_requested" {
		phase = req.Round + 1
	}
	if deadline, err := time.Parse(time.RFC3339Nano, req.Deadline); err != nil || time.Now().After(deadline) {
		a.Logger.Warn("refusing a request past its signed deadline", "type", typ, "tenant_id", tenantID, "attempt", req.Attempt, "round", req.Round, "deadline", req.Deadline)
		return nil
	}
	if a.Handled != nil && a.Handled.Done(tenantID, req.Attempt, phase) {
		a.Logger.Info("request carried out already, or older than one that was: nothing runs", "type", typ, "tenant_id", tenantID, "attempt", req.Attempt, "round", req.Round)
		return nil
	}
	done := func(err error) error {
		if err == nil && a.Handled != nil {
			err = a.Handled.Record(tenantID, req.Attempt, phase)
		}
		return err
	}
	binding := deployauth.Binding(tenantID, req.Attempt, req.TenantKey)
	// The scripts get an allow-list, never the agent's environment (which
	// holds its key and its Kafka password): platform/childenv.
	env := childenv.Build(a.PassEnv, "TENANT_ID="+tenantID, "TENANT_KEY="+req.TenantKey, "TENANT_TIER="+req.Tier,
		"TENANT_ISOLATION="+req.Isolation, "TENANT_PIPELINE="+req.PipelineName, "TENANT_SIZE="+req.Size, "TENANT_SIZE_CONFIG="+compactJSON(req.SizeConfig),
		"TENANT_DOMAINS="+strings.Join(req.Domains, ","), "ATTEMPT="+strconv.Itoa(req.Attempt))
	if typ == "tenant.deployment.undo_requested" {
		return done(a.undo(ctx, tenantID, req, env, binding))
	}
	secret, err := deployauth.Unseal(a.AgentKey, req.SealedSecret, binding)
	if err != nil {
		a.Logger.Error("cannot unseal the report secret: sealed for another tenant, attempt or key, or with another agent key", "tenant_key", req.TenantKey)
		return nil // retrying cannot help; the control plane's deadline fails the step
	}
	report := map[string]any{"attempt": req.Attempt, "status": "deployed"}
	out, err := a.run(ctx, a.Command, env)
	if err != nil {
		report["status"], report["error"] = "failed", fmt.Sprintf("%v: %s", err, tail(out))
	} else if line, _, _ := strings.Cut(strings.TrimSpace(out), "\n"); line != "" {
		report["endpoint"] = line // the command's first output line names the endpoint
	}
	return done(a.report(ctx, tenantID, secret, report))
}

// undoTries is how often the undo command runs before the agent reports
// that the removal failed (an operator's "orphans retry" asks again).
const undoTries = 3

// undo removes the tenant's deployment and reports the outcome, signed like
// a deployment report, so the control plane's undo chain goes on only once
// the removal is confirmed or has failed.
func (a Agent) undo(ctx context.Context, tenantID string, req request, env []string, binding []byte) error {
	secret, err := deployauth.Unseal(a.AgentKey, req.SealedSecret, binding)
	if err != nil {
		a.Logger.Error("cannot unseal the report secret: sealed for another tenant, attempt or key, or with another agent key", "tenant_key", req.TenantKey)
		return nil // the control plane's deadline records the removal as unconfirmed
	}
	var out string
	for try := 1; try <= undoTries; try++ {
		if out, err = a.run(ctx, a.UndoCommand, env); err == nil || ctx.Err() != nil {
			break
		}
		a.Logger.Warn("undo command failed", "tenant_key", req.TenantKey, "try", try, "error", err)
		if try == undoTries {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(try) * time.Second):
		}
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the request comes again
	}
	report := map[string]any{"attempt": req.Attempt, "round": req.Round, "status": "removed"}
	if err != nil {
		report["status"], report["error"] = "remove_failed", fmt.Sprintf("%v: %s", err, tail(out))
	} else {
		a.Logger.Info("deployment removed", "tenant_key", req.TenantKey)
	}
	return a.report(ctx, tenantID, secret, report)
}

func (a Agent) run(ctx context.Context, argv []string, env []string) (string, error) {
	if len(argv) == 0 {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func tail(s string) string {
	if len(s) > 500 {
		return s[len(s)-500:]
	}
	return s
}

// report posts the signed report; 5xx and network errors are retried by
// returning an error, anything else is final.
func (a Agent) report(ctx context.Context, tenantID string, secret []byte, report map[string]any) error {
	body, _ := json.Marshal(report)
	ts, sig := deployauth.Sign(secret, time.Now(), body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.ControlURL, "/")+"/tenants/"+tenantID+"/deployment", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(deployauth.HeaderTimestamp, ts)
	req.Header.Set(deployauth.HeaderSignature, sig)
	client := a.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("report to %s: %w", a.ControlURL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 500 {
		return fmt.Errorf("report: HTTP %d: %s", resp.StatusCode, answer)
	}
	a.Logger.Info("deployment reported", "tenant_id", tenantID, "status", report["status"], "http", resp.StatusCode, "answer", string(answer))
	return nil
}

// Run consumes the topic in group until ctx ends: one tenant's requests in
// order, up to concurrency tenants' commands at once, so a slow deployment
// holds up its own tenant only. A request whose handling panics is set
// aside on the topic's dead-letter topic.
func (a Agent) Run(ctx context.Context, brokers []string, topic, group string, concurrency int) error {
	pub, err := kafka.NewRecordPublisher(brokers)
	if err != nil {
		return err
	}
	defer pub.Close()
	router, err := kafka.NewRouter(pub, topic, a.Logger)
	if err != nil {
		return err
	}
	sub := kafka.KeyedSubscriber{Consumer: kafka.Consumer{Brokers: brokers, Group: group, Logger: a.Logger}, Options: kafka.KeyedOptions{Concurrency: concurrency}}
	router.AddConsumerHandler(group, topic, sub, func(msg *message.Message) error {
		return a.Handle(msg.Context(), kafka.Headers(msg), msg.Payload)
	})
	return router.Run(ctx)
}

// compactJSON is doc on one line, for a script's environment.
func compactJSON(doc json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, doc) != nil {
		return string(doc)
	}
	return b.String()
}
