package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lab.dev/lab/bootstrap/action"
)

func runLab(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	root, _ := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	code = run(root, args)
	return code, out.String(), errb.String()
}

// On a host without a GPU (CI), doctor reports the NVML check as a warning
// with a hint, as JSON, and never crashes.
func TestDoctorJSONWithoutGPU(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\ncluster:\n  provider: kwok\n"), 0o644)
	t.Setenv("LAB_TESTBIN", dir) // no binaries there: kwok-binaries fails, exit 1
	code, out, _ := runLab(t, "doctor", "-o", "json", "--offline", "-c", cfg)
	var rep struct {
		Checks []struct {
			ID, Status, Hint, Message string
		}
		Passed bool
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	byID := map[string]int{}
	for i, c := range rep.Checks {
		byID[c.ID] = i
	}
	gpu := rep.Checks[byID["gpu-nvml"]]
	if gpu.Status == "ok" {
		t.Skip("this host has a GPU")
	}
	if gpu.Status != "warn" || gpu.Hint == "" {
		t.Errorf("gpu-nvml: want warn with hint, got %+v", gpu)
	}
	if kb := rep.Checks[byID["kwok-binaries"]]; kb.Status != "fail" || !strings.Contains(kb.Message, "missing") {
		t.Errorf("kwok-binaries: %+v", kb)
	}
	if code != 1 || rep.Passed {
		t.Errorf("exit %d passed %v: a failed fatal check must exit 1", code, rep.Passed)
	}
}

func TestConfigErrorsExitOneWithAllProblems(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\ncluster:\n  workers: -1\n  provder: kind\n"), 0o644)
	code, _, errOut := runLab(t, "config", "validate", "-c", cfg)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"ERROR: ", cfg + ":4: cluster.workers: must be >= 0, got -1", cfg + ":5: cluster.provder: unknown field"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Count(errOut, "ERROR:") != 1 {
		t.Errorf("ERROR printed more than once:\n%s", errOut)
	}
}

func TestInitWritesLoadableFileAndRefusesOverwrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lab.yaml")
	if code, _, e := runLab(t, "init", p); code != 0 {
		t.Fatalf("init: %d %s", code, e)
	}
	if code, _, e := runLab(t, "config", "validate", "-c", p); code != 0 {
		t.Fatalf("validate: %d %s", code, e)
	}
	if code, _, e := runLab(t, "init", p); code != 1 || !strings.Contains(e, "--force") {
		t.Errorf("second init: %d %s", code, e)
	}
}

func TestVersionListsPins(t *testing.T) {
	code, out, _ := runLab(t, "version")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"kube-prometheus-stack", "argo-cd", "kubernetes", "ollama"} {
		if !strings.Contains(out, want) {
			t.Errorf("version lacks %s:\n%s", want, out)
		}
	}
}

func TestCompletionAndSchema(t *testing.T) {
	if code, out, _ := runLab(t, "completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion: %d", code)
	}
	code, out, _ := runLab(t, "schema")
	var s map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
		t.Errorf("schema: %d %.100s", code, out)
	}
}

// An unknown -o is refused the same way by every command that takes one,
// before any work (no lab.yaml read, no cluster dialled).
func TestUnknownOutputFormatRefusedEverywhere(t *testing.T) {
	for _, args := range [][]string{
		{"status"}, {"doctor"}, {"version"}, {"config", "view"}, {"certs", "status"}, {"diagnose", "p"},
		{"agent", "rbac-check"}, {"agent", "apf"}, {"agent", "apf", "status"}, {"agent", "apply"},
		{"agent", "incidents"}, {"agent", "predict", "-A"}, {"gitops", "diff"}, {"up", "--dry-run"},
	} {
		code, _, errOut := runLab(t, append(args, "-o", "xml", "-c", "/nonexistent/lab.yaml")...)
		if code != 1 || !strings.Contains(errOut, `invalid argument "xml" for "-o, --output" flag: want`) {
			t.Errorf("lab %s -o xml: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
		}
	}
}

// As a kubectl plugin (the binary named kubectl-lab, run by `kubectl lab`),
// lab reads kubectl's cluster: $KUBECONFIG's current context and its
// namespace, or --context / --kubeconfig / -n, never a lab's own cluster; its
// usage says `kubectl lab`.
func TestKubectlPlugin(t *testing.T) {
	plugin := action.KubectlPlugin
	if !plugin("/usr/local/bin/kubectl-lab") || plugin("/usr/bin/lab") || plugin("kubectl-labs") {
		t.Fatal("plugin(): wrong name match")
	}
	hits := map[string][]string{}
	server := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[name] = append(hits[name], r.URL.Path)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\ncurrent-context: shop\n"+
		"clusters:\n- name: a\n  cluster: {server: "+server("a")+"}\n- name: b\n  cluster: {server: "+server("b")+"}\n"+
		"contexts:\n- name: shop\n  context: {cluster: a, user: u, namespace: shop}\n- name: other\n  context: {cluster: b, user: u}\n"+
		"users:\n- name: u\n  user: {token: t}\n"), 0o600)
	t.Setenv("KUBECONFIG", kc)
	t.Setenv("LAB_HOME", dir)
	t.Chdir(dir)
	kubectl := func(args ...string) (string, string) {
		root, g := newRoot()
		asKubectlPlugin(root, g)
		var out, errb bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errb)
		run(root, args)
		return out.String(), errb.String()
	}
	for _, c := range []struct {
		args   []string
		server string
		path   string
	}{
		{[]string{"diagnose", "web", "--no-llm"}, "a", "/api/v1/namespaces/shop/pods/web"},
		{[]string{"diagnose", "web", "--no-llm", "-n", "db"}, "a", "/api/v1/namespaces/db/pods/web"},
		{[]string{"diagnose", "web", "--no-llm", "--context", "other"}, "b", "/api/v1/namespaces/default/pods/web"},
		{[]string{"diagnose", "--no-llm", "--context", "other", "--namespace", "ops"}, "b", "/api/v1/namespaces/ops/pods"},
	} {
		clear(hits)
		_, errOut := kubectl(c.args...)
		other := map[string]string{"a": "b", "b": "a"}[c.server]
		if !slices.Contains(hits[c.server], c.path) || len(hits[other]) > 0 {
			t.Errorf("kubectl lab %v: asked %v, want %s on %s only\n%s", c.args, hits, c.path, c.server, errOut)
		}
	}
	out, _ := kubectl("--help")
	if !strings.Contains(out, "kubectl lab [command]") {
		t.Errorf("kubectl lab --help does not name itself kubectl lab:\n%s", out)
	}
}
