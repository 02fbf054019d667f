package analyze

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/agent/collect"
	"lab.dev/lab/manifests"
)

// vocabularySources are where Kubernetes defines the reasons it writes on a
// pod, its containers, its events and its owners: files (or folders) of the
// k8s.io/kubernetes module lab pins and of k8s.io/api, and which of their
// constants (or errors.New values) are reasons.
var vocabularySources = []struct {
	module, path string
	names        *regexp.Regexp // constant or variable names that hold a reason
}{
	{"k8s.io/kubernetes", "pkg/kubelet/events/event.go", regexp.MustCompile(`^[A-Z]`)},
	{"k8s.io/kubernetes", "pkg/kubelet/images/types.go", regexp.MustCompile(`^Err`)},
	{"k8s.io/kubernetes", "pkg/kubelet/container/sync_result.go", regexp.MustCompile(`^Err`)},
	{"k8s.io/kubernetes", "pkg/kubelet/kuberuntime/kuberuntime_container.go", regexp.MustCompile(`^Err`)},
	{"k8s.io/kubernetes", "pkg/kubelet/eviction/helpers.go", regexp.MustCompile(`^Reason$`)},
	{"k8s.io/kubernetes", "pkg/kubelet/nodeshutdown/nodeshutdown_manager.go", regexp.MustCompile(`Reason$`)},
	{"k8s.io/kubernetes", "pkg/kubelet/active_deadline.go", regexp.MustCompile(`^reason$`)},
	{"k8s.io/kubernetes", "pkg/kubelet/lifecycle/predicate.go", regexp.MustCompile(`^[A-Z]`)},
	{"k8s.io/kubernetes", "pkg/kubelet/lifecycle/handlers.go", regexp.MustCompile(`Reason$`)},
	{"k8s.io/kubernetes", "pkg/controller/controller_utils.go", regexp.MustCompile(`Reason$`)},
	{"k8s.io/kubernetes", "pkg/scheduler/framework/plugins", regexp.MustCompile(`^ErrReason`)},
	{"k8s.io/api", "core/v1/types.go", regexp.MustCompile(`^PodReason`)},
	{"k8s.io/api", "batch/v1/types.go", regexp.MustCompile(`^JobReason`)},
}

// moduleDir finds a module's source: k8s.io/kubernetes at the version lab
// pins (manifests/versions.yaml; the test binaries' build downloads it),
// k8s.io/api at this module's version. go mod download fetches what the
// module cache lacks.
func moduleDir(t *testing.T, module string) string {
	t.Helper()
	ver := ""
	if module == "k8s.io/kubernetes" {
		for _, l := range strings.Split(string(manifests.VersionsYAML), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "kubernetes: "); ok {
				ver = strings.TrimSpace(v)
			}
		}
	} else {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", module).Output()
		if err != nil {
			t.Fatalf("go list -m %s: %v", module, err)
		}
		ver = strings.TrimSpace(string(out))
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+ver)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &m)
	}
	if err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s@%s: %v %s (the vocabulary test reads Kubernetes' source from the module cache)", module, ver, err, m.Error)
	}
	return m.Dir
}

// reasonsIn reads the string values of the constants and errors.New
// variables named by names in the Go files at path (a file or a folder,
// walked).
func reasonsIn(t *testing.T, root, path string, names *regexp.Regexp) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, path), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) || !names.MatchString(n.Name) {
						continue
					}
					if s, ok := stringValue(vs.Values[i]); ok && s != "" {
						out[s] = rel + ":" + n.Name
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stringValue is a string literal or errors.New("literal").
func stringValue(e ast.Expr) (string, bool) {
	if c, ok := e.(*ast.CallExpr); ok && len(c.Args) == 1 {
		if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "New" {
			e = c.Args[0]
		}
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// Every reason Kubernetes can write has a mapping: a category (or info: a
// reason that reports progress, not a failure), the facts a diagnosis
// quotes and what to do. A Kubernetes upgrade that adds a reason fails here,
// not in a user's diagnosis.
func TestVocabularyCoversKubernetes(t *testing.T) {
	voc, err := LoadVocabulary()
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	var missing []string
	total := 0
	for _, src := range vocabularySources {
		if dirs[src.module] == "" {
			dirs[src.module] = moduleDir(t, src.module)
		}
		found := reasonsIn(t, dirs[src.module], src.path, src.names)
		t.Logf("%s %s: %d reasons", src.module, src.path, len(found))
		if len(found) == 0 {
			t.Errorf("%s %s: no reasons found — the source moved; update vocabularySources", src.module, src.path)
		}
		for r, where := range found {
			total++
			if _, ok := voc.Lookup(r); !ok {
				missing = append(missing, r+" ("+where+")")
			}
		}
	}
	sort.Strings(missing)
	t.Logf("%d reasons read from Kubernetes' source, %d mapped", total, total-len(missing))
	if len(missing) > 0 {
		t.Errorf("%d reasons have no mapping in manifests/vocabulary/reasons.yaml:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}

// A reason no rule handles still gives a finding from the vocabulary, with
// Kubernetes' own message; a settled pod's old Warning gives none.
func TestVocabularyFallback(t *testing.T) {
	now := time.Now()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "claims", Namespace: "ns"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}}
	ev := corev1.Event{Type: corev1.EventTypeWarning, Reason: "FailedPrepareDynamicResources", Message: `failed to prepare dynamic resources: NodePrepareResources failed for claim ns/gpu: driver gpu.example.com is not registered`}
	b := &collect.Bundle{Pod: p, Events: []corev1.Event{ev}, Collected: now}
	fs := Analyze(b)
	if len(fs) != 1 || fs[0].Category != "KubeletSyncFailed" || fs[0].Detector != "vocabulary" || !strings.Contains(fs[0].Cause, "driver gpu.example.com is not registered") {
		t.Fatalf("fallback: %+v", fs)
	}
	ready := &corev1.Pod{ObjectMeta: p.ObjectMeta, Status: corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	if fs := Analyze(&collect.Bundle{Pod: ready, Events: []corev1.Event{ev}, Collected: now}); len(fs) != 0 {
		t.Fatalf("a settled pod got %+v", fs)
	}
	if _, err := ParseVocabulary([]byte(`[{reasons: [X], category: A, info: true, facts: [f], action: a}]`)); err == nil {
		t.Error("a term with a category and info must be refused")
	}
}
