// Package layers guards the direction of lab's imports (go test ./... runs
// it, so make test does too). From the bottom up:
//
//	foundation    core/ (lab.yaml model, API helpers, terminal UI, state paths), manifests/, nvidia/
//	capabilities  stacks/, gitops/, agent/, bootstrap/cluster/, bootstrap/doctor/ — each on its own
//	composition   bootstrap/pipeline/: the one package that joins capabilities
//	commands      cmd/: flags → one call
//
// A package may import its own subtree and anything below its layer; a
// capability never imports another capability or the pipeline.
package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "lab.dev/lab/"

// capabilities are the subtrees that must not import each other.
var capabilities = []string{"stacks", "gitops", "agent", "bootstrap/cluster", "bootstrap/doctor"}

var foundation = []string{"core", "manifests", "nvidia"}

func under(pkg string, roots ...string) (string, bool) {
	for _, r := range roots {
		if pkg == r || strings.HasPrefix(pkg, r+"/") {
			return r, true
		}
	}
	return "", false
}

// allowed says whether pkg may import dep (both without the module prefix).
func allowed(pkg, dep string) bool {
	if _, ok := under(dep, "test"); ok {
		_, fromTest := under(pkg, "test")
		return fromTest
	}
	if _, ok := under(dep, "cmd"); ok {
		return pkg == "cmd/lab" || strings.HasPrefix(pkg, "test/")
	}
	if _, ok := under(pkg, foundation...); ok {
		_, ok := under(dep, foundation...)
		return ok
	}
	if c, ok := under(pkg, capabilities...); ok {
		if _, ok := under(dep, foundation...); ok {
			return true
		}
		d, _ := under(dep, capabilities...)
		return d == c
	}
	return true // the pipeline composes capabilities; cmd and test sit on top
}

func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-tags", "integration e2e", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		for _, d := range f[1:] {
			if strings.HasPrefix(d, module) {
				m[pkg] = append(m[pkg], strings.TrimPrefix(d, module))
			}
		}
	}
	return m
}

func TestImportsPointDown(t *testing.T) {
	m := imports(t)
	if len(m) < 15 {
		t.Fatalf("go list found only %d packages", len(m))
	}
	for pkg, deps := range m {
		for _, d := range deps {
			if !allowed(pkg, d) {
				t.Errorf("%s imports %s: an import running upward or sideways (see this file's doc)", pkg, d)
			}
		}
	}
}

// No two top-level folders import each other.
func TestNoTopLevelCycle(t *testing.T) {
	top := func(p string) string { f, _, _ := strings.Cut(p, "/"); return f }
	edges := map[[2]string]string{}
	for pkg, deps := range imports(t) {
		for _, d := range deps {
			if a, b := top(pkg), top(d); a != b {
				edges[[2]string{a, b}] = pkg + " → " + d
			}
		}
	}
	for e, why := range edges {
		if back, ok := edges[[2]string{e[1], e[0]}]; ok && e[0] < e[1] {
			t.Errorf("%s and %s import each other: %s, %s", e[0], e[1], why, back)
		}
	}
}

// The rules themselves: an upward import is refused.
func TestRules(t *testing.T) {
	for _, c := range []struct {
		pkg, dep string
		ok       bool
	}{
		{"gitops", "agent/deploy", false},
		{"stacks", "bootstrap/pipeline", false},
		{"core/config", "stacks", false},
		{"agent/deploy", "core/kube", true},
		{"agent/report", "agent/llm", true},
		{"bootstrap/pipeline", "gitops", true},
		{"bootstrap/doctor", "nvidia", true},
		{"bootstrap/cluster/kwok", "core/kube", true},
		{"bootstrap/cluster", "bootstrap/doctor", false},
		{"cmd", "bootstrap/pipeline", true},
		{"agent", "cmd", false},
		{"stacks", "test/harness", false},
	} {
		if got := allowed(c.pkg, c.dep); got != c.ok {
			t.Errorf("allowed(%s → %s) = %v, want %v", c.pkg, c.dep, got, c.ok)
		}
	}
}
