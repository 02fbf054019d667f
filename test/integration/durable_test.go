//go:build integration

package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/test/harness"
)

// The alert path loses nothing: `lab agent serve` (the real binary, against
// the real API server) takes a burst of alerts at a fixed rate from senders
// that follow Alertmanager's retry rules (a 5xx or no answer is retried
// with backoff; a 2xx is final), while it is killed with SIGKILL at random
// instants and restarted on the same journal. Every alert that got a 2xx
// is reported exactly once (the file sink names a report by its alert),
// every one that got a 503 was retried and reported, nothing is dropped,
// and SIGTERM drains and exits. The seed and the kill instants are logged;
// replay with LAB_KILL_SEED.
func TestServeLosesNoAlertAcrossKills(t *testing.T) {
	const n, kills = 60, 6
	rng := killSeed(t)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ns := "serve-durable"
	podsIn(ctx, t, ns, "d-", n)
	srv, home, reports := agentServer(t, ns, "--insecure-no-auth", "--queue", "12")
	cfg := filepath.Join(home, "lab.yaml")

	// The senders: one alert every 40 ms, each retried as Alertmanager
	// retries a webhook until it gets a 2xx.
	send := &harness.Sender{URL: srv.URL()}
	var wg sync.WaitGroup
	startsAt := time.Now().UTC()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if _, err := send.Send(ctx, harness.AlertBody(ns, fmt.Sprintf("d-%03d", i), i, startsAt)); err != nil {
					t.Errorf("alert %d: %v", i, err)
				}
			}(i)
			time.Sleep(40 * time.Millisecond)
		}
	}()
	// The killer, meanwhile (the burst takes 2.4 s to send and, at 10
	// diagnoses a second, 6 s to report): SIGKILL at random instants,
	// restarted at once.
	var at []string
	for k := 0; k < kills; k++ {
		d := time.Duration(200+rng.IntN(1000)) * time.Millisecond
		time.Sleep(d)
		at = append(at, d.String())
		srv.Kill()
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("killed %d times, each after %s", kills, strings.Join(at, ", "))
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the senders did not get every alert accepted in time")
	}

	reported := oneReportEach(t, reports, ns, "d-", n)
	st, err := srv.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Dropped != 0 || st.JournalEntries != 0 || st.Failed != 0 {
		t.Errorf("status after the burst: %+v", st)
	}
	t.Logf("%d alerts, %d kills: %d reports; answered 503 %d times, refused (server down) %d times; last server: %+v", n, kills, reported, send.Got503.Load(), send.Refused.Load(), st)
	if send.Got503.Load() == 0 || send.Refused.Load() == 0 {
		t.Errorf("the run did not test what it is for: %d answers 503 (a full journal), %d refused (a killed server)", send.Got503.Load(), send.Refused.Load())
	}

	// SIGTERM: drains and exits by itself.
	p := srv.Process()
	p.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, srv.Log())
		}
	case <-time.After(30 * time.Second):
		p.Process.Kill()
		t.Errorf("still running 30s after SIGTERM")
	}
	e := &labEnv{t: t, bin: srv.Bin, home: home, cfg: cfg}
	if code, out, _ := e.run("agent", "serve", "--status", "--listen", srv.Addr); code == 0 || out != "" {
		t.Errorf("--status answered with no server: %q", out)
	}
}

// The same with a real Alertmanager as the sender: alerts fired at its API
// (as Prometheus fires them) reach `lab agent serve` through the webhook
// receiver lab's AlertmanagerConfig describes — grouped by namespace and
// pod, with the bearer token from a file — while the agent is SIGKILLed
// and restarted; Alertmanager's own retries (each group_interval) and the
// agent's journal give every alert exactly one report.
func TestAlertmanagerToAgentAcrossKills(t *testing.T) {
	const n, kills = 30, 4
	rng := killSeed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := "serve-am"
	podsIn(ctx, t, ns, "am-", n)
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	srv, _, reports := agentServer(t, ns, "--token-file", token, "--queue", "8")
	defer srv.Kill()
	am, err := harness.StartAlertmanager(ctx, t.TempDir(), srv.URL()+"/alerts", token)
	if err != nil {
		t.Fatal(err)
	}
	defer am.Stop()

	startsAt := time.Now().UTC()
	fire := func(from, to int) {
		var alerts []template.Alert
		for i := from; i < to; i++ {
			alerts = append(alerts, template.Alert{StartsAt: startsAt, Labels: template.KV{"alertname": "KubePodCrashLooping", "namespace": ns, "pod": fmt.Sprintf("am-%03d", i), "severity": "warning"}})
		}
		if err := am.Fire(ctx, alerts); err != nil {
			t.Fatal(err)
		}
	}
	var at []string
	// Each round: the agent is killed (work in flight and queued is lost
	// with the process, kept by the journal), a batch fires while it is
	// down (Alertmanager's sends fail and are retried), it comes back and
	// works a random while before the next kill.
	for k := 0; k < kills; k++ {
		srv.Kill()
		fire(k*n/kills, (k+1)*n/kills)
		down := time.Duration(300+rng.IntN(1200)) * time.Millisecond
		time.Sleep(down)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		up := time.Duration(100+rng.IntN(700)) * time.Millisecond
		time.Sleep(up)
		at = append(at, "down "+down.String()+", up "+up.String())
	}
	t.Logf("killed %d times: %s", kills, strings.Join(at, "; "))
	oneReportEach(t, reports, ns, "am-", n)
	// Requests are Alertmanager's attempts (its retry stage retries a
	// failed request with backoff before a notification counts as failed).
	sent := am.Metric("alertmanager_notifications_total", `integration="webhook"`)
	failed := am.Metric("alertmanager_notification_requests_failed_total", `integration="webhook"`)
	st, _ := srv.Status()
	t.Logf("Alertmanager: %v notifications, %v failed requests (retried); agent's last run: %+v", sent, failed, st)
	if sent < n || failed == 0 {
		t.Errorf("Alertmanager sent %v notifications for %d alert groups, %v failed: every batch was fired at a killed agent, so some must have failed and been retried", sent, n, failed)
	}
	if st.Dropped != 0 || st.JournalEntries != 0 {
		t.Errorf("agent status: %+v", st)
	}
}

// agentServer starts `lab agent serve` (the real binary, rules only, a
// journal and a reports folder in a fresh LAB_HOME, diagnosing every alert
// of namespace ns, 2 workers at 10 diagnoses a second) with args added, on
// the shared control plane. It returns the server, its home and its
// reports folder.
func agentServer(t *testing.T, ns string, args ...string) (*harness.AgentServer, string, string) {
	t.Helper()
	home := t.TempDir()
	cfg, reports := filepath.Join(home, "lab.yaml"), filepath.Join(home, "reports")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: "+ns+"}\nagent: {namespaces: ["+ns+"]}\n"), 0o644)
	srv := &harness.AgentServer{Bin: buildLab(t), Env: []string{"LAB_HOME=" + home, "NO_COLOR=1"},
		Args: append([]string{"-c", cfg, "--no-llm", "--journal", filepath.Join(home, "journal"), "--reports", reports,
			"--dedupe", "0", "--concurrency", "2", "--rate", "10", "--burst", "2", "--predict-every", "0",
			"--kubeconfig", cluster.Kubeconfig}, args...)}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	return srv, home, reports
}

// oneReportEach waits (up to 3 minutes) until every pod PREFIX000… of ns
// has a report in the folder, then a moment more for a late duplicate,
// and checks each has exactly one; it returns how many pods have one.
func oneReportEach(t *testing.T, reports, ns, prefix string, n int) int {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); len(harness.ReportsPerPod(reports, ns)) < n && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a late duplicate would show now
	per := harness.ReportsPerPod(reports, ns)
	for i := 0; i < n; i++ {
		if c := per[fmt.Sprintf("%s%03d", prefix, i)]; c != 1 {
			t.Errorf("alert on %s%03d: %d reports, want exactly 1", prefix, i, c)
		}
	}
	return len(per)
}

// killSeed is the random source of a kill test, its seed logged (replay:
// LAB_KILL_SEED).
func killSeed(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LAB_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (replay: LAB_KILL_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// podsIn creates namespace ns with n pods PREFIX000… on the shared control
// plane, and removes them when the test ends: the kwok nodes' pod capacity
// is shared by every test.
func podsIn(ctx context.Context, t *testing.T, ns, prefix string, n int) {
	t.Helper()
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	t.Cleanup(func() { deleteNamespace(t, ns) })
	for i := 0; i < n; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%03d", prefix, i)}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "registry.local/w:1"}}}}
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// deleteNamespace deletes ns's pods at once and the namespace, and waits
// (up to a minute) until its pods are gone.
func deleteNamespace(t *testing.T, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	zero := int64(0)
	pods := cluster.Client.CoreV1().Pods(ns)
	pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	for ctx.Err() == nil {
		if l, err := pods.List(ctx, metav1.ListOptions{}); err == nil && len(l.Items) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("pods of %s still there after a minute", ns)
}
