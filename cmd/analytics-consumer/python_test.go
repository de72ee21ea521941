package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/kafkatest"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// A second-language consumer: the analytics guide's Python script
// (examples/analytics-python, confluent-kafka on librdkafka 2.16) signs in
// to the dev stack's Kafka 4 with TLS and SCRAM-SHA-512 as the analytics
// principal and reads every event the relay published, with the headers
// and the payload the contract (schemas/README.md) promises.
func TestPythonConsumerReadsTheStream(t *testing.T) {
	python := testenv.Require(t, "TENANTFLOW_DEVSTACK_PYTHON")["TENANTFLOW_DEVSTACK_PYTHON"]
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := relayed(t, ctx)
	brokers, pool, store, topic := r.brokers, r.pool, r.store, r.topic
	writeTenants(t, store)
	// Every event written, read from the table itself (ReadAll holds back
	// the newest until no earlier transaction can still commit).
	type event struct {
		Type, Stream string
		Version      int64
	}
	want := map[string]event{}
	rows, err := pool.Query(ctx, `select event_id::text, event_type, stream_id, stream_version from events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var e event
		if err := rows.Scan(&id, &e.Type, &e.Stream, &e.Version); err != nil {
			t.Fatal(err)
		}
		want[id] = e
	}
	rows.Close()

	_, env := kafkatest.Principal(t, "analytics")
	cmd := exec.CommandContext(ctx, python, filepath.Join("..", "..", "examples", "analytics-python", "consume.py"),
		"--group", "test-analytics-py-"+uuid.NewString()[:8], "--max", "1000000", "--idle-timeout", "20")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TENANTFLOW_KAFKA_BROKERS=" + brokers[0], "TENANTFLOW_KAFKA_TOPIC=" + topic}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	deadline := time.Now().Add(90 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) && lines.Scan() {
		raw := lines.Bytes()
		var r struct {
			Key           string          `json:"key"`
			CeID          string          `json:"ce_id"`
			CeType        string          `json:"ce_type"`
			CeSubject     string          `json:"ce_subject"`
			StreamVersion int64           `json:"streamVersion"`
			Data          json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("the Python consumer printed %q: %v", raw, err)
		}
		e, ok := want[r.CeID]
		if !ok {
			t.Fatalf("a record the log does not hold: %s", raw)
		}
		if r.CeType != e.Type || r.CeSubject != e.Stream || r.Key != e.Stream || r.StreamVersion != e.Version || len(r.Data) < 2 {
			t.Fatalf("record %s read as %s", r.CeID, raw)
		}
		got[r.CeID] = true
	}
	cancel()
	_ = cmd.Wait()
	if len(got) != len(want) {
		t.Fatalf("the Python consumer read %d of %d events; stderr:\n%s", len(got), len(want), stderr.String())
	}
}
