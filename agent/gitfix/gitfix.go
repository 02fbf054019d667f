// Package gitfix makes remediation GitOps-aware. A workload Argo CD manages
// gets no live patch — Argo CD would revert it at its next sync — but the
// change to make in git: the file of the lab's GitOps repository that
// defines it and a unified diff of the one field that fixes the failure.
package gitfix

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	yaml "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/analyze"
)

// Argo CD's resource tracking: the annotation (the default since Argo CD 3)
// and the label (the older default, also set by Helm, so it counts only when
// an Application of that name exists).
const (
	TrackingAnnotation = "argocd.argoproj.io/tracking-id"
	InstanceLabel      = "app.kubernetes.io/instance"
)

// Managed says who manages a workload.
type Managed struct {
	By  string `json:"by"`  // Argo CD
	App string `json:"app"` // the Application
	How string `json:"how"` // the evidence: the tracking annotation, or the label and the Application
}

// ArgoManaged reports whether Argo CD manages obj: its tracking annotation,
// or its instance label naming an Application that exists in argoNamespace.
func ArgoManaged(ctx context.Context, cs kubernetes.Interface, obj metav1.Object, argoNamespace string) *Managed {
	if id := obj.GetAnnotations()[TrackingAnnotation]; id != "" {
		app, _, _ := strings.Cut(id, ":")
		return &Managed{By: "Argo CD", App: app, How: TrackingAnnotation + "=" + id}
	}
	if app := obj.GetLabels()[InstanceLabel]; app != "" && cs != nil {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/argoproj.io/v1alpha1/namespaces", argoNamespace, "applications", app).DoRaw(ctx)
		if err == nil {
			return &Managed{By: "Argo CD", App: app, How: fmt.Sprintf("label %s=%s and Application %s/%s", InstanceLabel, app, argoNamespace, app)}
		}
	}
	return nil
}

// Change is the edit to make in git.
type Change struct {
	File string `json:"file"` // relative to the repository
	Diff string `json:"diff"` // unified diff
	Why  string `json:"why"`
}

// lines splits a file into its lines, each with its newline. (difflib's
// SplitLines adds a line after a file's final newline: the diff then had an
// empty context line the file lacks, and git apply refused it.) A last line
// without a newline is given one here; noNewlineAtEnd puts the truth back
// into the diff.
func lines(s string) []string {
	out := strings.SplitAfter(s, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	} else {
		out[len(out)-1] += "\n"
	}
	return out
}

// noNewlineAtEnd marks, in a unified diff of a file of n lines whose last
// line has no newline, that line as git writes it: "\ No newline at end of
// file" after it. The edited file (YAML re-encoded) ends with a newline, so
// a last line the hunk kept as context differs after all: it becomes its
// removal, the marker, and its addition. Without the marker git apply
// refused the diff (the file's last line "did not match").
func noNewlineAtEnd(diff string, n int) string {
	const marker = "\\ No newline at end of file\n"
	var b strings.Builder
	line := 0 // the old file's line number of the next ' ' or '-' line
	for _, l := range strings.SplitAfter(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "@@ -"):
			old := strings.Fields(l)[1] // -START[,COUNT]
			start, _, _ := strings.Cut(old[1:], ",")
			line, _ = strconv.Atoi(start)
			if strings.HasSuffix(old, ",0") {
				line++ // an empty old range names the line before it
			}
		case strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "--- "), strings.HasPrefix(l, " "):
			if line == n {
				text := l[1:]
				if l[0] == ' ' {
					b.WriteString("-" + text + marker + "+" + text)
				} else {
					b.WriteString(l + marker)
				}
				line++
				continue
			}
			line++
		}
		b.WriteString(l)
	}
	return b.String()
}

// Propose finds the file under repo that defines kind/name (in namespace,
// when the manifest names one) and returns the unified diff that applies fix
// to its pod template.
func Propose(repo, kind, name, namespace string, fix *analyze.Fix) (*Change, error) {
	if fix == nil {
		return nil, fmt.Errorf("no field change is known for this failure")
	}
	var found *Change
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out, ok, err := apply(b, kind, name, namespace, fix)
		if err != nil || !ok {
			return nil // not this file (or not YAML this edit understands)
		}
		rel, _ := filepath.Rel(repo, p)
		a := lines(string(b))
		diff, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: a, B: lines(string(out)),
			FromFile: "a/" + rel, ToFile: "b/" + rel, Context: 3})
		if err != nil {
			return err
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			diff = noNewlineAtEnd(diff, len(a))
		}
		found = &Change{File: rel, Diff: diff, Why: fix.Why}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("no manifest of %s %s under %s", kind, name, repo)
	}
	return found, nil
}

// apply edits the document of kind/name in a (multi-document) YAML file.
func apply(b []byte, kind, name, namespace string, fix *analyze.Fix) ([]byte, bool, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []*yaml.Node
	hit := false
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if err.Error() == "EOF" {
				break
			}
			return nil, false, err
		}
		docs = append(docs, &n)
		if hit || len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		meta := get(root, "metadata")
		if scalar(get(root, "kind")) != kind || scalar(get(meta, "name")) != name {
			continue
		}
		if ns := scalar(get(meta, "namespace")); ns != "" && namespace != "" && ns != namespace {
			continue
		}
		c := containerNode(get(get(get(get(root, "spec"), "template"), "spec"), "containers"), fix.Container)
		if c == nil {
			return nil, false, fmt.Errorf("%s %s has no container %s", kind, name, fix.Container)
		}
		set(c, fix.Path, fix.Value)
		hit = true
	}
	if !hit {
		return nil, false, nil
	}
	// The file's own sequence style is not recorded by the parser: encode
	// both ways and keep the one that changes the fewest lines.
	var best []byte
	bestN := -1
	for _, compact := range []bool{true, false} {
		var out bytes.Buffer
		for i, d := range docs {
			if i > 0 {
				out.WriteString("---\n")
			}
			enc := yaml.NewEncoder(&out)
			enc.SetIndent(2)
			if compact {
				enc.CompactSeqIndent()
			}
			if err := enc.Encode(d); err != nil {
				return nil, false, err
			}
			enc.Close()
		}
		if n := changed(b, out.Bytes()); bestN < 0 || n < bestN {
			best, bestN = out.Bytes(), n
		}
	}
	return best, true, nil
}

// changed counts the lines of b not in a at the same place (a cheap measure
// of how much of the file an encoding rewrites).
func changed(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	n := 0
	for i := range max(len(la), len(lb)) {
		if i >= len(la) || i >= len(lb) || la[i] != lb[i] {
			n++
		}
	}
	return n
}

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func containerNode(list *yaml.Node, name string) *yaml.Node {
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	for _, c := range list.Content {
		if scalar(get(c, "name")) == name {
			return c
		}
	}
	return nil
}

// set writes value at path under m, creating maps on the way (in the style
// of their parent: a flow map stays a flow map).
func set(m *yaml.Node, path []string, value any) {
	for i, key := range path {
		v := get(m, key)
		last := i == len(path)-1
		if v == nil {
			v = &yaml.Node{Kind: yaml.MappingNode, Style: m.Style & yaml.FlowStyle}
			if last {
				v = &yaml.Node{Kind: yaml.ScalarNode}
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
		}
		if last {
			switch x := value.(type) {
			case int:
				v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!int", fmt.Sprint(x), 0
			default:
				v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!str", fmt.Sprint(x), 0
			}
			return
		}
		m = v
	}
}
