//go:build integration

package integration

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/test/harness"
)

// The real scheduler sees kwok nodes' nvidia.com/gpu capacity: a pod asking
// for more GPUs than any node has stays Pending, Unschedulable.
func TestGPUPodUnschedulable(t *testing.T) {
	ctx := testCtx(t)
	s, err := harness.LoadScenario("../../manifests/scenarios/pending-gpu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cluster.Apply(ctx, s, "harness-gpu")
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	for _, c := range pods[0].Status.Conditions {
		if c.Type == corev1.PodScheduled {
			msg = c.Message
		}
	}
	if !strings.Contains(msg, "Insufficient nvidia.com/gpu") {
		t.Errorf("scheduler message: %q", msg)
	}
}

// A second control plane starts beside the shared one (no fixed ports), and
// Stop ends every process and removes its temp dir.
func TestCleanShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := harness.Start(ctx, harness.Options{Nodes: []harness.NodeSpec{{Name: "solo"}}, NoControllers: true})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, name := range []string{"etcd", "kube-apiserver", "kwok"} {
		p := c.Proc(name)
		if p == nil {
			t.Fatalf("no %s", name)
		}
		pids = append(pids, p.PID())
	}
	dir := c.Dir
	c.Stop()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("pid %d still alive after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", dir, err)
	}
}
