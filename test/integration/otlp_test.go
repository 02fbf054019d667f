//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/test/harness"
)

// collector starts the real OpenTelemetry Collector the harness builds
// (test/bin/otelcol: OTLP receiver, file exporter) and returns its OTLP/HTTP
// endpoint and the file its spans land in.
func collector(t *testing.T) (endpoint, file string) {
	t.Helper()
	bin := filepath.Join(os.Getenv("LAB_TESTBIN"), "otelcol")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no OpenTelemetry Collector in the test-binary cache (test/bin/build.sh builds it): %v", err)
	}
	c, err := harness.StartCollector(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c.Endpoint, c.File
}

type otlpSpan struct {
	TraceID, SpanID, ParentSpanID, Name string
	Attributes                          []struct {
		Key   string
		Value map[string]any
	}
	Status struct{ Code int }
}

// spansOf reads the file exporter's OTLP JSON (a line per batch) and
// returns trace's spans with their service.name, waiting (up to 20 s) until
// a span named last arrived ("": no wait).
func spansOf(t *testing.T, file, trace, last string) (map[string][]otlpSpan, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans, service := map[string][]otlpSpan{}, ""
		if f, err := os.Open(file); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				var batch struct {
					ResourceSpans []struct {
						Resource struct {
							Attributes []struct {
								Key   string
								Value struct{ StringValue string }
							}
						}
						ScopeSpans []struct{ Spans []otlpSpan }
					}
				}
				json.Unmarshal(sc.Bytes(), &batch)
				for _, rs := range batch.ResourceSpans {
					for _, ss := range rs.ScopeSpans {
						for _, s := range ss.Spans {
							if s.TraceID == trace {
								spans[s.Name] = append(spans[s.Name], s)
								for _, a := range rs.Resource.Attributes {
									if a.Key == "service.name" {
										service = a.Value.StringValue
									}
								}
							}
						}
					}
				}
			}
			f.Close()
		}
		if last == "" || len(spans[last]) > 0 || time.Now().After(deadline) {
			return spans, service
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func attr(s otlpSpan, key string) any {
	for _, a := range s.Attributes {
		if a.Key == key {
			for _, v := range a.Value {
				return v
			}
		}
	}
	return nil
}

// A diagnosis reaches a real OpenTelemetry Collector as one trace under the
// id lab printed: the diagnose root, its phases as children, each call to
// the real Ollama a span under explain with the token counts Ollama
// reported. Without the variable nothing is sent.
func TestTracesReachACollector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	endpoint, file := collector(t)
	pods, err := cluster.Apply(ctx, scenario(t, "crashloop-exit1"), "otlp")
	if err != nil {
		t.Fatal(err)
	}
	o := sharedOllama(t)
	home := t.TempDir()
	cfg := filepath.Join(home, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: otlp}\nagent: {namespaces: [otlp]}\n"), 0o644)
	diagnose := func(env ...string) string {
		cmd := exec.CommandContext(ctx, buildLab(t), "diagnose", pods[0].Name, "-n", "otlp", "-c", cfg, "--kubeconfig", cluster.Kubeconfig,
			"--llm-endpoint", o.URL, "--model", o.Model, "-o", "json")
		cmd.Env = append(append(os.Environ(), "LAB_HOME="+home, "NO_COLOR=1"), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("lab diagnose: %v\n%s", err, out)
		}
		var r struct{ TraceID string }
		if err := json.Unmarshal(out, &r); err != nil || len(r.TraceID) != 32 {
			t.Fatalf("no trace id in the report: %v\n%.500s", err, out)
		}
		return r.TraceID
	}
	trace := diagnose("OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint)
	spans, service := spansOf(t, file, trace, "diagnose") // the root ends last
	root := spans["diagnose"]
	if service != "lab" || len(root) != 1 || root[0].ParentSpanID != "" {
		t.Fatalf("trace %s at the collector: service %q, spans %v", trace, service, spans)
	}
	for _, phase := range []string{"collect", "analyze", "gitops", "digest", "explain"} {
		if s := spans[phase]; len(s) != 1 || s[0].ParentSpanID != root[0].SpanID {
			t.Errorf("%s is not one child of diagnose: %+v", phase, s)
		}
	}
	chats := spans["chat "+o.Model]
	if len(chats) == 0 || len(spans["explain"]) == 0 || chats[0].ParentSpanID != spans["explain"][0].SpanID {
		t.Fatalf("no model call under explain: %v", spans)
	}
	in := attr(chats[len(chats)-1], "gen_ai.usage.input_tokens")
	if n, _ := in.(string); n == "" || n == "0" {
		t.Errorf("the model call's input tokens: %v (%+v)", in, chats[len(chats)-1].Attributes)
	}
	names := []string{}
	for n := range spans {
		names = append(names, n)
	}
	t.Logf("trace %s at the collector: %v", trace, names)

	// No endpoint: nothing sent.
	quiet := diagnose("OTEL_EXPORTER_OTLP_ENDPOINT=")
	if spans, _ := spansOf(t, file, quiet, ""); len(spans) > 0 {
		t.Errorf("spans exported without an endpoint: %v", spans)
	}
}

// An alert Alertmanager (or any sender) posts with a W3C traceparent lands
// in the sender's trace at a real Collector: the agent's "alert" span is a
// child of the sender's span, the diagnosis under it, exported by the
// webhook server (service lab-agent) to the endpoint lab.yaml's
// agent.tracing.endpoint names (no OpenTelemetry variable set); the server's
// JSON events about the alert carry the same trace id.
func TestWebhookTraceReachesACollector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	endpoint, file := collector(t)
	pods, err := cluster.Apply(ctx, scenario(t, "crashloop-exit1"), "otlp-hook")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cfg := filepath.Join(home, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: otlp-hook}\nagent: {namespaces: [otlp-hook], tracing: {endpoint: \""+endpoint+"\"}}\n"), 0o644)
	srv := &harness.AgentServer{Bin: buildLab(t), Env: []string{"LAB_HOME=" + home, "NO_COLOR=1", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="},
		Args: []string{"-c", cfg, "--no-llm", "--insecure-no-auth", "--journal", "-", "--predict-every", "0", "--log-format", "json", "--kubeconfig", cluster.Kubeconfig}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	caller, parent := "5af7183fc1d2d8a1b2c3d4e5f6a7b8c9", "a1b2c3d4e5f60718"
	body := `{"version":"4","status":"firing","receiver":"lab","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"otlp-hook","pod":"` + pods[0].Name + `"}}]}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/alerts", strings.NewReader(body))
	req.Header.Set("Traceparent", "00-"+caller+"-"+parent+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /alerts: %v %v", err, resp)
	}
	resp.Body.Close()
	spans, service := spansOf(t, file, caller, "alert KubePodCrashLooping")
	alert, diag := spans["alert KubePodCrashLooping"], spans["diagnose"]
	if service != "lab-agent" || len(alert) != 1 || alert[0].ParentSpanID != parent {
		t.Fatalf("the alert's span in the sender's trace %s: service %q, spans %+v\nserver log:\n%s", caller, service, spans, srv.Log())
	}
	if len(diag) != 1 || diag[0].ParentSpanID != alert[0].SpanID {
		t.Errorf("the diagnosis is not a child of the alert's span: %+v", spans)
	}
	var received, diagnosed bool
	for _, line := range strings.Split(srv.Log(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil || ev["trace_id"] != caller {
			continue
		}
		received = received || ev["msg"] == "alert received" && ev["outcome"] == "accepted"
		diagnosed = diagnosed || ev["msg"] == "diagnosed" && ev["category"] == "CrashLoopBackOff"
	}
	if !received || !diagnosed {
		t.Errorf("the server's events under trace %s (received %v, diagnosed %v):\n%s", caller, received, diagnosed, srv.Log())
	}
}
