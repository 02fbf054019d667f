//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/llm"
	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/core/config"
	"lab.dev/lab/gitops"
	"lab.dev/lab/test/harness"
)

// faultProxy sits in front of the real Ollama and misbehaves on purpose, on
// the explanation calls (chat requests with a format); it counts and keeps
// only those.
type faultProxy struct {
	mu       sync.Mutex
	mode     string // "", "500", "429", "slow", "cut"
	failures int    // how many calls misbehave before passing through (-1 = all)
	calls    int
	bodies   []string
	traces   []string
	srv      *httptest.Server
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &faultProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.URL.Path != "/api/chat" || !bytes.Contains(body, []byte(`"format"`)) {
			rp.ServeHTTP(w, r) // lab's reading of the model's window: not what these tests break
			return
		}
		p.mu.Lock()
		p.calls++
		p.bodies = append(p.bodies, string(body))
		p.traces = append(p.traces, r.Header.Get(llm.TraceHeader))
		misbehave := p.mode != "" && (p.failures < 0 || p.calls <= p.failures)
		mode := p.mode
		p.mu.Unlock()
		if !misbehave {
			rp.ServeHTTP(w, r)
			return
		}
		switch mode {
		case "500":
			http.Error(w, `{"error":"model runner crashed"}`, http.StatusInternalServerError)
		case "429":
			http.Error(w, `{"error":"server busy"}`, http.StatusTooManyRequests)
		case "slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		case "cut":
			// A streamed answer that stops mid-JSON and drops the connection.
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `{"model":"x","message":{"role":"assistant","content":"{\"summ"},"done":false}`+"\n")
			w.(http.Flusher).Flush()
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) set(mode string, failures int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.failures, p.calls, p.bodies, p.traces = mode, failures, 0, nil, nil
}

func fastRetry() llm.Retry {
	return llm.Retry{Attempts: 5, Base: 10 * time.Millisecond, Multiplier: 2, Jitter: 0.1}
}

func newBreaker() *llm.Breaker {
	return &llm.Breaker{Ratio: 0.2, Window: time.Minute, MinRequests: 5, Cooldown: time.Minute}
}

func client(t *testing.T, endpoint, model string, timeout time.Duration, b *llm.Breaker) *llm.Client {
	c, err := llm.New(endpoint, model, timeout, fastRetry(), b)
	if err != nil {
		t.Fatal(err)
	}
	// The tiny test model writes one byte per token: short text fields keep
	// its constrained answers complete within num_predict.
	c.Options = map[string]any{"num_predict": 768, "seed": 3}
	c.MaxText = 12
	return c
}

func scenario(t *testing.T, name string) *harness.Scenario {
	s, err := harness.LoadScenario("../../manifests/scenarios/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The real model path: a complete report whose model part cites only known
// evidence; the trace id travels with the request; no seeded secret and no
// log-driven action reaches or leaves the model.
func TestDiagnoseWithRealOllama(t *testing.T) {
	o := sharedOllama(t)
	proxy := newFaultProxy(t, o.URL)
	ao := agent.Options{LLM: client(t, proxy.srv.URL, o.Model, time.Minute, newBreaker()), Whitelist: []string{"rollout-restart"}, Budget: 1200}
	r := applyAndDiagnose(t, scenario(t, "secrets-injection"), "llm-secrets", ao)
	if r.Model.Answer == nil || r.Model.Meta == nil {
		t.Fatalf("the model did not answer: %+v", r.Model)
	}
	// The test model's weights are random: its answer fills the schema with
	// random tokens, which must not become the root cause nor run an action;
	// the report keeps the rules' cause.
	if r.Model.Mode != "human-operator" || !strings.Contains(r.Model.Reason, "not prose") {
		t.Errorf("a random-token answer was kept: mode %s, reason %q, answer %+v", r.Model.Mode, r.Model.Reason, *r.Model.Answer)
	}
	if p := r.Primary(); p == nil || r.RootCause() != p.Cause {
		t.Errorf("root cause %q is not the rules' %v", r.RootCause(), p)
	}
	if a := r.Model.Answer.Remediation.Action; a != "none" {
		t.Errorf("the dropped answer's action %q survived", a)
	}
	if r.Model.Meta.Attempts < 1 || r.Model.Meta.PromptTokens == 0 {
		t.Errorf("meta: %+v", r.Model.Meta)
	}
	known := map[string]bool{}
	for _, e := range r.Evidence {
		known[e.ID] = true
	}
	for _, id := range r.Model.Answer.Evidence {
		base, _, _ := strings.Cut(id, "#")
		if !known[base] {
			t.Errorf("answer cites unknown evidence %s", id)
		}
	}
	if a := r.Model.Answer.Remediation.Action; a != "none" && a != "rollout-restart" {
		t.Errorf("non-whitelisted action %q survived", a)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.bodies) == 0 {
		t.Fatal("no request reached the model")
	}
	for i, body := range proxy.bodies {
		for _, secret := range []string{"Pa55w0rd-Zebra", "eyJhbGciOiJIUzI1NiJ9", "wJalrXUtnFEMI", "ZmFrZS1zaWduYXR1cmU"} {
			if strings.Contains(body, secret) {
				t.Errorf("request %d carried secret %q", i, secret)
			}
		}
		// JSON escapes < and > as \u003c and \u003e.
		// The system prompt names the tags too: the frame is the last pair.
		open, inj, end := strings.LastIndex(body, `\u003clog-data\u003e`), strings.Index(body, "ignore all previous instructions"), strings.LastIndex(body, `\u003c/log-data\u003e`)
		if open < 0 || inj < open || end < inj {
			t.Errorf("request %d: the injected log line is not inside the <log-data> frame (%d %d %d)", i, open, inj, end)
		}
		if proxy.traces[i] != r.TraceID {
			t.Errorf("request %d trace header %q, report trace %q", i, proxy.traces[i], r.TraceID)
		}
	}
	if r.Prompt.Tokens > 1200 {
		t.Errorf("prompt %d tokens over the 1200 budget", r.Prompt.Tokens)
	}
	t.Logf("model answer, after validation: %+v; %s (prompt %d tokens, naive %d)", *r.Model.Answer, r.Model.Reason, r.Prompt.Tokens, r.Prompt.NaiveTokens)
}

// 500s, 429s and a stream cut mid-answer are retried until the real model
// answers; a down Ollama and one slower than the timeout exhaust the retries,
// open the breaker, and the report comes out from the rules alone.
func TestLLMRetryAndBreaker(t *testing.T) {
	o := sharedOllama(t)
	proxy := newFaultProxy(t, o.URL)
	s := scenario(t, "crashloop-exit1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := cluster.Apply(ctx, s, "llm-faults")
	if err != nil {
		t.Fatal(err)
	}
	diagnose := func(c *llm.Client) (mode string, attempts int, reason string) {
		// Each diagnosis gets its own deadline, far above its retries' worst
		// case: one 2-minute budget for the whole test ran out under load
		// (a CPU-only model answering slowly), which is not what is tested.
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		r, err := agent.Diagnose(dctx, cluster.Client, "llm-faults", pods[0].Name, agent.Options{LLM: c, Whitelist: []string{"rollout-restart"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Primary() == nil || r.Primary().Category != "CrashLoopBackOff" {
			t.Fatalf("rules lost: %+v", r.Findings)
		}
		if r.Model.Meta != nil {
			attempts = r.Model.Meta.Attempts
		}
		if r.Model.Answer != nil { // the model answered (its random tokens are then dropped)
			return "answered", attempts, r.Model.Reason
		}
		return r.Model.Mode, attempts, r.Model.Reason
	}
	for _, tc := range []struct {
		mode     string
		failures int
	}{{"500", 2}, {"429", 1}, {"cut", 2}} {
		t.Run("recovers-from-"+tc.mode, func(t *testing.T) {
			proxy.set(tc.mode, tc.failures)
			mode, attempts, reason := diagnose(client(t, proxy.srv.URL, o.Model, time.Minute, newBreaker()))
			if mode != "answered" || attempts != tc.failures+1 {
				t.Errorf("mode %s after %d attempts (%s), want an answer after %d", mode, attempts, reason, tc.failures+1)
			}
		})
	}
	t.Run("slow-times-out-then-breaker-opens", func(t *testing.T) {
		proxy.set("slow", -1)
		b := newBreaker()
		mode, attempts, reason := diagnose(client(t, proxy.srv.URL, o.Model, 200*time.Millisecond, b))
		if mode != "human-operator" || attempts != 5 || !strings.Contains(reason, "timed out") {
			t.Errorf("slow: mode %s attempts %d reason %s", mode, attempts, reason)
		}
		if b.State() != llm.Open {
			t.Errorf("breaker %s after 5 failures in a row", b.State())
		}
		before := proxy.calls
		mode, attempts, reason = diagnose(client(t, proxy.srv.URL, o.Model, 200*time.Millisecond, b))
		_ = attempts
		if mode != "human-operator" || !strings.Contains(reason, "breaker open") || proxy.calls != before {
			t.Errorf("open breaker still called the model: mode %s reason %s calls %d→%d", mode, reason, before, proxy.calls)
		}
	})
	t.Run("down", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		mode, attempts, reason := diagnose(client(t, "http://"+addr, o.Model, time.Second, newBreaker()))
		if mode != "human-operator" || attempts != 5 || !strings.Contains(reason, "refused") {
			t.Errorf("down: mode %s attempts %d reason %s", mode, attempts, reason)
		}
	})
}

// chatBodies are the proxied /api/chat requests, decoded.
func (p *faultProxy) chatBodies(t *testing.T) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, b := range p.bodies {
		var m map[string]any
		if json.Unmarshal([]byte(b), &m) == nil && m["messages"] != nil {
			out = append(out, m)
		}
	}
	return out
}

// A prompt the model's context cannot hold is shrunk (the digest, never the
// instructions), num_ctx is sent, and the model reads the whole prompt: its
// own count of prompt tokens matches what lab measured it would be.
func TestModelContextShrinksTheDigest(t *testing.T) {
	o := sharedOllama(t)
	proxy := newFaultProxy(t, o.URL)
	c := client(t, proxy.srv.URL, o.Model, time.Minute, newBreaker())
	// The crash loop of noisy-first-error, with 4,000 distinct log lines
	// (no template collapses them): far more than 8,192 tokens of log.
	sc := *scenario(t, "noisy-first-error")
	rnd := rand.New(rand.NewSource(5))
	word := func() string {
		b := make([]byte, 4+rnd.Intn(6))
		for i := range b {
			b[i] = byte('a' + rnd.Intn(26))
		}
		return string(b)
	}
	var log strings.Builder
	log.WriteString("INFO ingest starting\nERROR kafka: topic \"orders-v2\" does not exist; falling back to polling\n")
	for i := 0; i < 4000; i++ {
		fmt.Fprintf(&log, "WARN skipped record from %s: field %s %s %s\n", word(), word(), word(), word())
	}
	sc.Logs = []kwok.LogFiles{{Container: "ingest", Previous: log.String()}}
	ao := agent.Options{LLM: c, Budget: 6000}
	r := applyAndDiagnose(t, &sc, "llm-window", ao)
	if r.Model.Meta == nil {
		t.Fatalf("the model was not asked: %+v", r.Model)
	}
	if !r.Prompt.Shrunk || r.Prompt.ModelContext != 8192 || r.Prompt.TokensPerChar <= 0 {
		t.Fatalf("prompt not fitted to the test model's 8192-token context: %+v", r.Prompt)
	}
	if !strings.Contains(r.Prompt.Text, "Findings from the detectors") || !strings.Contains(r.Prompt.Text, "untrusted log data") {
		t.Errorf("the instructions were cut:\n%s", r.Prompt.Text)
	}
	bodies := proxy.chatBodies(t)
	last := bodies[len(bodies)-1]
	opts, _ := last["options"].(map[string]any)
	predict := 768
	want := float64(len(r.Prompt.Text)) * r.Prompt.TokensPerChar
	got := float64(r.Model.Meta.PromptTokens)
	n, _ := opts["num_ctx"].(float64)
	if int(n) != r.Model.Meta.NumCtx || n > 8192 || got+float64(predict) > n {
		t.Errorf("num_ctx sent %v (meta %d): must hold the %v prompt tokens and a %d-token answer, within 8192", n, r.Model.Meta.NumCtx, got, predict)
	}
	if r.Prompt.DigestDropped == 0 || got < 0.8*want || got > 1.2*want {
		t.Errorf("the model read %v prompt tokens; lab expected about %.0f (digest dropped %d): cut, or not shrunk", got, want, r.Prompt.DigestDropped)
	}
	var md bytes.Buffer
	r.Markdown(&md)
	if !strings.Contains(md.String(), "lowered to fit the model's 8192-token context") {
		t.Errorf("the report does not say the prompt was shrunk:\n%s", md.String())
	}
	t.Logf("prompt %d est. tokens (budget 6000 → fitted), model read %v tokens, %.2f tokens/char, digest dropped %d", r.Prompt.Tokens, got, r.Prompt.TokensPerChar, r.Prompt.DigestDropped)
}

// An answer cut by num_predict is not a transient failure: one more try with
// twice the room, not five identical requests; the rules still answer.
func TestCutAnswerRetriedOnceWithMoreRoom(t *testing.T) {
	o := sharedOllama(t)
	proxy := newFaultProxy(t, o.URL)
	c := client(t, proxy.srv.URL, o.Model, time.Minute, newBreaker())
	c.Options = map[string]any{"num_predict": 6, "seed": 3}
	r := applyAndDiagnose(t, scenario(t, "crashloop-oom"), "llm-cut", agent.Options{LLM: c})
	if r.Model.Meta == nil || r.Model.Meta.Attempts != 2 {
		t.Fatalf("attempts %+v, want 2 (one retry with more room)", r.Model.Meta)
	}
	var predicts []float64
	for _, b := range proxy.chatBodies(t) {
		if _, ok := b["format"]; !ok {
			continue // the window measurement
		}
		opts, _ := b["options"].(map[string]any)
		n, _ := opts["num_predict"].(float64)
		predicts = append(predicts, n)
	}
	if len(predicts) != 2 || predicts[0] != 6 || predicts[1] != 12 {
		t.Errorf("num_predict of the calls %v, want [6 12]", predicts)
	}
	if r.Model.Mode != "human-operator" || r.RootCause() != r.Primary().Cause || !strings.Contains(r.Model.Reason, "num_predict") {
		t.Errorf("mode %s, reason %q, root cause %q", r.Model.Mode, r.Model.Reason, r.RootCause())
	}
}

// Runbooks that lab gitops init wrote into a repository are retrieved for
// the findings of different failure classes, cited in the report, quoted to
// the real model, and ranked with its embeddings too.
func TestRunbooksCitedInDiagnoses(t *testing.T) {
	repo := t.TempDir()
	l := config.Default()
	l.GitOps.Repo = repo
	if _, err := gitops.InitRepo(repo, l, "http://git.example/lab.git", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "runbooks", "payments.md"), []byte("# Payments team\n\n## Ledger pods killed for memory\nOur ledger needs 1Gi; page #payments before raising it.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := agent.LoadRunbooks(l)
	if err != nil || len(ix.Sections) < 26 {
		t.Fatalf("%d sections from %s: %v", len(ix.Sections), repo, err)
	}
	o := sharedOllama(t)
	for name, want := range map[string]string{
		"image-tag-typo":       "images.md#Image not found: a tag or repository that does not exist",
		"readiness-wrong-port": "probes.md#",
		"crashloop-oom":        "memory.md#OOMKilled",
	} {
		ao := agent.Options{NoLLM: true, Runbooks: ix}
		r := applyAndDiagnose(t, scenario(t, name), "rb-"+name, ao)
		found := false
		for _, h := range r.Runbooks {
			found = found || (strings.HasPrefix(h.Ref(), want) && h.Source == filepath.Join(repo, "runbooks"))
		}
		if !found {
			t.Errorf("%s: runbooks %v, want %s… from the repository among them", name, r.Runbooks, want)
		}
		if name == "crashloop-oom" && (len(r.Runbooks) == 0 || r.Runbooks[0].File != "payments.md") {
			t.Errorf("the team's runbook about the ledger workload is not first: %v", r.Runbooks)
		}
		var md bytes.Buffer
		r.Markdown(&md)
		if !strings.Contains(md.String(), "From the team's runbooks") {
			t.Errorf("%s: the post-mortem does not cite the runbooks", name)
		}
	}
	// With the model: the best section is in the prompt, and the ranking used its embeddings.
	c := client(t, o.URL, o.Model, time.Minute, newBreaker())
	r := applyAndDiagnose(t, scenario(t, "crashloop-oom"), "rb-model", agent.Options{LLM: c, Runbooks: ix})
	if len(r.Runbooks) == 0 || r.Runbooks[0].Semantic == 0 || !strings.Contains(r.Prompt.Text, "runbook:"+r.Runbooks[0].Ref()) {
		t.Errorf("runbooks with the model: %v; prompt:\n%s", r.Runbooks, r.Prompt.Text)
	}
	var team bool
	for _, h := range r.Runbooks {
		team = team || h.File == "payments.md"
	}
	if !team {
		t.Errorf("the team's own runbook for an OOM-killed ledger is not among %v", r.Runbooks)
	}
}
