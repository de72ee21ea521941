// Package telemetry is tenantflow's OpenTelemetry tracing. One provisioning
// is one trace: the HTTP command's span context is stored in each event's
// metadata (W3C traceparent/tracestate), the relay publishes it as
// ce_traceparent, and each handler continues the trace of the event that
// triggered it and stores its own span context in the events it appends.
//
// Off by default. Setting OTEL_TRACES_EXPORTER=otlp (or an
// OTEL_EXPORTER_OTLP_ENDPOINT / ..._TRACES_ENDPOINT) exports spans over
// OTLP/HTTP, configured by the standard OTEL_* variables.
package telemetry

import (
	"context"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is the tracer every tenantflow span comes from.
func Tracer() trace.Tracer { return otel.Tracer("github.com/tenantflow/tenantflow") }

var propagator = propagation.TraceContext{}

// Enabled reports whether the OTEL_* environment asks for an exporter.
func Enabled() bool {
	return os.Getenv("OTEL_TRACES_EXPORTER") == "otlp" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the OTLP exporter when Enabled; the returned function
// flushes and stops it.
func Setup(ctx context.Context) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagator)
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx) // endpoint, headers, TLS from OTEL_EXPORTER_OTLP_*
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp)) // service name from OTEL_SERVICE_NAME
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Carrier returns the W3C traceparent and tracestate of ctx's span ("" when
// there is none).
func Carrier(ctx context.Context) (traceparent, tracestate string) {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c.Get("traceparent"), c.Get("tracestate")
}

// Continue returns ctx carrying the remote span context of traceparent.
func Continue(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}

// TraceID is the trace id of ctx's span, for log lines ("" without one).
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}
