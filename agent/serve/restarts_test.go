package serve

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Each watched container's restart count is exported, init containers
// included, for the agent's namespaces only; a count that grows after the
// caches filled is what the next scrape reads.
func TestRestartCountsExported(t *testing.T) {
	pod := func(ns, name string, restarts int32) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", RestartCount: 1}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "cache", RestartCount: restarts}}}}
	}
	cs := fake.NewSimpleClientset(pod("demo", "cache-1", 6), pod("kube-system", "etcd-0", 9))
	m := NewMetrics()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.WatchRestarts(ctx, cs, []string{"demo"}); err != nil {
		t.Fatal(err)
	}
	got := func() map[string]float64 {
		out := map[string]float64{}
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "lab_agent_container_restarts_total" {
				continue
			}
			for _, mt := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range mt.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				out[l["namespace"]+"/"+l["pod"]+"/"+l["container"]] = mt.GetCounter().GetValue()
			}
		}
		return out
	}
	if g := got(); len(g) != 2 || g["demo/cache-1/cache"] != 6 || g["demo/cache-1/init"] != 1 {
		t.Fatalf("exported %v", g)
	}
	p := pod("demo", "cache-1", 7)
	if _, err := cs.CoreV1().Pods("demo").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && got()["demo/cache-1/cache"] != 7; i++ {
		<-timeAfter()
	}
	if g := got(); g["demo/cache-1/cache"] != 7 {
		t.Errorf("after a restart: %v", g)
	}
}

func timeAfter() <-chan time.Time { return time.After(10 * time.Millisecond) }

// A namespace the agent may not read costs only its own counts: the others
// are still exported, and the error names it (it waits out the 30 s).
func TestRestartCountsSkipAForbiddenNamespace(t *testing.T) {
	cs := fake.NewSimpleClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "cache-1"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "cache", RestartCount: 3}}}})
	cs.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "default" {
			return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("not in the agent's Role"))
		}
		return false, nil, nil
	})
	m := NewMetrics()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := m.WatchRestarts(ctx, cs, []string{"default", "demo"})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 namespaces") || !strings.Contains(err.Error(), "[default]") {
		t.Fatalf("want an error naming default, got %v", err)
	}
	mfs, _ := m.Registry.Gather()
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "lab_agent_container_restarts_total" && len(mf.GetMetric()) == 1
	}
	if !found {
		t.Errorf("demo's counts not exported: %v", mfs)
	}
}
