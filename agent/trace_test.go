package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"lab.dev/lab/agent/llm"
	"lab.dev/lab/core/telemetry"
)

// A diagnosis is one trace under the id the report prints: collect,
// analyze, gitops, digest and explain under the root, each model call a
// span of its own with the error that made it retry, the backoff as an
// event and the token counts the model reported.
func TestDiagnosisIsATrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithIDGenerator(telemetry.IDs{})))
	defer otel.SetTracerProvider(trace.NewNoopTracerProvider())
	calls := 0
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat" {
			http.NotFound(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		if calls++; calls == 1 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"model":"m","message":{"role":"assistant","content":"{}"},"done":true,"done_reason":"stop","prompt_eval_count":321,"eval_count":12}`+"\n")
	}))
	defer model.Close()
	c, err := llm.New(model.URL, "m", 10*time.Second, llm.Retry{Attempts: 3, Sleep: func(context.Context, time.Duration) error { return nil }}, &llm.Breaker{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: "shop", UID: "p1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.local/api:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}}}
	r, err := Diagnose(context.Background(), fake.NewSimpleClientset(pod), "shop", "api-1", Options{LLM: c,
		Logs: func(context.Context, *corev1.Pod, *corev1.PodLogOptions) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("allocating\n")), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		byName[s.Name()] = append(byName[s.Name()], s)
		if s.SpanContext().TraceID().String() != r.TraceID {
			t.Errorf("span %s in trace %s, not the report's %s", s.Name(), s.SpanContext().TraceID(), r.TraceID)
		}
	}
	root := byName["diagnose"]
	if len(root) != 1 || root[0].Parent().IsValid() {
		t.Fatalf("want one root diagnose span: %v", byName)
	}
	for _, phase := range []string{"collect", "analyze", "gitops", "digest", "explain"} {
		if s := byName[phase]; len(s) != 1 || s[0].Parent().SpanID() != root[0].SpanContext().SpanID() {
			t.Errorf("phase %s is not one child of diagnose: %v", phase, s)
		}
	}
	chats := byName["chat m"]
	if len(chats) != 2 || byName["explain"] == nil {
		t.Fatalf("want two model calls under explain: %v", byName)
	}
	explain := byName["explain"][0]
	for i, s := range chats {
		if s.Parent().SpanID() != explain.SpanContext().SpanID() {
			t.Errorf("chat %d is not under explain", i)
		}
	}
	if chats[0].Status().Code != codes.Error || chats[1].Status().Code == codes.Error {
		t.Errorf("the first call failed (503), the second answered: %v, %v", chats[0].Status(), chats[1].Status())
	}
	attrs := map[string]any{}
	for _, a := range chats[1].Attributes() {
		attrs[string(a.Key)] = a.Value.AsInterface()
	}
	if attrs["gen_ai.usage.input_tokens"] != int64(321) || attrs["gen_ai.usage.output_tokens"] != int64(12) || attrs["gen_ai.request.model"] != "m" {
		t.Errorf("the answering call's attributes: %v", attrs)
	}
	if ev := explain.Events(); len(ev) != 1 || ev[0].Name != "backoff" {
		t.Errorf("explain's events: %v, want one backoff", ev)
	}
}
