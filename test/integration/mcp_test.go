//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/ui"
)

// `lab mcp` (the real binary, over stdio, as a desktop assistant starts
// it) answers the official SDK's client: its tools list with descriptions
// and input schemas, a diagnosis of a real pod with its findings and
// evidence, a triage, a runbook search, and a refusal for a namespace the
// agent may not read.
func TestMCPOverStdio(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := cluster.Apply(ctx, scenario(t, "missing-configmap"), "mcp-app")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cfg := filepath.Join(home, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: mcp}\nagent: {namespaces: [mcp-app]}\n"), 0o644)
	// Started the way the README tells an assistant to start it: its
	// client configuration, with this test's lab.yaml (and no model, and the
	// harness' cluster) added.
	server := readmeMCPConfig(t)
	args := append([]string{}, server.Args...)
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "/path/to/lab.yaml", cfg)
	}
	if server.Command != "lab" || len(args) == 0 || args[0] != "mcp" || !slices.Contains(args, cfg) {
		t.Fatalf("README's MCP client configuration: %+v", server)
	}
	cmd := exec.Command(buildLab(t), append(args, "--no-llm", "--kubeconfig", cluster.Kubeconfig)...)
	cmd.Env = append(os.Environ(), "LAB_HOME="+home, "NO_COLOR=1", "LAB_LOG_FORMAT=json")
	events := &lockedBuffer{}
	cmd.Stderr = events
	client := mcp.NewClient(&mcp.Implementation{Name: "lab-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tl := range tools.Tools {
		names[tl.Name] = true
		if tl.Description == "" || tl.InputSchema == nil || tl.Annotations == nil || !tl.Annotations.ReadOnlyHint {
			t.Errorf("tool %s: description %q, schema %v, annotations %+v", tl.Name, tl.Description, tl.InputSchema, tl.Annotations)
		}
	}
	for _, want := range []string{"diagnose", "triage", "predict", "lab_status", "search_runbooks", "incidents"} {
		if !names[want] {
			t.Errorf("no tool %s in %v", want, names)
		}
	}

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "diagnose", Arguments: map[string]any{"pod": pods[0].Name, "namespace": "mcp-app"}})
	if err != nil || res.IsError {
		t.Fatalf("diagnose: %v %+v", err, res)
	}
	var rep struct {
		TraceID  string
		Findings []struct {
			Category string
			Evidence []string
		}
	}
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &rep)
	if rep.TraceID == "" || len(rep.Findings) == 0 || rep.Findings[0].Category != "CreateContainerConfigError" || len(rep.Findings[0].Evidence) == 0 {
		t.Errorf("diagnose structured content: %s", b)
	}
	if txt := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(txt, "CreateContainerConfigError") {
		t.Errorf("diagnose text: %s", txt)
	}
	if want := cliCause(t, home, cfg, "mcp-app", pods[0].Name); primaryCause(res) != want {
		t.Errorf("the tool's cause differs from lab diagnose's:\n tool: %s\n  cli: %s", primaryCause(res), want)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "diagnose", Arguments: map[string]any{"pod": "etcd-0", "namespace": "kube-system"}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "not one the agent may read") {
		t.Errorf("a namespace outside agent.namespaces: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "triage", Arguments: map[string]any{}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, pods[0].Name) {
		t.Errorf("triage: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_runbooks", Arguments: map[string]any{"query": "configmap not found"}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "runbook://") {
		t.Errorf("search_runbooks: %v %+v", err, res)
	}

	// Its events on stderr ($LAB_LOG_FORMAT=json): one JSON object per
	// line; the diagnosis' event carries the trace id its result gave; the
	// refused call is a warning; the client that connected is named.
	cs.Close()
	var diagnosed, refused, connected bool
	for _, line := range strings.Split(strings.TrimSpace(events.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("stderr line is not a JSON event: %q", line)
			continue
		}
		switch {
		case ev["msg"] == "tools/call" && ev["tool"] == "diagnose":
			diagnosed = ev["trace_id"] == rep.TraceID && ev["pod"] == pods[0].Name && ev["duration_ms"] != nil
		case ev["msg"] == "tools/call failed" && ev["tool"] == "diagnose":
			refused = ev["level"] == "WARN" && strings.Contains(fmt.Sprint(ev["error"]), "not one the agent may read")
		case ev["msg"] == "client connected":
			connected = ev["client"] == "lab-test"
		}
	}
	if !diagnosed || !refused || !connected {
		t.Errorf("events (diagnosed with the result's trace id %v, refused %v, client %v):\n%s", diagnosed, refused, connected, events.String())
	}
}

// lockedBuffer is a strings.Builder a process' output copier and the test
// may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readmeMCPConfig is the MCP client configuration README.md gives (the JSON
// block after its mcp-client-config marker).
func readmeMCPConfig(t *testing.T) struct {
	Command string
	Args    []string
} {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- mcp-client-config -->\n```json\n")
	block, _, ok2 := strings.Cut(rest, "```")
	var c struct {
		MCPServers map[string]struct {
			Command string
			Args    []string
		}
	}
	if !ok || !ok2 || json.Unmarshal([]byte(block), &c) != nil || len(c.MCPServers["lab"].Args) == 0 {
		t.Fatalf("README.md has no MCP client configuration after <!-- mcp-client-config -->: %.300q", rest)
	}
	return c.MCPServers["lab"]
}

// Over streamable HTTP (in the cluster) lab mcp wants the same bearer token
// as the webhook: 401 without, the SDK's client works with it, and its
// diagnose gives the cause `lab diagnose` gives.
func TestMCPOverHTTPNeedsTheToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods, err := cluster.Apply(ctx, scenario(t, "image-tag-typo"), "mcp-http")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LAB_HOME", t.TempDir())
	l := config.Default()
	l.Agent.Namespaces = []string{"mcp-http"}
	u := ui.New(true, 0)
	m := &action.MCP{Config: &action.Config{Lab: l, UI: u, Kubeconfig: cluster.Kubeconfig}, NoLLM: true}
	s, err := m.Server()
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(action.MCPHandler(s, token, ui.NoEvents))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %v %v", err, resp)
	}
	resp.Body.Close()
	client := mcp.NewClient(&mcp.Implementation{Name: "lab-test", Version: "1"}, nil)
	hc := &http.Client{Transport: bearer{token}}
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "incidents", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("incidents over HTTP: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "diagnose", Arguments: map[string]any{"pod": pods[0].Name, "namespace": "mcp-http"}})
	if err != nil || res.IsError {
		t.Fatalf("diagnose over HTTP: %v %+v", err, res)
	}
	home := t.TempDir()
	cfg := filepath.Join(home, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: mcp-http}\nagent: {namespaces: [mcp-http]}\n"), 0o644)
	if want := cliCause(t, home, cfg, "mcp-http", pods[0].Name); primaryCause(res) != want || want == "" {
		t.Errorf("over HTTP the tool's cause differs from lab diagnose's:\n tool: %s\n  cli: %s", primaryCause(res), want)
	}
}

// primaryCause is the first finding's category and cause in a diagnose
// tool result's structured content.
func primaryCause(res *mcp.CallToolResult) string {
	var r struct {
		Findings []struct{ Category, Cause string }
	}
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &r)
	if len(r.Findings) == 0 {
		return ""
	}
	return r.Findings[0].Category + ": " + r.Findings[0].Cause
}

// cliCause is the same for `lab diagnose POD -o json` (rules only) with the
// lab.yaml cfg, on the harness' cluster.
func cliCause(t *testing.T, home, cfg, ns, pod string) string {
	t.Helper()
	cmd := exec.Command(buildLab(t), "diagnose", pod, "-n", ns, "--no-llm", "-o", "json", "-c", cfg, "--kubeconfig", cluster.Kubeconfig)
	cmd.Env = append(os.Environ(), "LAB_HOME="+home, "NO_COLOR=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lab diagnose: %v\n%s", err, out)
	}
	var r struct {
		Findings []struct{ Category, Cause string }
	}
	json.Unmarshal(out, &r)
	if len(r.Findings) == 0 {
		return ""
	}
	return r.Findings[0].Category + ": " + r.Findings[0].Cause
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// The remediate tool exists only with --allow-remediation and never acts in
// one call: the first plans (the same policy and server dry run as the
// CLI) and returns a one-time confirmation id, the Deployment unchanged;
// the second, with the id, restarts it and verifies by diagnosing the new
// pod; the id does not work twice, nor for another pod. The post-mortem of
// the diagnosis and the runbook sections are resources.
func TestMCPRemediationTakesTwoCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns = "mcp-fix"
	pods, err := cluster.Apply(ctx, scenario(t, "crashloop-exit1"), ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LAB_HOME", t.TempDir())
	l := config.Default()
	l.Agent.Namespaces = []string{ns}
	l.Agent.Remediation.Enabled, l.Agent.Remediation.Allowed = true, []string{"rollout-restart"}
	connect := func(allow bool) *mcp.ClientSession {
		m := &action.MCP{Config: &action.Config{Lab: l, UI: ui.New(true, 0), Kubeconfig: cluster.Kubeconfig}, NoLLM: true, AllowRemediation: allow, VerifyTimeout: 15 * time.Second}
		s, err := m.Server()
		if err != nil {
			t.Fatal(err)
		}
		ct, st := mcp.NewInMemoryTransports()
		if _, err := s.Connect(ctx, st, nil); err != nil {
			t.Fatal(err)
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "lab-test", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	hasTool := func(cs *mcp.ClientSession, name string) bool {
		tools, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range tools.Tools {
			if tl.Name == name {
				return true
			}
		}
		return false
	}
	call := func(cs *mcp.ClientSession, args map[string]any) (map[string]any, string, bool) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "remediate", Arguments: args})
		if err != nil {
			return nil, err.Error(), true
		}
		var out map[string]any
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &out)
		return out, res.Content[0].(*mcp.TextContent).Text, res.IsError
	}
	restartedAt := func() string {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
	}

	ro := connect(false)
	if hasTool(ro, "remediate") || !hasTool(ro, "predict") || !hasTool(ro, "lab_status") {
		t.Error("read-only server: remediate listed, or predict/lab_status missing")
	}
	if _, msg, isErr := call(ro, map[string]any{"pod": pods[0].Name, "namespace": ns}); !isErr {
		t.Errorf("remediate on a read-only server: %s", msg)
	}

	cs := connect(true)
	plan, msg, isErr := call(cs, map[string]any{"pod": pods[0].Name, "namespace": ns})
	id, _ := plan["confirmation"].(string)
	if isErr || plan["planned"] != true || id == "" || !strings.Contains(msg, "rollout-restart") {
		t.Fatalf("first call: %v %s %v", isErr, msg, plan)
	}
	if restartedAt() != "" {
		t.Fatal("the first call changed the Deployment")
	}
	if _, msg, isErr := call(cs, map[string]any{"pod": "another-pod", "namespace": ns, "confirmation": id}); !isErr || !strings.Contains(msg, "confirmation") {
		t.Errorf("the id for another pod: %s", msg)
	}
	// That try spent the id: plan again, then confirm.
	plan, _, _ = call(cs, map[string]any{"pod": pods[0].Name, "namespace": ns})
	id, _ = plan["confirmation"].(string)
	done, msg, isErr := call(cs, map[string]any{"pod": pods[0].Name, "namespace": ns, "confirmation": id})
	if isErr || restartedAt() == "" || !strings.Contains(msg, "verified") {
		t.Fatalf("second call: %v %s %v", isErr, msg, done)
	}
	if _, msg, isErr := call(cs, map[string]any{"pod": pods[0].Name, "namespace": ns, "confirmation": id}); !isErr {
		t.Errorf("the id worked twice: %s", msg)
	}

	// Resources: the post-mortem of the planning diagnosis, a runbook section.
	trace, _ := plan["traceId"].(string)
	pm, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "postmortem://" + trace})
	if err != nil || len(pm.Contents) == 0 || !strings.Contains(pm.Contents[0].Text, "CrashLoopBackOff") {
		t.Errorf("postmortem://%s: %v %+v", trace, err, pm)
	}
	rs, err := cs.ListResources(ctx, nil)
	if err != nil || len(rs.Resources) == 0 {
		t.Fatalf("resources: %v %+v", err, rs)
	}
	sec, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: rs.Resources[0].URI})
	if err != nil || !strings.HasPrefix(rs.Resources[0].URI, "runbook://") || len(sec.Contents) == 0 || sec.Contents[0].Text == "" {
		t.Errorf("%s: %v %+v", rs.Resources[0].URI, err, sec)
	}
}
