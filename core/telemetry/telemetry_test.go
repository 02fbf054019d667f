package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A root span takes the trace id lab already printed; its children share
// it; a W3C traceparent makes the work a child of the caller's span.
func TestTraceIDsAndParents(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithIDGenerator(IDs{}))
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(trace.NewNoopTracerProvider())

	id := NewTraceID()
	ctx, root := Start(context.Background(), id, "diagnose")
	_, child := Start(ctx, "ignored-inside-a-trace", "collect")
	child.End()
	root.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[1].SpanContext.TraceID().String() != id || spans[0].SpanContext.TraceID().String() != id ||
		spans[0].Parent.SpanID() != spans[1].SpanContext.SpanID() || spans[1].Parent.IsValid() {
		t.Fatalf("want collect under diagnose in trace %s: %+v", id, spans)
	}
	if TraceID(ctx) != id {
		t.Errorf("TraceID(ctx) = %s, want %s", TraceID(ctx), id)
	}

	exp.Reset()
	caller := "4bf92f3577b34da6a3ce929d0e0e4736"
	h := http.Header{"Traceparent": {"00-" + caller + "-00f067aa0ba902b7-01"}}
	ctx = Extract(context.Background(), h)
	if TraceID(ctx) != caller {
		t.Fatalf("traceparent not continued: %q", TraceID(ctx))
	}
	_, s := Start(ctx, NewTraceID(), "alert")
	s.End()
	got := exp.GetSpans()[0]
	if got.SpanContext.TraceID().String() != caller || got.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("the alert's span is not the caller's child: %+v", got)
	}
	for _, bad := range []string{"", "garbage", "00-" + strings.Repeat("0", 32) + "-00f067aa0ba902b7-01", "00-" + caller + "-0000000000000000-01"} {
		if id := TraceID(Extract(context.Background(), http.Header{"Traceparent": {bad}})); id != "" {
			t.Errorf("traceparent %q taken as %s", bad, id)
		}
	}
	if ctx := WithTraceID(context.Background(), "not-hex"); ctx.Value(wantKey{}) != nil {
		t.Error("a malformed id was kept")
	}
}

// Setup exports to the configured OTLP/HTTP endpoint (the variables first),
// refuses one that is not http(s)://HOST, and installs nothing without one.
func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"} {
		t.Setenv(v, "")
	}
	var posts atomic.Int32
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		posts.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx := context.Background()
	stop, err := Setup(ctx, "", "lab")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Fatal("a provider was installed with no endpoint")
	}
	stop(ctx)
	if _, err := Setup(ctx, "collector:4318", "lab"); err == nil {
		t.Error("an endpoint without a scheme was taken")
	}
	for _, how := range []string{"lab.yaml", "env"} {
		posts.Store(0)
		configured := srv.URL
		if how == "env" {
			configured = "http://127.0.0.1:1" // the variable wins
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
		}
		stop, err := Setup(ctx, configured, "lab")
		if err != nil {
			t.Fatal(err)
		}
		_, s := Start(ctx, NewTraceID(), "diagnose")
		s.End()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := stop(sctx); err != nil {
			t.Errorf("%s: shutdown: %v", how, err)
		}
		cancel()
		if posts.Load() == 0 || path.Load() != "/v1/traces" {
			t.Errorf("%s: %d posts, last to %v; want /v1/traces", how, posts.Load(), path.Load())
		}
	}
}
