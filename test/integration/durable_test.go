//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/agent/serve"
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
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LAB_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d (replay: LAB_KILL_SEED=%d)", seed, seed)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ns := "serve-durable"
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	for i := 0; i < n; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("d-%03d", i)}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "registry.local/w:1"}}}}
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := &labEnv{t: t, bin: buildLab(t), home: t.TempDir()}
	e.cfg = filepath.Join(e.home, "lab.yaml")
	os.WriteFile(e.cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: durable}\nagent: {namespaces: ["+ns+"]}\n"), 0o644)
	journal, reports := filepath.Join(e.home, "journal"), filepath.Join(e.home, "reports")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	url := "http://" + addr

	var srv *exec.Cmd
	var logs bytes.Buffer
	var logMu sync.Mutex
	start := func() {
		srv = e.cmd("agent", "serve", "--insecure-no-auth", "--no-llm", "--listen", addr, "--journal", journal, "--reports", reports,
			"--dedupe", "0", "--concurrency", "2", "--queue", "12", "--rate", "10", "--burst", "2", "--predict-every", "0",
			"--kubeconfig", cluster.Kubeconfig)
		w := &lockedWriter{mu: &logMu, b: &logs}
		srv.Stdout, srv.Stderr = w, w
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; {
			if r, err := http.Get(url + "/healthz"); err == nil {
				r.Body.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("lab agent serve did not start:\n%s", logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	start()

	// The senders: one alert every 40 ms, each retried as Alertmanager
	// retries a webhook until it gets a 2xx.
	var got503, refused atomic.Int64
	var wg sync.WaitGroup
	startsAt := time.Now().UTC()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				m := serve.Message{Data: &template.Data{Status: "firing", Alerts: template.Alerts{{Status: "firing", StartsAt: startsAt, Fingerprint: fmt.Sprintf("%016x", i),
					Labels: template.KV{"alertname": "KubePodNotReady", "namespace": ns, "pod": fmt.Sprintf("d-%03d", i)}}}}, Version: "4"}
				body, _ := json.Marshal(m)
				back := 100 * time.Millisecond
				for ctx.Err() == nil {
					resp, err := http.Post(url+"/alerts", "application/json", bytes.NewReader(body))
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode/100 == 2 {
							return
						}
						if resp.StatusCode != http.StatusServiceUnavailable {
							t.Errorf("alert %d: HTTP %d (Alertmanager would not retry it)", i, resp.StatusCode)
							return
						}
						got503.Add(1)
					} else {
						refused.Add(1)
					}
					time.Sleep(back)
					back = min(2*back, time.Second)
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
		srv.Process.Kill()
		srv.Wait()
		start()
	}
	t.Logf("killed %d times, each after %s", kills, strings.Join(at, ", "))
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the senders did not get every alert accepted in time")
	}

	reportsFor := func() map[string]int {
		per := map[string]int{}
		files, _ := filepath.Glob(filepath.Join(reports, "*-alert-*.json"))
		for _, f := range files {
			base := filepath.Base(f)
			i := strings.Index(base, "-"+ns+"-")
			j := strings.Index(base, "-alert-")
			if i >= 0 && j > i {
				per[base[i+len(ns)+2:j]]++
			}
		}
		return per
	}
	var per map[string]int
	for deadline := time.Now().Add(3 * time.Minute); ; {
		if per = reportsFor(); len(per) == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := 0; i < n; i++ {
		if c := per[fmt.Sprintf("d-%03d", i)]; c != 1 {
			t.Errorf("alert on d-%03d: %d reports, want exactly 1", i, c)
		}
	}
	resp, err := http.Get(url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var st serve.Status
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Dropped != 0 || st.JournalEntries != 0 || st.Failed != 0 {
		t.Errorf("status after the burst: %+v", st)
	}
	t.Logf("%d alerts, %d kills: %d reports; answered 503 %d times, refused (server down) %d times; last server: %+v", n, kills, len(per), got503.Load(), refused.Load(), st)
	if got503.Load() == 0 || refused.Load() == 0 {
		t.Errorf("the run did not test what it is for: %d answers 503 (a full journal), %d refused (a killed server)", got503.Load(), refused.Load())
	}

	// SIGTERM: drains and exits by itself.
	srv.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		srv.Process.Kill()
		t.Errorf("still running 30s after SIGTERM")
	}
	if code, out, _ := e.run("agent", "serve", "--status", "--listen", addr); code == 0 || out != "" {
		t.Errorf("--status answered with no server: %q", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
