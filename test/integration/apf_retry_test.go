//go:build integration

package integration

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/test/harness"
)

// The agent's client honours 429 + Retry-After: on an API server with few
// seats and lab's APF objects sized to one seat and one queue slot, a burst
// of agent requests is partly rejected by the server (the metric proves it)
// and every request still succeeds — client-go waits the Retry-After the
// server sends and tries again — and so do diagnoses run in parallel.
func TestAgentHonours429(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := harness.Start(ctx, harness.Options{Nodes: harness.ScenarioNodes(),
		APIServerArgs: []string{"--max-requests-inflight=4", "--max-mutating-requests-inflight=2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	l := agentLab(false)
	l.Agent.APF.NominalConcurrencyShares, l.Agent.APF.Queues, l.Agent.APF.HandSize, l.Agent.APF.QueueLengthLimit = 1, 1, 1, 1
	pods, err := c.Apply(ctx, scenario(t, "crashloop-exit1"), "rbac-app")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ { // so a LIST takes long enough for requests to overlap
		c.Client.CoreV1().Pods("rbac-app").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "filler-" + strconv.Itoa(i)},
			Spec: corev1.PodSpec{NodeName: "missing", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
	}
	a, err := kube.NewApplier(c.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := deploy.Ready(ctx, c.Client, l); ok {
		t.Errorf("agent ready before it was installed: %s", why)
	}
	if _, err := deploy.Install(ctx, a, l); err != nil {
		t.Fatal(err)
	}
	waitAPF(t, ctx, c)
	if ok, why := deploy.Ready(ctx, c.Client, l); !ok {
		t.Errorf("agent not ready after install: %s", why)
	}
	before, _ := deploy.ReadAPF(ctx, c.Client)

	// The client as the in-cluster agent builds it: client-go defaults.
	ag := agentClientOn(t, ctx, c, l)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 2; j++ {
				if _, err := ag.CoreV1().Pods("rbac-app").List(ctx, metav1.ListOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := agent.Diagnose(ctx, ag, "rbac-app", pods[0].Name, agent.Options{NoLLM: true, Budget: 1500, LogBytes: 64 << 10}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("agent request failed under APF pressure: %v", err)
	}
	after, err := deploy.ReadAPF(ctx, c.Client)
	if err != nil {
		t.Fatal(err)
	}
	rejected := after.Rejected - before.Rejected
	if rejected <= 0 {
		t.Fatalf("the server rejected none of the agent's requests: the burst did not exercise 429 (status %+v)", after)
	}
	t.Logf("lab-agent level: %.0f requests rejected with 429 (%v), all retried to success; nominal seats %.0f",
		rejected, after.RejectedByReason, after.NominalSeats)
}

func waitAPF(t *testing.T, ctx context.Context, c *harness.Cluster) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if st, err := deploy.ReadAPF(ctx, c.Client); err == nil && st.Dangling == "False" && st.NominalSeats > 0 {
			return
		}
	}
	t.Fatal("the agent's FlowSchema did not take effect in 30s")
}
