package memory

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/report"
)

func crash(ns, pod, line string, at time.Time) *report.Report {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "api",
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}}}
	return &report.Report{Namespace: ns, Pod: pod, Time: at, TraceID: "t-" + pod,
		Owners:   []collect.Owner{{Kind: "ReplicaSet", Name: "api-1"}, {Kind: "Deployment", Name: "api"}},
		Findings: []analyze.Finding{{Category: "CrashLoopBackOff", Container: "api", Cause: "api crashes", Evidence: []string{"container:api:last", "log:api:previous#L2"}}},
		Source:   &collect.Bundle{Pod: p, Logs: []collect.Logs{{Container: "api", Previous: "start\n" + line + "\n"}}}}
}

func TestRecurringFailureRecognised(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidents", "lab.json")
	s := Open(path, 3)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	if h, err := s.Record(crash("shop", "api-1-a", "db: dial tcp 10.0.0.7:5432: connect: connection refused password=hunter2", t0)); h != nil || err != nil {
		t.Fatalf("first time: %v %v", h, err)
	}
	// another pod, address and secret in the same namespace: the same failure
	r := crash("shop", "api-9-z", "db: dial tcp 10.0.3.1:5432: connect: connection refused password=s3cr3t", t0.Add(time.Hour))
	if h, _ := s.Lookup(r); h == nil || h.Count != 1 || h.LastNamespace != "shop" {
		t.Fatalf("lookup %+v", h)
	}
	// the same text in another namespace is not: one namespace's history
	// never steers another's diagnosis
	if h, _ := s.Lookup(crash("staging", "api-1-a", "db: dial tcp 10.0.0.7:5432: connect: connection refused password=hunter2", t0)); h != nil {
		t.Fatalf("another namespace matched shop's incident: %+v", h)
	}
	h, err := Open(path, 3).Record(r) // a new process reads the file
	if err != nil || h == nil || h.Count != 1 || h.LastPod != "api-1-a" || h.LastWorkload != "Deployment/api" {
		t.Fatalf("second time: %+v %v", h, err)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].Count != 2 || strings.Contains(list[0].Key.Template, "hunter2") || !strings.Contains(list[0].Key.Template, "connection refused") {
		t.Fatalf("incidents %+v", list)
	}
	if got := report.Since(h); !strings.Contains(got, "seen once since 2026-11-20, last on Deployment/api (shop)") {
		t.Errorf("Since = %q", got)
	}
	// a different exit path is a different incident; the store keeps the newest 3
	for i, line := range []string{"panic: a", "x509: unknown authority", "open /x: no such file or directory"} {
		s.Record(crash("shop", "api", line, t0.Add(time.Duration(2+i)*time.Hour)))
	}
	list, _ = s.List()
	if len(list) != 3 || list[0].Key.Template != "open /x: no such file or directory" {
		t.Errorf("bounded store %+v", list)
	}
	for _, inc := range list {
		if strings.Contains(inc.Key.Template, "connection refused") {
			t.Errorf("the oldest incident was kept: %+v", inc)
		}
	}
}

// Two processes recording at once (two stores on one file, each with its
// own in-process mutex) lose no update: the file lock serialises them.
func TestRecordIsLockedAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.json")
	a, b := Open(path, 10), Open(path, 10)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		wg.Add(1)
		go func(s *Store) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := s.Record(crash("shop", "api", "panic: boom", t0)); err != nil {
					t.Error(err)
				}
			}
		}(s)
	}
	wg.Wait()
	list, _ := a.List()
	if len(list) != 1 || list[0].Count != 50 {
		t.Errorf("after 2 × 25 records: %+v", list)
	}
}
