//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/agent/serve"
)

func post(t *testing.T, url string, body []byte) serve.AlertResponse {
	t.Helper()
	resp, err := http.Post(url+"/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ar serve.AlertResponse
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("HTTP %d: %s", resp.StatusCode, b)
	}
	json.NewDecoder(resp.Body).Decode(&ar)
	return ar
}

// An Alertmanager webhook (fixture in Alertmanager's own format) for a
// crash-looping pod becomes a report on disk and on a Slack-compatible
// webhook; the duplicate is not diagnosed twice; resolved and non-pod alerts
// are ignored; metrics and health answer.
func TestServeAlertmanagerWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := cluster.Apply(ctx, scenario(t, "crashloop-exit1"), "serve-app")
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("../fixtures/alertmanager/crashlooping.json")
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.ReplaceAll(fixture, []byte("POD_NAME"), []byte(pods[0].Name))

	var slackMu sync.Mutex
	var slackMsgs []string
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		slackMu.Lock()
		slackMsgs = append(slackMsgs, m["text"])
		slackMu.Unlock()
	}))
	defer slack.Close()
	dir := t.TempDir()
	diag := func(ctx context.Context, tg serve.Target) (*report.Report, error) {
		return agent.Diagnose(ctx, cluster.Client, tg.Namespace, tg.Pod, agent.Options{NoLLM: true})
	}
	m := serve.NewMetrics()
	s := serve.New(serveOptions(func(o *serve.Options) { o.Rate, o.Burst = 50, 10 }), diag, m, serve.FileSink{Dir: dir}, serve.SlackSink{URL: slack.URL})
	sctx, stop := context.WithCancel(ctx)
	s.Run(sctx)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	if ar := post(t, srv.URL, payload); ar.Accepted != 1 || ar.Ignored != 2 {
		t.Fatalf("first webhook: %+v", ar)
	}
	if ar := post(t, srv.URL, payload); ar.Duplicate != 1 || ar.Accepted != 0 {
		t.Fatalf("duplicate webhook: %+v", ar)
	}
	var files []string
	deadline := time.Now().Add(30 * time.Second)
	for len(files) < 2 && time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(dir, "*"))
		time.Sleep(100 * time.Millisecond)
	}
	if len(files) != 2 {
		t.Fatalf("report files: %v", files)
	}
	md, _ := os.ReadFile(strings.TrimSuffix(files[0], filepath.Ext(files[0])) + ".md")
	if !strings.Contains(string(md), "CrashLoopBackOff") || !strings.Contains(string(md), "DATABASE_URL") {
		t.Errorf("report:\n%s", md)
	}
	slackMu.Lock()
	if len(slackMsgs) != 1 || !strings.Contains(slackMsgs[0], "KubePodCrashLooping") {
		t.Errorf("slack messages: %q", slackMsgs)
	}
	slackMu.Unlock()
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/metrics" {
			for _, want := range []string{`lab_agent_alerts_total{outcome="accepted"} 1`, `lab_agent_alerts_total{outcome="duplicate"} 1`, `lab_agent_diagnoses_total{result="human-operator"} 1`} {
				if !strings.Contains(string(b), want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		}
	}
	if resp, _ := http.Post(srv.URL+"/alerts", "application/json", strings.NewReader("{not json")); resp.StatusCode != 400 {
		t.Errorf("bad payload: HTTP %d", resp.StatusCode)
	}
	stop()
	s.Wait()
}

// A burst of 100 alerts for 100 pods: every one diagnosed, never more than
// the configured concurrency at once, and a full queue answers 503 instead
// of piling up.
func TestServeBurstBoundedConcurrency(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := "serve-burst"
	podsIn(ctx, t, ns, "w-", 100)
	var inFlight, peak, done atomic.Int64
	diag := func(ctx context.Context, tg serve.Target) (*report.Report, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer inFlight.Add(-1)
		defer done.Add(1)
		return agent.Diagnose(ctx, cluster.Client, tg.Namespace, tg.Pod, agent.Options{NoLLM: true})
	}
	s := serve.New(serve.Options{Concurrency: 3, Queue: 100, Rate: 1000, Burst: 100}, diag, serve.NewMetrics())
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	s.Run(sctx)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	msg := serve.Message{Data: &template.Data{Status: "firing"}, Version: "4"}
	for i := 0; i < 100; i++ {
		msg.Alerts = append(msg.Alerts, template.Alert{Status: "firing", Labels: template.KV{"alertname": "KubePodNotReady", "namespace": ns, "pod": fmt.Sprintf("w-%03d", i)}})
	}
	body, _ := json.Marshal(msg)
	if ar := post(t, srv.URL, body); ar.Accepted != 100 {
		t.Fatalf("burst: %+v", ar)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for done.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if done.Load() != 100 {
		t.Fatalf("%d of 100 diagnosed", done.Load())
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want 2..3", p)
	}
	// A tiny queue with a stalled worker answers the overflow 503 with
	// Retry-After (Alertmanager retries it), never 2xx-and-drop.
	block := make(chan struct{})
	slow := serve.New(serve.Options{Concurrency: 1, Queue: 2, Rate: 1000, Burst: 100}, func(ctx context.Context, tg serve.Target) (*report.Report, error) {
		<-block
		return nil, fmt.Errorf("stalled")
	}, serve.NewMetrics())
	slow.Run(sctx)
	srv2 := httptest.NewServer(slow.Handler())
	defer srv2.Close()
	msg.Alerts = msg.Alerts[:10]
	resp, err := http.Post(srv2.URL+"/alerts", "application/json", bytes.NewReader(mustJSON(msg)))
	if err != nil {
		t.Fatal(err)
	}
	var ar serve.AlertResponse
	json.NewDecoder(resp.Body).Decode(&ar)
	resp.Body.Close()
	close(block)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || ar.Accepted != 2 || ar.Busy != 8 {
		t.Errorf("overflow: HTTP %d Retry-After %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), ar)
	}
	t.Logf("burst: 100 diagnosed, peak concurrency %d; overflow %+v", peak.Load(), ar)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// serveOptions is serve.DefaultOptions with what a test changes.
func serveOptions(set func(*serve.Options)) serve.Options {
	o := serve.DefaultOptions()
	set(&o)
	return o
}
