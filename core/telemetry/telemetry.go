// Package telemetry makes lab's work visible as OpenTelemetry traces: a
// diagnosis is a trace whose id is the one lab prints (and sends to the
// model as X-Lab-Trace-Id), exported over OTLP/HTTP by the OpenTelemetry Go
// SDK when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// or lab.yaml agent.tracing.endpoint) says where. With no exporter
// configured nothing is installed: the global tracer stays OpenTelemetry's
// no-op, and a span costs a function call.
package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"lab.dev/lab/core/version"
)

// Scope is the instrumentation scope of every lab span.
const Scope = "lab.dev/lab"

// Tracer is lab's tracer (OpenTelemetry's global provider: a no-op until
// Setup installs an exporter).
func Tracer() trace.Tracer { return otel.Tracer(Scope) }

// Endpoint is where traces go: the argument (lab.yaml) unless the standard
// OpenTelemetry variables say otherwise, "" for nowhere.
func Endpoint(configured string) string {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if e := strings.TrimSpace(os.Getenv(v)); e != "" {
			return e
		}
	}
	if os.Getenv("OTEL_TRACES_EXPORTER") == "none" {
		return ""
	}
	return configured
}

// Setup installs the OTLP/HTTP exporter when Endpoint(configured) names
// one, and W3C trace context as the propagator; it returns the function
// that flushes and stops it (a no-op when nothing was installed). service
// is service.name ("lab", "lab-agent").
func Setup(ctx context.Context, configured, service string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	ep := Endpoint(configured)
	if ep == "" {
		return func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP endpoint %q: want http(s)://HOST:PORT (OTLP over HTTP, port 4318 by default)", ep)
	}
	// From the environment the SDK reads the variables itself, as the
	// specification says (the base endpoint gets /v1/traces, headers,
	// certificates); lab.yaml's is a base endpoint too.
	var opts []otlptracehttp.Option
	if ep == configured && Endpoint("") == "" {
		path := strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithURLPath(path))
		if u.Scheme == "http" {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", ep, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service), attribute.String("service.version", version.Version)))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithResource(res), sdktrace.WithIDGenerator(IDs{}))
	otel.SetTracerProvider(tp)
	return func(ctx context.Context) error {
		err := tp.Shutdown(ctx)
		otel.SetTracerProvider(trace.NewNoopTracerProvider())
		return err
	}, nil
}

type wantKey struct{}

// WithTraceID makes the next root span started from ctx take traceID (32
// hex digits): lab's trace ids exist before any span (they are printed,
// stored in reports and sent to the model), and the exported trace carries
// the same one. An id that is not 32 hex digits is ignored.
func WithTraceID(ctx context.Context, traceID string) context.Context {
	id, err := trace.TraceIDFromHex(traceID)
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, wantKey{}, id)
}

// IDs is the SDK's ID generator with one difference: a root span takes the
// trace id WithTraceID put in its context.
type IDs struct{}

// NewIDs implements sdktrace.IDGenerator.
func (IDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	tid, ok := ctx.Value(wantKey{}).(trace.TraceID)
	if !ok || !tid.IsValid() {
		_, _ = rand.Read(tid[:])
	}
	return tid, IDs{}.NewSpanID(ctx, tid)
}

// NewSpanID implements sdktrace.IDGenerator.
func (IDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		_, _ = rand.Read(sid[:])
	}
	return sid
}

// TraceID is the trace id of the span in ctx, "" when there is none: the
// id a diagnosis continuing a caller's trace takes as its own.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.TraceID().IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// Start starts a span named name under ctx; when ctx has no span yet the
// span is a root whose trace id is traceID (see WithTraceID).
func Start(ctx context.Context, traceID, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() && traceID != "" {
		ctx = WithTraceID(ctx, traceID)
	}
	return Tracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// Record records err on span: status Error with its message (nothing for nil).
func Record(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

// End records err on span and ends it.
func End(span trace.Span, err error) {
	Record(span, err)
	span.End()
}

// Extract continues the caller's trace from an incoming request's W3C
// traceparent header (nothing when it has none or it is malformed).
func Extract(ctx context.Context, h http.Header) context.Context {
	return propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(h))
}

// NewTraceID is a random 128-bit trace id in hex.
func NewTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
