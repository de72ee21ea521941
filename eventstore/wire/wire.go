// Package wire is the event log's format on Kafka, in one place: the topic,
// the stream names, the CloudEvents headers (Kafka binding, binary mode) and
// the record value, and the mapping of an event onto a record and back. The
// relay writes records only through Encode; the engine, the projections,
// tenantctl and the reference consumers read them only through Decode and
// the names below. Its contract is docs/event-log.md; it uses the standard
// library only, so an outside Go consumer can copy it.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Topic is where the relay publishes every committed event.
const Topic = "tenant.events.v1"

// The record headers: CloudEvents attributes as ce_<name> (extension names
// lower-case letters and digits, as the specification requires).
const (
	HeaderSpecVersion   = "ce_specversion"
	HeaderID            = "ce_id"
	HeaderSource        = "ce_source"
	HeaderType          = "ce_type"
	HeaderSubject       = "ce_subject" // the stream
	HeaderTime          = "ce_time"
	HeaderStreamVersion = "ce_streamversion"
	HeaderPosition      = "ce_position"
	HeaderSchemaVersion = "ce_schemaversion"
	HeaderCorrelationID = "ce_correlationid"
	HeaderCausationID   = "ce_causationid"
	HeaderTraceParent   = "ce_traceparent"
	HeaderTraceState    = "ce_tracestate"
	HeaderContentType   = "content-type"
)

// Required are the headers without which a record is not an event of the
// log (checked on every record before anything is decoded).
var Required = []string{HeaderID, HeaderType, HeaderSubject, HeaderSpecVersion}

// Stream prefixes: a stream is <prefix><id>, and its id is the record key.
const (
	TenantPrefix       = "tenant-"
	LeadPrefix         = "lead-"
	TenantConfigPrefix = "tenantconfig-"
	PlanPrefix         = "plan-"
)

// TenantStream is the stream of the tenant with id.
func TenantStream(id string) string { return TenantPrefix + id }

// TenantConfigStream is the stream of the tenant id's configuration.
func TenantConfigStream(id string) string { return TenantConfigPrefix + id }

// TenantOf is the tenant id of a tenant's stream, and whether stream is one.
func TenantOf(stream string) (id string, ok bool) {
	id, ok = strings.CutPrefix(stream, TenantPrefix)
	return id, ok && id != ""
}

// PlanOf is the plan id of a catalogue plan's stream, and whether stream is one.
func PlanOf(stream string) (id string, ok bool) {
	id, ok = strings.CutPrefix(stream, PlanPrefix)
	return id, ok && id != ""
}

// LeadOf is the lead id of a lead's stream, and whether stream is one.
func LeadOf(stream string) (id string, ok bool) {
	id, ok = strings.CutPrefix(stream, LeadPrefix)
	return id, ok && id != ""
}

// Metadata travels with every event; it never holds secrets.
type Metadata struct {
	CorrelationID string `json:"correlationId,omitempty"`
	CausationID   string `json:"causationId,omitempty"`
	Actor         string `json:"actor,omitempty"`
	TraceParent   string `json:"traceparent,omitempty"`
	TraceState    string `json:"tracestate,omitempty"`
}

// Event is an event as the log publishes it.
type Event struct {
	ID            string
	Stream        string
	Version       int64
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
	Position      int64
}

// Payload is the record value: the event's data and its stream version.
type Payload struct {
	StreamVersion int64           `json:"streamVersion"`
	Data          json.RawMessage `json:"data"`
}

// Encode writes e as a record of the topic: its headers and its value (the
// record key is e.Stream). Metadata.Actor stays in the log.
func Encode(e Event, source string) (headers map[string]string, value []byte, err error) {
	value, err = json.Marshal(Payload{StreamVersion: e.Version, Data: e.Data})
	if err != nil {
		return nil, nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	headers = map[string]string{}
	set := func(k, v string) {
		if v != "" {
			headers[k] = v
		}
	}
	set(HeaderSpecVersion, "1.0")
	set(HeaderID, e.ID)
	set(HeaderSource, source)
	set(HeaderType, e.Type)
	set(HeaderSubject, e.Stream)
	set(HeaderTime, e.RecordedAt.UTC().Format(time.RFC3339Nano))
	set(HeaderContentType, "application/json")
	set(HeaderStreamVersion, strconv.FormatInt(e.Version, 10))
	set(HeaderPosition, strconv.FormatInt(e.Position, 10))
	set(HeaderSchemaVersion, strconv.Itoa(e.SchemaVersion))
	set(HeaderCorrelationID, e.Metadata.CorrelationID)
	set(HeaderCausationID, e.Metadata.CausationID)
	set(HeaderTraceParent, e.Metadata.TraceParent)
	set(HeaderTraceState, e.Metadata.TraceState)
	return headers, value, nil
}

// Decode is Encode's inverse: the event a record carries, or an error when
// the record is not an event of the log.
func Decode(headers map[string]string, value []byte) (Event, error) {
	var p Payload
	if err := json.Unmarshal(value, &p); err != nil {
		return Event{}, fmt.Errorf("record value is not {streamVersion, data}: %w", err)
	}
	e := Event{ID: headers[HeaderID], Stream: headers[HeaderSubject], Type: headers[HeaderType], Data: p.Data,
		Metadata: Metadata{CorrelationID: headers[HeaderCorrelationID], CausationID: headers[HeaderCausationID],
			TraceParent: headers[HeaderTraceParent], TraceState: headers[HeaderTraceState]}}
	var err1, err2, err3 error
	e.Version, err1 = strconv.ParseInt(headers[HeaderStreamVersion], 10, 64)
	e.Position, err2 = strconv.ParseInt(headers[HeaderPosition], 10, 64)
	e.RecordedAt, err3 = time.Parse(time.RFC3339Nano, headers[HeaderTime])
	e.SchemaVersion = SchemaVersion(headers)
	if e.ID == "" || e.Stream == "" || e.Type == "" || len(p.Data) == 0 || errors.Join(err1, err2, err3) != nil ||
		e.Version < 1 || e.Version != p.StreamVersion || e.SchemaVersion < 1 {
		return Event{}, fmt.Errorf("record %q is not an event of the log: %v", e.ID, errors.Join(err1, err2, err3))
	}
	return e, nil
}

// SchemaVersion is the schema version a record's headers name (1 when they
// name none, as records written before the header existed).
func SchemaVersion(headers map[string]string) int {
	v := headers[HeaderSchemaVersion]
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return n
}

// Missing names a required header the record lacks, or "".
func Missing(headers map[string]string) string {
	for _, h := range Required {
		if headers[h] == "" {
			return "header " + h + " is missing"
		}
	}
	return ""
}
