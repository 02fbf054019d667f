package analyze

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/agent/collect"
)

// fakePrometheus answers /api/v1/query_range like Prometheus: a memory ramp
// for container app (unit level; the integration tests use real components).
func fakePrometheus(t *testing.T) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		q := r.Form.Get("query")
		var values [][2]any
		now := time.Now().Unix()
		for i := 0; i < 30; i++ {
			v := 0.0
			switch {
			case strings.Contains(q, "memory"):
				v = float64(80+14*i) * (1 << 20)
			case strings.Contains(q, "restarts"):
				v = float64(i / 10)
			default:
				v = 0.2
			}
			values = append(values, [2]any{now - int64(60*(30-i)), fmt.Sprint(v)})
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix",
			"result": []any{map[string]any{"metric": map[string]string{"container": "app"}, "values": values}}}})
	}))
}

func oomBundle() *collect.Bundle {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ledger-1", Namespace: "demo"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ledger:1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}}}
	return &collect.Bundle{Pod: p}
}

func TestOOMWithPrometheusRamp(t *testing.T) {
	srv := fakePrometheus(t)
	defer srv.Close()
	prom, err := collect.NewPrometheus(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b := oomBundle()
	if b.Metrics, err = prom.PodSeries(context.Background(), "demo", "ledger-1", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	b.Evidence = collect.BuildEvidence(b)
	var mem string
	for _, e := range b.Evidence {
		if e.ID == "metric:memory:app" {
			mem = e.Summary
		}
	}
	if !strings.Contains(mem, "80MiB → 486MiB") {
		t.Errorf("memory evidence: %q", mem)
	}
	f := Analyze(b)
	if len(f) == 0 || f[0].Category != "OOMKilled" {
		t.Fatalf("findings %+v", f)
	}
	if !strings.Contains(f[0].Cause, "peak of 486MiB") || !strings.Contains(f[0].Cause, "leak") || !strings.Contains(strings.Join(f[0].Evidence, ","), "metric:memory:app") {
		t.Errorf("OOM finding ignores the metrics: %+v", f[0])
	}
}

func TestExitCodeMeaning(t *testing.T) {
	for code, want := range map[int32]string{137: "SIGKILL", 143: "SIGTERM", 127: "not found", 1: "application error", 139: "SIGSEGV", 130: "signal 2", 42: "application-defined"} {
		if got := ExitCodeMeaning(code); !strings.Contains(got, want) {
			t.Errorf("%d: %q lacks %q", code, got, want)
		}
	}
}

func TestNoFindingOnHealthyPod(t *testing.T) {
	b := oomBundle()
	b.Pod.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{}
	b.Pod.Status.ContainerStatuses[0].Ready = true
	if f := Analyze(b); len(f) != 0 {
		t.Errorf("healthy pod has findings: %+v", f)
	}
}
