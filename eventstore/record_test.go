package eventstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/eventstore/wire"
)

// FromRecord reads back what the relay wrote: a consumer can apply the
// record's event without reading the store.
func TestDecodeInvertsTheRelaysRecord(t *testing.T) {
	e := Event{Event: wire.Event{ID: "0b6f3c5e-4a51-4a59-9c1e-1f2f3a4b5c6d", Stream: "tenant-x", Version: 7, Type: "tenant.dns.completed", SchemaVersion: 2,
		Data: json.RawMessage(`{"step":"dns"}`), Metadata: wire.Metadata{CorrelationID: "c", CausationID: "d", Actor: "handler:step.dns"},
		RecordedAt: time.Date(2026, 11, 29, 9, 1, 2, 345678000, time.UTC), Position: 991}}
	msg, err := (&Relay{Source: "tenantflow"}).toMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.Decode(msg.Metadata, msg.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Stream != e.Stream || got.Version != e.Version || got.Type != e.Type || got.SchemaVersion != 2 ||
		string(got.Data) != string(e.Data) || !got.RecordedAt.Equal(e.RecordedAt) || got.Position != e.Position ||
		got.Metadata.CorrelationID != "c" || got.Metadata.CausationID != "d" {
		t.Fatalf("read back %+v, want %+v", got, e)
	}
	for name, broken := range map[string]func(map[string]string){
		"no stream":          func(h map[string]string) { delete(h, "ce_subject") },
		"version mismatch":   func(h map[string]string) { h["ce_streamversion"] = "8" },
		"no position":        func(h map[string]string) { delete(h, "ce_position") },
		"time not RFC 3339":  func(h map[string]string) { h["ce_time"] = "yesterday" },
		"schema version bad": func(h map[string]string) { h["ce_schemaversion"] = "x" },
	} {
		h := map[string]string{}
		for k, v := range msg.Metadata {
			h[k] = v
		}
		broken(h)
		if _, err := wire.Decode(h, msg.Payload); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := wire.Decode(msg.Metadata, []byte(`not json`)); err == nil {
		t.Error("a value that is not JSON was accepted")
	}
}
