package handlers_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/platform/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// One provisioning is one trace: from the command's span through every
// step's handler, in order, recorded with the SDK's in-memory exporter.
func TestOneProvisioningIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	f := newFlow(t)
	f.tier = "pooled"
	tn := f.provisionPending(t, "t")
	ctx, root := telemetry.Tracer().Start(context.Background(), "POST /tenants/{id}/provision")
	md := eventstore.Metadata{}
	md.TraceParent, md.TraceState = telemetry.Carrier(ctx)
	sub := domain.Subscription{ID: "s", SubscriberID: "c", PlanID: "p", StartDate: time.Now(), Plan: domain.Plan{ID: "p", Name: "P", Tier: "pooled"}}
	if _, err := f.tenants.Update(ctx, tn.ID(), md, func(t *domain.Tenant) ([]domain.Event, error) { return t.RequestProvisioning(sub, domain.DefaultTiers) }); err != nil {
		t.Fatal(err)
	}
	root.End()
	f.waitFor(t, tn.ID(), "ACTIVE", 90*time.Second, settled)
	_ = tp.ForceFlush(context.Background())

	traceID := root.SpanContext().TraceID()
	var handlers []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanContext().TraceID() == traceID && len(s.Name()) > 8 && s.Name()[:8] == "handler " {
			handlers = append(handlers, s)
		}
	}
	sort.Slice(handlers, func(i, j int) bool { return handlers[i].StartTime().Before(handlers[j].StartTime()) })
	var order []string
	for _, s := range handlers {
		name := s.Name()[len("handler step."):]
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	want := domain.ProvisioningSteps // a provisioning runs no change's step
	if !slices.Equal(order, want) {
		t.Fatalf("handler spans of the trace, in order: %v\nwant %v", order, want)
	}
	var relayed bool
	for _, s := range exp.GetSpans().Snapshots() {
		relayed = relayed || (s.SpanContext().TraceID() == traceID && s.Name() == "relay publish "+domain.TypeProvisioningRequested)
	}
	if !relayed {
		t.Fatal("the relay's publish is not in the trace")
	}
}
