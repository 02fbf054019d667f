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
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
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
