package analyze

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"lab.dev/lab/agent/collect"
)

func logBundle(prev, cur string) *collect.Bundle {
	return &collect.Bundle{Pod: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}},
		Logs: []collect.Logs{{Container: "app", Previous: prev, Current: cur}}, Collected: time.Now()}
}

func TestDecisiveLine(t *testing.T) {
	for _, c := range []struct{ name, prev, cur, want, id string }{
		{"a specific cause beats the panic it leads to",
			"starting\nWARN DATABASE_URL is not set\npanic: nil pointer dereference\n", "", "DATABASE_URL is not set", "log:app:previous#L2"},
		{"an OS error without an error word",
			"", "loading\nopen /etc/x.yaml: no such file or directory\n", "open /etc/x.yaml", "log:app:current#L2"},
		{"the first error, not the last line",
			"ERROR kafka: topic \"t\" does not exist\nINFO heartbeat\nINFO shutting down\n", "", "does not exist", "log:app:previous#L1"},
		{"info-level JSON text is data",
			`{"level":"info","msg":"body: panic: exit 137"}` + "\n" + `{"level":"error","msg":"dial tcp 10.0.0.1:5432: connect: connection refused"}` + "\n", "", "connection refused", "log:app:previous#L2"},
	} {
		got, ok := decisive(logBundle(c.prev, c.cur), "app")
		if !ok || !strings.Contains(got.Excerpt, c.want) || got.ID != c.id {
			t.Errorf("%s: got %+v (ok %v), want %q at %s", c.name, got, ok, c.want, c.id)
		}
	}
	if _, ok := decisive(logBundle("", "all good\nserving\n"), "app"); ok {
		t.Error("a log without a clue must give none")
	}
}

func TestExcerptKeepsTheMatch(t *testing.T) {
	line := strings.Repeat("x", 300) + " x509: certificate signed by unknown authority " + strings.Repeat("y", 300)
	got := excerpt(line, 301, 200)
	if !strings.Contains(got, "unknown authority") || len(got) > 210 || !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") {
		t.Errorf("excerpt = %q", got)
	}
	if excerpt("short", 0, 200) != "short" {
		t.Error("a short line must stay whole")
	}
}

func TestSettledAndPresent(t *testing.T) {
	now := time.Now()
	b := logBundle("", "ERROR dial tcp db:5432: connect: connection refused\nINFO connected\nINFO serving\nINFO GET / 200\n")
	b.Pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-2 * time.Hour))}}}}}
	m := LogMatch{ID: "log:app:current#L1"}
	if !settled(b) || present(b, m, depRefused) {
		t.Error("a Ready pod that recovered from refused connections must have no present failure")
	}
	b.Logs[0].Current += "ERROR dial tcp db:5432: connect: connection refused\n"
	if !present(b, m, depRefused) {
		t.Error("an error among the last lines is present")
	}
	b.Pod.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(now.Add(-5 * time.Minute))}
	if settled(b) {
		t.Error("a container that terminated 5 minutes ago is not settled")
	}
	b.Pod.Status.Phase = corev1.PodSucceeded
	if present(b, m, depRefused) {
		t.Error("a completed pod's log errors are history")
	}
}

func TestPortPair(t *testing.T) {
	b := logBundle("", "ledger ready, listening on 0.0.0.0:9090\n")
	b.Pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 9090}}
	b.Pod.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
	got, fix := portPair(b, "app", "startup")
	if fix == nil || fix.Value != 9090 || strings.Join(fix.Path, ".") != "startupProbe.tcpSocket.port" {
		t.Errorf("fix %+v", fix)
	}
	for _, want := range []string{"dials port 8080", "declares port 9090", "listens on 9090", "point the probe at 9090"} {
		if !strings.Contains(got, want) {
			t.Errorf("portPair = %q, want %q in it", got, want)
		}
	}
	b.Pod.Spec.Containers[0].StartupProbe.TCPSocket.Port = intstr.FromString("http")
	if got, _ := portPair(b, "app", "startup"); got != "" {
		t.Errorf("a probe on the declared named port is no mismatch: %q", got)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{25 * time.Minute: "25m", 90 * time.Minute: "1h30m", 3 * time.Hour: "3h00m"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// A decisive line that holds a secret is quoted redacted.
func TestCausesAreRedacted(t *testing.T) {
	b := logBundle("connecting\nFATAL db: password authentication failed, DB_PASSWORD=hunter2-Zebra\n", "")
	b.Pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}}
	fs := Analyze(b)
	if len(fs) == 0 || strings.Contains(fs[0].Cause, "hunter2") || !strings.Contains(fs[0].Cause, "[REDACTED") {
		t.Fatalf("findings %+v", fs)
	}
}
