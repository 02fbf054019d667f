package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/core/telemetry"
	"lab.dev/lab/core/ui"
)

// An alert posted with a W3C traceparent is diagnosed in the sender's
// trace (the journal keeps it with the alert); one without starts a trace
// of its own; a malformed one is ignored. The sinks are spans of it.
func TestWebhookContinuesTheSendersTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithIDGenerator(telemetry.IDs{})))
	defer otel.SetTracerProvider(trace.NewNoopTracerProvider())
	got := make(chan string, 4)
	s := New(Options{Rate: 100, Burst: 10, Dedupe: 0}, func(ctx context.Context, tg Target) (*report.Report, error) {
		got <- telemetry.TraceID(ctx)
		return &report.Report{TraceID: telemetry.TraceID(ctx)}, nil
	}, NewMetrics(), &LogSink{W: io.Discard})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Run(ctx)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	caller := "4bf92f3577b34da6a3ce929d0e0e4736"
	for i, tp := range []string{"00-" + caller + "-00f067aa0ba902b7-01", "", "00-nonsense"} {
		body := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A","namespace":"shop","pod":"p` + string(rune('0'+i)) + `"}}]}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/alerts", strings.NewReader(body))
		if tp != "" {
			req.Header.Set("Traceparent", tp)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("post: %v %v", err, resp)
		}
		resp.Body.Close()
		var id string
		select {
		case id = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("not diagnosed")
		}
		switch {
		case i == 0 && id != caller:
			t.Errorf("with the sender's traceparent: trace %s, want %s", id, caller)
		case i > 0 && (id == "" || id == caller):
			t.Errorf("traceparent %q: trace %q, want a new one", tp, id)
		}
	}
	s.Drain(5 * time.Second)
	var alertSpan, sinkSpan bool
	for _, sp := range exp.GetSpans().Snapshots() {
		if sp.Name() == "alert A" && sp.SpanContext().TraceID().String() == caller && sp.Parent().SpanID().String() == "00f067aa0ba902b7" {
			alertSpan = true
		}
		if strings.HasPrefix(sp.Name(), "sink ") && sp.SpanContext().TraceID().String() == caller {
			sinkSpan = true
		}
	}
	if !alertSpan || !sinkSpan {
		t.Errorf("the alert's span under the sender's (%v) and its sink's (%v): %v", alertSpan, sinkSpan, exp.GetSpans())
	}
}

// Every event about an alert — received, each failed attempt, diagnosed —
// is one JSON line carrying one trace id, the one the diagnosis and the
// report get: the sender's with a traceparent, else one fixed when the
// alert is accepted, the same across retries, with no exporter installed.
func TestEventsCarryTheAlertsTrace(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	calls := 0
	s := New(Options{Rate: 100, Burst: 10, Logger: ui.EventLog(w, true), Attempts: 3}, func(ctx context.Context, tg Target) (*report.Report, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("model timed out")
		}
		return &report.Report{TraceID: tg.Trace, Findings: []analyze.Finding{{Category: "OOMKilled", Severity: analyze.Critical, Container: "cache"}}}, nil
	}, NewMetrics())
	s.retryBase = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Run(ctx)
	if got := s.Accept(Target{Namespace: "demo", Pod: "cache-1", Alert: "LabContainerRestarted"}); got != "accepted" {
		t.Fatal(got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(syncString(&mu, &logs), `"msg":"diagnosed"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.Drain(time.Second)
	traces, msgs := map[string]bool{}, []string{}
	for _, line := range strings.Split(strings.TrimSpace(syncString(&mu, &logs)), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON event: %q", line)
		}
		traces[fmt.Sprint(ev["trace_id"])] = true
		msgs = append(msgs, fmt.Sprint(ev["msg"]))
		if ev["msg"] == "diagnosed" && (ev["category"] != "OOMKilled" || ev["pod"] != "cache-1" || ev["findings"] != float64(1)) {
			t.Errorf("the diagnosed event: %v", ev)
		}
	}
	if strings.Join(msgs, ",") != "alert received,diagnosis failed,diagnosed" {
		t.Errorf("events %v", msgs)
	}
	if len(traces) != 1 || traces[""] || traces["<nil>"] {
		t.Errorf("one trace id for every event of one alert, got %v", traces)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func syncString(mu *sync.Mutex, b *strings.Builder) string {
	mu.Lock()
	defer mu.Unlock()
	return b.String()
}
