package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/eventstore/wire"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Repository keeps one kind of aggregate, each in the stream prefix+id.
type Repository[A interface{ Version() int64 }] struct {
	store     eventstore.Streams
	prefix    string
	rehydrate func([]domain.Event) (A, error)
	histories *histories // nil: every Get reads and decodes the whole stream
}

// Tenants keeps tenants in streams tenant-<id>.
func Tenants(s eventstore.Streams) Repository[*domain.Tenant] {
	return Repository[*domain.Tenant]{store: s, prefix: wire.TenantPrefix, rehydrate: domain.RehydrateTenant}
}

// Leads keeps leads in streams lead-<id>.
func Leads(s eventstore.Streams) Repository[*domain.Lead] {
	return Repository[*domain.Lead]{store: s, prefix: wire.LeadPrefix, rehydrate: domain.RehydrateLead}
}

// TenantConfigs keeps tenants' configurations in streams tenantconfig-<id>.
func TenantConfigs(s eventstore.Streams) Repository[*domain.TenantConfig] {
	return Repository[*domain.TenantConfig]{store: s, prefix: wire.TenantConfigPrefix, rehydrate: domain.RehydrateTenantConfig}
}

// Plans keeps the plan catalogue in streams plan-<id>.
func Plans(s eventstore.Streams) Repository[*domain.CatalogPlan] {
	return Repository[*domain.CatalogPlan]{store: s, prefix: wire.PlanPrefix, rehydrate: domain.RehydrateCatalogPlan}
}

// Exists reports whether aggregate id has any event, reading only its
// stream's version (no fold).
func (r Repository[A]) Exists(ctx context.Context, id string) (bool, error) {
	v, err := r.store.StreamVersion(ctx, r.Stream(id))
	return v > 0, err
}

// Stream names the stream of aggregate id.
func (r Repository[A]) Stream(id string) string { return r.prefix + id }

// Get folds the aggregate; domain.ErrNotFound when its stream is empty.
func (r Repository[A]) Get(ctx context.Context, id string) (A, error) {
	var zero A
	stream := r.Stream(id)
	known, ok := r.histories.get(stream)
	var (
		stored []eventstore.Event
		err    error
	)
	if ok {
		// From the newest remembered event, read again to see it is still there.
		stored, err = r.store.LoadFrom(ctx, stream, known.version)
		if err == nil && (len(stored) == 0 || stored[0].Version != known.version || stored[0].ID != known.lastID) {
			// The stream is not the one remembered (a log restored from a
			// backup): forget it and fold it whole.
			r.histories.forget(stream)
			known, ok = history{}, false
		}
	}
	if ok {
		stored = stored[1:]
	} else if err == nil {
		stored, err = r.store.Load(ctx, stream)
	}
	if err != nil {
		return zero, err
	}
	if len(stored) == 0 {
		return r.rehydrate(known.events) // nothing new (none at all: ErrNotFound)
	}
	decoded := make([]domain.Event, len(stored))
	for i, e := range stored {
		if decoded[i], err = domain.DecodeVersion(e.Type, e.SchemaVersion, e.Data); err != nil {
			return zero, fmt.Errorf("%s version %d: %w", e.Stream, e.Version, err)
		}
	}
	last := stored[len(stored)-1]
	known = known.extended(decoded, last.Version, last.ID)
	r.histories.put(stream, known)
	return r.rehydrate(known.events)
}

// Saw tells a remembering repository of an event of one of its streams
// read elsewhere: a record of the topic, which only the relay writes, from
// the log. When it is the next after what the repository remembers of its
// stream (or its first), it is decoded (event, called then) and remembered
// too, so that GetSeen of a handler reacting to it reads nothing.
func (r Repository[A]) Saw(stream string, version int64, event func() (eventstore.Event, error)) {
	known, ok := r.histories.get(stream)
	if !ok && version == 1 && r.histories != nil {
		ok = true // a stream's first event: remembered from its start
	}
	if !ok || version != known.version+1 {
		return
	}
	e, err := event()
	if err != nil || e.Stream != stream || e.Version != version {
		return // the next Get reads the log, and says what is wrong
	}
	d, err := domain.DecodeVersion(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return
	}
	r.histories.put(stream, known.extended([]domain.Event{d}, e.Version, e.ID))
}

// GetSeen folds aggregate id as it stands at version at least: from memory
// when the repository remembers that much of its stream (Saw), reading
// nothing; otherwise as Get. A decision on it is appended at the version it
// was folded at, so when the log has moved on meanwhile the append fails
// with a *ConcurrencyError and the decision is taken again on a Get
// (Record, RecordOn).
func (r Repository[A]) GetSeen(ctx context.Context, id string, version int64) (A, error) {
	if known, ok := r.histories.get(r.Stream(id)); ok && known.version >= version {
		return r.rehydrate(known.events)
	}
	return r.Get(ctx, id)
}

// Remembering is r remembering the decoded events of up to n streams it
// folded, so that a Get reads and decodes only what was appended since (and
// the newest event it remembers, to see the stream is the one it knew). The
// log is append-only, so what a stream held stays what it holds. The
// handlers fold a tenant for every record they react to, and decoding its
// whole stream each time was a quarter of tenantd's CPU in make profile.
// Folds never write into the events they fold (the domain clones what it
// keeps), so the remembered events are shared by concurrent Gets.
func (r Repository[A]) Remembering(n int) Repository[A] {
	r.histories = &histories{max: n, m: map[string]history{}}
	return r
}

// histories are the decoded events of the streams a Repository folded
// last, by stream; at max streams one is forgotten for each new one.
type histories struct {
	mu  sync.Mutex
	max int
	m   map[string]history
}

type history struct {
	events  []domain.Event // decoded, version 1 first; never written to
	version int64
	lastID  string
}

// extended is known with more events after it, the newest at version with
// id lastID: in a new slice, as remembered slices are shared.
func (known history) extended(more []domain.Event, version int64, lastID string) history {
	events := make([]domain.Event, 0, len(known.events)+len(more))
	events = append(append(events, known.events...), more...)
	return history{events: events, version: version, lastID: lastID}
}

func (h *histories) get(stream string) (history, bool) {
	if h == nil {
		return history{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	known, ok := h.m[stream]
	return known, ok
}

func (h *histories) put(stream string, known history) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.m[stream]; ok && old.version >= known.version {
		return // a concurrent Get remembered as much or more
	}
	if _, ok := h.m[stream]; !ok && len(h.m) >= h.max {
		for other := range h.m { // any one: Go's map order
			delete(h.m, other)
			break
		}
	}
	h.m[stream] = known
}

func (h *histories) forget(stream string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, stream)
}

// Create appends the first events of a new aggregate; the stream must not
// exist yet (a *eventstore.ConcurrencyError otherwise).
func (r Repository[A]) Create(ctx context.Context, id string, md eventstore.Metadata, events []domain.Event) error {
	return r.append(ctx, id, eventstore.NoStream, md, events)
}

// Update loads the aggregate, lets decide return its new events, and appends
// them at the version it was loaded at. decide's error is returned as it is,
// and nothing is written then.
func (r Repository[A]) Update(ctx context.Context, id string, md eventstore.Metadata, decide func(A) ([]domain.Event, error)) (A, error) {
	agg, err := r.Get(ctx, id)
	if err != nil {
		return agg, err
	}
	loaded := agg.Version()
	events, err := decide(agg)
	if err != nil {
		return agg, err
	}
	return agg, r.append(ctx, id, eventstore.Exactly(loaded), md, events)
}

// UpdateRetried is Update tried again, up to five times in all, while
// another writer appends to the stream meanwhile (a *ConcurrencyError):
// decide runs on the fresh aggregate each time, so a caller's command does
// not fail for a race it did not cause.
func (r Repository[A]) UpdateRetried(ctx context.Context, id string, md eventstore.Metadata, decide func(A) ([]domain.Event, error)) (A, error) {
	var agg A
	var err error
	for try := 0; try < 5; try++ {
		agg, err = r.Update(ctx, id, md, decide)
		var ce *eventstore.ConcurrencyError
		if !errors.As(err, &ce) {
			break
		}
	}
	return agg, err
}

func (r Repository[A]) append(ctx context.Context, id string, expected eventstore.ExpectedVersion, md eventstore.Metadata, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	batch, err := encode(events, md)
	if err != nil {
		return err
	}
	ctx, span := appendSpan(ctx, r.Stream(id), events)
	defer span.End()
	_, err = r.store.Append(ctx, r.Stream(id), expected, batch...)
	return traced(span, err)
}

// appendSpan starts the span of an append.
func appendSpan(ctx context.Context, stream string, events []domain.Event) (context.Context, trace.Span) {
	types := make([]string, len(events))
	for i, e := range events {
		types[i] = e.EventType()
	}
	return telemetry.Tracer().Start(ctx, "append "+strings.Join(types, ","),
		trace.WithAttributes(attribute.String("tenantflow.stream", stream)))
}

func traced(span trace.Span, err error) error {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// idSpace derives deterministic event ids (UUID v5).
var idSpace = uuid.MustParse("6f0b8e8e-3d3b-4e59-9a43-7c1f3a0e2b51")

// IDs derives n event ids from key: whoever decides the same thing from the
// same trigger derives the same ids, so only one of them can append it.
func IDs(key string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewSHA1(idSpace, fmt.Appendf(nil, "%s/%d", key, i)).String()
	}
	return ids
}

// AppendAt appends events decided on the aggregate as loaded at version,
// with the given event ids (handlers derive them from what triggered them,
// so that a redelivered trigger can only re-append the same events, which
// the store accepts without writing). ids must match events one to one.
func (r Repository[A]) AppendAt(ctx context.Context, id string, version int64, md eventstore.Metadata, events []domain.Event, ids []string) error {
	if len(ids) != len(events) {
		return fmt.Errorf("append to %s: %d ids for %d events", r.Stream(id), len(ids), len(events))
	}
	batch, err := encode(events, md)
	if err != nil {
		return err
	}
	for i := range batch {
		batch[i].ID = ids[i]
	}
	ctx, span := appendSpan(ctx, r.Stream(id), events)
	defer span.End()
	_, err = r.store.Append(ctx, r.Stream(id), eventstore.Exactly(version), batch...)
	if err == nil {
		r.appended(r.Stream(id), version, batch)
	}
	return traced(span, err)
}

// appended remembers what this repository appended at version when it
// remembers the stream up to there: a record redelivered before the
// appended events' own records come back is then folded with them, so a
// handler does not act twice (a second welcome mail) on a fold without its
// own outcome. Decoded from what was stored, as a Get would.
func (r Repository[A]) appended(stream string, version int64, batch []eventstore.NewEvent) {
	known, ok := r.histories.get(stream)
	if !ok || known.version != version {
		return
	}
	decoded := make([]domain.Event, len(batch))
	for i, b := range batch {
		var err error
		if decoded[i], err = domain.DecodeVersion(b.Type, b.SchemaVersion, b.Data); err != nil {
			return
		}
	}
	r.histories.put(stream, known.extended(decoded, version+int64(len(batch)), batch[len(batch)-1].ID))
}

func encode(events []domain.Event, md eventstore.Metadata) ([]eventstore.NewEvent, error) {
	batch := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		batch[i] = eventstore.NewEvent{ID: uuid.NewString(), Type: e.EventType(), SchemaVersion: domain.SchemaVersion(e.EventType()), Data: data, Metadata: md}
	}
	return batch, nil
}

// KeyStream names the stream that reserves a tenant key.
func KeyStream(key string) string { return "tenantkey-" + key }

// CreateTenant appends a new tenant's first events together with the
// reservation of its key, in one transaction: of concurrent creations with
// one key exactly one succeeds; the others get *domain.KeyTakenError.
func CreateTenant(ctx context.Context, s eventstore.Streams, t *domain.Tenant, md eventstore.Metadata, events []domain.Event) error {
	return createTenant(ctx, s, t, md, events)
}

// CreateLeadTenant appends a lead's new tenant (as CreateTenant) and the
// lead's assignment events in one transaction, at the version the lead was
// loaded at. Of concurrent calls for one lead exactly one succeeds; the
// others get *domain.LeadHasTenantError naming the tenant that won.
func CreateLeadTenant(ctx context.Context, s eventstore.Streams, lead *domain.Lead, leadEvents []domain.Event, t *domain.Tenant, md eventstore.Metadata, tenantEvents []domain.Event) error {
	batch, err := encode(leadEvents, md)
	if err != nil {
		return err
	}
	leads := Leads(s)
	loaded := lead.Version() - int64(len(leadEvents)) // the command already applied them
	err = createTenant(ctx, s, t, md, tenantEvents,
		eventstore.StreamAppend{Stream: leads.Stream(lead.ID()), Expected: eventstore.Exactly(loaded), Events: batch})
	var ce *eventstore.ConcurrencyError
	if errors.As(err, &ce) && ce.Stream == leads.Stream(lead.ID()) {
		if now, getErr := leads.Get(ctx, lead.ID()); getErr == nil && now.TenantID() != "" {
			return &domain.LeadHasTenantError{LeadID: lead.ID(), TenantID: now.TenantID()}
		}
	}
	return err
}

func createTenant(ctx context.Context, s eventstore.Streams, t *domain.Tenant, md eventstore.Metadata, events []domain.Event, more ...eventstore.StreamAppend) error {
	tenantEvents, err := encode(events, md)
	if err != nil {
		return err
	}
	keyEvents, err := encode([]domain.Event{domain.KeyReserved{Key: t.Key(), TenantID: t.ID()}}, md)
	if err != nil {
		return err
	}
	parts := append([]eventstore.StreamAppend{
		{Stream: Tenants(s).Stream(t.ID()), Expected: eventstore.NoStream, Events: tenantEvents},
		{Stream: KeyStream(t.Key()), Expected: eventstore.NoStream, Events: keyEvents},
	}, more...)
	ctx, span := appendSpan(ctx, Tenants(s).Stream(t.ID()), events)
	defer span.End()
	err = traced(span, s.AppendStreams(ctx, parts...))
	var ce *eventstore.ConcurrencyError
	if errors.As(err, &ce) && ce.Stream == KeyStream(t.Key()) {
		return &domain.KeyTakenError{Key: t.Key(), TenantID: keyHolder(ctx, s, ce.Stream)}
	}
	return err
}

// TenantIDByKey names the tenant holding key, or "" when none does (or the
// key's stream cannot be read).
func TenantIDByKey(ctx context.Context, s eventstore.Streams, key string) string {
	return keyHolder(ctx, s, KeyStream(key))
}

// keyHolder names the tenant a key stream reserves the key for, or "" when
// that cannot be read (the 409 then just does not name it).
func keyHolder(ctx context.Context, s eventstore.Streams, stream string) string {
	stored, err := s.Load(ctx, stream)
	if err != nil || len(stored) == 0 {
		return ""
	}
	e, err := domain.DecodeVersion(stored[0].Type, stored[0].SchemaVersion, stored[0].Data)
	if kr, ok := e.(*domain.KeyReserved); err == nil && ok {
		return kr.TenantID
	}
	return ""
}
