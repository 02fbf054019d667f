// Package layers guards the direction of lab's imports (go test ./... runs
// it, so make test does too). From the bottom up:
//
//	foundation    core/ (in its own order, below), manifests/, nvidia/
//	capabilities  stacks/, gitops/, agent/ (in its own order), bootstrap/cluster/, bootstrap/doctor/ — each on its own
//	composition   bootstrap/pipeline/: `lab up`'s steps, status, down — the one package that joins capabilities
//	actions       bootstrap/action/: what every other command does, one options struct with Run each
//	commands      cmd/: flags → one call (imports and size checked below)
//
// A package may import its own subtree and anything in a lower layer; a
// capability never imports another capability. A package in no layer is
// refused: add it here, on purpose, with the layer it belongs to.
package layers

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "lab.dev/lab/"

// layers, bottom first. Within a layer, "isolated" subtrees must not import
// each other (capabilities); the others may.
var layers = []struct {
	name     string
	roots    []string
	isolated bool
}{
	{"foundation", []string{"core", "manifests", "nvidia"}, false},
	{"capability", []string{"stacks", "gitops", "agent", "bootstrap/cluster", "bootstrap/doctor"}, true},
	{"composition", []string{"bootstrap/pipeline"}, false},
	{"action", []string{"bootstrap/action"}, false},
	{"command", []string{"cmd"}, false},
}

// Orders inside a subtree: a package may import only packages of an earlier
// stage. agent/: redact (the one secret masker every outgoing text passes
// through) comes first; collect gathers, analyze detects, report renders;
// digest (log shrinking), llm, runbook and predict are leaves the later
// stages use; the agent package composes.
var stages = map[string][][]string{
	"agent": {
		{"agent/redact"},
		{"agent/collect", "agent/digest", "agent/llm", "agent/runbook", "agent/predict", "agent/deploy"},
		{"agent/analyze", "agent/remediate"},
		{"agent/gitfix"},
		{"agent/report"},
		{"agent/memory", "agent/serve"},
		{"agent"},
	},
	"core": {
		{"core/version", "core/state", "core/ui", "core/engine", "core/kube", "core/golden"},
		{"core/telemetry"},
		{"core/config/v1alpha1"},
		{"core/config"},
	},
}

// layerOf is the layer index and root of pkg; ok is false for a package in
// no layer (test/ is handled apart).
func layerOf(pkg string) (int, string, bool) {
	for i, l := range layers {
		if r, ok := under(pkg, l.roots...); ok {
			return i, r, true
		}
	}
	return 0, "", false
}

func under(pkg string, roots ...string) (string, bool) {
	best := ""
	for _, r := range roots {
		if (pkg == r || strings.HasPrefix(pkg, r+"/")) && len(r) > len(best) {
			best = r
		}
	}
	return best, best != ""
}

func stageOf(pkg string) (tree string, stage int, ok bool) {
	for tree, st := range stages {
		for i, s := range st {
			for _, p := range s {
				if p == pkg {
					return tree, i, true
				}
			}
		}
	}
	return "", 0, false
}

// allowed says whether pkg may import dep (both without the module prefix),
// and why not.
func allowed(pkg, dep string) (bool, string) {
	_, fromTest := under(pkg, "test")
	if _, toTest := under(dep, "test"); toTest || fromTest {
		return fromTest, "only test/ imports test/"
	}
	pl, pr, ok := layerOf(pkg)
	if !ok {
		return false, pkg + " is in no layer"
	}
	dl, dr, ok := layerOf(dep)
	if !ok {
		return false, dep + " is in no layer"
	}
	switch {
	case dl > pl:
		return false, "an import upward, from " + layers[pl].name + " to " + layers[dl].name
	case dl == pl && layers[pl].isolated && pr != dr:
		return false, "a capability importing another (" + pr + " → " + dr + "): join them in bootstrap/pipeline"
	}
	if t1, s1, ok1 := stageOf(pkg); ok1 {
		if t2, s2, ok2 := stageOf(dep); ok2 && t1 == t2 && s2 >= s1 {
			return false, "against " + t1 + "/'s order (see stages)"
		}
	}
	return true, ""
}

// imports reads every .go file's imports (tests and all build tags
// included) straight from the tree: reading the files, not asking go list,
// lets go test's cache notice any change.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root := "../.."
	m := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if _, ok := m[pkg]; !ok {
			m[pkg] = nil
		}
		for _, im := range f.Imports {
			if d := strings.Trim(im.Path.Value, `"`); strings.HasPrefix(d, module) {
				m[pkg] = append(m[pkg], strings.TrimPrefix(d, module))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImportsPointDown(t *testing.T) {
	m := imports(t)
	if len(m) < 30 {
		t.Fatalf("found only %d packages", len(m))
	}
	for pkg, deps := range m {
		if _, ok := under(pkg, "test"); !ok {
			if _, _, ok := layerOf(pkg); !ok {
				t.Errorf("%s is in no layer: add it to test/layers on purpose", pkg)
			}
		}
		for _, d := range deps {
			if ok, why := allowed(pkg, d); !ok {
				t.Errorf("%s imports %s: %s (see test/layers' doc)", pkg, d, why)
			}
		}
	}
}

// Every package of a staged subtree has a stage.
func TestStagesComplete(t *testing.T) {
	for pkg := range imports(t) {
		for tree := range stages {
			if _, ok := under(pkg, tree); ok {
				if _, _, ok := stageOf(pkg); !ok {
					t.Errorf("%s has no stage in %s/'s order", pkg, tree)
				}
			}
		}
	}
}

// cmd/ is flags → one call: a command file imports only cobra, pflag, time
// (flag defaults), the actions and the terminal's formats, and stays small;
// anything more is logic that belongs in bootstrap/action.
func TestCommandsAreThin(t *testing.T) {
	okImports := map[string]bool{"github.com/spf13/cobra": true, "github.com/spf13/pflag": true, "time": true,
		module + "bootstrap/action": true, module + "core/ui": true}
	const budget = 80 // lines per command file; root.go holds the shared helpers
	files, _ := filepath.Glob("../../cmd/*.go")
	sort.Strings(files)
	if len(files) < 15 {
		t.Fatalf("only %d files in cmd/", len(files))
	}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		for _, im := range f.Imports {
			p := strings.Trim(im.Path.Value, `"`)
			if !okImports[p] && !(name == "root.go" && (p == "errors" || p == "fmt" || p == "os" || p == module+"core/config")) {
				t.Errorf("cmd/%s imports %s: a command is flags → one call into bootstrap/action", name, p)
			}
		}
		b, _ := os.ReadFile(path)
		if n := strings.Count(string(b), "\n"); n > budget && name != "root.go" {
			t.Errorf("cmd/%s has %d lines (budget %d): move what is not flags into bootstrap/action", name, n, budget)
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

// The rules themselves: upward, sideways, unknown and out-of-order imports
// are refused.
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
		{"agent/collect", "agent/analyze", false}, // against agent's order
		{"agent/analyze", "agent/report", false},
		{"agent/llm", "agent/llm", false}, // same stage
		{"core/ui", "core/config", false},
		{"core/config", "core/config/v1alpha1", true},
		{"bootstrap/pipeline", "gitops", true},
		{"bootstrap/pipeline", "bootstrap/action", false},
		{"bootstrap/action", "bootstrap/pipeline", true},
		{"bootstrap/doctor", "nvidia", true},
		{"bootstrap/cluster/kwok", "core/kube", true},
		{"bootstrap/cluster", "bootstrap/doctor", false},
		{"cmd", "bootstrap/pipeline", true},
		{"agent", "cmd", false},
		{"stacks", "test/harness", false},
		{"newpkg", "core/ui", false}, // in no layer
		{"cmd", "newpkg", false},
		{"test/integration", "cmd", true},
	} {
		if got, why := allowed(c.pkg, c.dep); got != c.ok {
			t.Errorf("allowed(%s → %s) = %v (%s), want %v", c.pkg, c.dep, got, why, c.ok)
		}
	}
}
