package gitops

import (
	"fmt"
	"lab.dev/lab/core/golden"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
)

func TestRootAndChildrenGolden(t *testing.T) {
	l := config.Default()
	p := ParamsFor(l, "http://git.lab.local/lab")
	root, err := Root(p)
	if err != nil {
		t.Fatal(err)
	}
	children, err := Children(p)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range append([]*unstructured.Unstructured{root}, children...) {
		y, _ := yaml.Marshal(u.Object)
		b.WriteString("---\n")
		b.Write(y)
	}
	golden.Check(t, filepath.Join("testdata", "apps.golden.yaml"), []byte(b.String()))
	if children[0].GetName() != "lab-agent" || children[len(children)-1].GetName() != "demo" {
		t.Errorf("children not in sync-wave order: %s … %s", children[0].GetName(), children[len(children)-1].GetName())
	}
	auto, _, _ := unstructured.NestedBool(root.Object, "spec", "syncPolicy", "automated", "selfHeal")
	prune, _, _ := unstructured.NestedBool(root.Object, "spec", "syncPolicy", "automated", "prune")
	if !auto || !prune {
		t.Error("root lacks automated prune + self-heal")
	}
}

func app(status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "demo"}}}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  map[string]any
		ready   bool
		explain []string
	}{
		{"missing", nil, false, []string{"no status yet"}},
		{"healthy", map[string]any{"sync": map[string]any{"status": "Synced"}, "health": map[string]any{"status": "Healthy"}}, true, []string{"Synced, Healthy"}},
		{"out-of-sync", map[string]any{"sync": map[string]any{"status": "OutOfSync"}, "health": map[string]any{"status": "Healthy"},
			"resources": []any{map[string]any{"kind": "Deployment", "name": "web", "namespace": "demo", "status": "OutOfSync"}, map[string]any{"kind": "Service", "name": "web", "status": "Synced"}}},
			false, []string{"OutOfSync/Healthy", "out of sync: demo/Deployment/web (OutOfSync)"}},
		{"degraded", map[string]any{"sync": map[string]any{"status": "Synced"}, "health": map[string]any{"status": "Degraded", "message": "1 of 2 pods failing"},
			"conditions":     []any{map[string]any{"type": "SyncError", "message": "one or more objects failed to apply"}},
			"operationState": map[string]any{"phase": "Failed", "message": "hook failed"},
			"resources":      []any{map[string]any{"kind": "Deployment", "name": "web", "status": "Synced", "health": map[string]any{"status": "Degraded", "message": "Deployment exceeded its progress deadline"}}}},
			false, []string{"Synced/Degraded", "1 of 2 pods failing", "last sync Failed: hook failed", "Deployment/web Degraded: Deployment exceeded its progress deadline", "SyncError: one or more objects failed to apply"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Evaluate(app(tc.status))
			if s.Ready() != tc.ready {
				t.Errorf("ready %v", s.Ready())
			}
			for _, w := range tc.explain {
				if !strings.Contains(s.Explain(), w) {
					t.Errorf("explain %q lacks %q", s.Explain(), w)
				}
			}
		})
	}
}

// The policy set: off by default; on, its Application syncs last (wave 20)
// and its objects carry the failure action lab.yaml asks for, exempt lab's
// own namespaces and default-deny each workload namespace.
func TestPolicySet(t *testing.T) {
	l := config.Default()
	if files, _ := Policies(ParamsFor(l, "http://git")); len(files) != 0 {
		t.Fatalf("policies off, yet %d files", len(files))
	}
	l.Policies = config.Policies{Enabled: true, Enforce: true, Namespaces: []string{"demo", "shop"}}
	p := ParamsFor(l, "http://git")
	children, err := Children(p)
	if err != nil {
		t.Fatal(err)
	}
	last := children[len(children)-1]
	if last.GetName() != "lab-policies" || wave(last) != 20 {
		t.Errorf("last child %s (wave %d), want lab-policies at wave 20", last.GetName(), wave(last))
	}
	// Kyverno defaults its policies: compared client-side they never sync.
	if o := last.GetAnnotations()["argocd.argoproj.io/compare-options"]; o != "ServerSideDiff=true,IncludeMutationWebhook=true" {
		t.Errorf("lab-policies compare-options %q", o)
	}
	files, err := Policies(p)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for name, b := range files {
		objs, err := kube.DecodeYAML(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, o := range objs {
			kinds[o.GetKind()]++
			if o.GetKind() != "ClusterPolicy" {
				continue
			}
			rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
			for _, r := range rules {
				rm := r.(map[string]any)
				if a, _, _ := unstructured.NestedString(rm, "validate", "failureAction"); a != "Enforce" {
					t.Errorf("%s/%s: failureAction %q", o.GetName(), rm["name"], a)
				}
				ns, _, _ := unstructured.NestedSlice(rm, "exclude", "any")
				if len(ns) == 0 || !strings.Contains(fmt.Sprint(ns), "monitoring") || !strings.Contains(fmt.Sprint(ns), "kube-system") {
					t.Errorf("%s/%s: lab's namespaces not exempt: %v", o.GetName(), rm["name"], ns)
				}
			}
		}
	}
	if kinds["ClusterPolicy"] != 4 || kinds["NetworkPolicy"] != 2*4+2 || kinds["Server"] != 2 || kinds["AuthorizationPolicy"] != 2 {
		t.Errorf("objects by kind: %v", kinds)
	}
	l.Stacks.Linkerd.Enabled, l.Policies.Enforce = false, false
	files, _ = Policies(ParamsFor(l, "http://git"))
	if _, ok := files["policies/linkerd.yaml"]; ok {
		t.Error("Linkerd objects without the mesh")
	}
	if !strings.Contains(string(files["policies/kyverno.yaml"]), "failureAction: Audit") {
		t.Error("Audit is not the default")
	}
}
