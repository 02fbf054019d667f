//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/gitops"
	"lab.dev/lab/stacks"
	"lab.dev/lab/test/harness"
)

// lab's policy set against the real schemas: Kyverno's CRDs (from the
// module of the release the pinned chart installs, see test/bin/build.sh)
// and the API server's own NetworkPolicy, by server-side dry run with strict
// field validation; a ClusterPolicy with a failure action Kyverno does not
// know is refused, so the check is not vacuous. Linkerd's policy CRDs are
// not served by the module proxy: those objects are checked where the
// linkerd-crds chart can be fetched (TestUpstreamCharts), not here.
func TestPolicySetValidatesAgainstRealSchemas(t *testing.T) {
	ctx := testCtx(t)
	marker, err := harness.Bin("kyverno-crds")
	if err == nil {
		marker, err = filepath.EvalSymlinks(marker)
	}
	if err != nil {
		t.Fatalf("Kyverno CRDs not in the test-binary cache (make testbin): %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(marker), "kyverno.io_*.yaml"))
	var crds []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := kube.DecodeYAML(b)
		if err != nil {
			t.Fatal(err)
		}
		crds = append(crds, objs...)
	}
	if len(crds) < 5 {
		t.Fatalf("%d Kyverno CRDs in %s", len(crds), filepath.Dir(marker))
	}
	a, err := kube.NewApplier(cluster.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, crds); err != nil {
		t.Fatal(err)
	}
	l := config.Default()
	l.Policies = config.Policies{Enabled: true, Enforce: true, Namespaces: []string{"policy-demo", "policy-shop"}}
	pol, err := gitops.Policies(gitops.ParamsFor(l, "http://git"))
	if err != nil {
		t.Fatal(err)
	}
	var objs, linkerd []*unstructured.Unstructured
	for name, b := range pol {
		docs, err := kube.DecodeYAML(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, o := range docs {
			if strings.HasPrefix(o.GetAPIVersion(), "policy.linkerd.io/") {
				linkerd = append(linkerd, o)
				continue
			}
			objs = append(objs, o)
		}
	}
	for _, ns := range append(l.Policies.Namespaces, "ollama", l.Agent.Namespace) {
		cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	}
	dry, res, err := dryRunNewKinds(ctx, t, objs)
	if err != nil || len(res) != len(objs) {
		t.Fatalf("server-side dry run of the policy set: %v %+v", err, res)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	if kinds["ClusterPolicy"] != 4 || kinds["NetworkPolicy"] != 10 {
		t.Errorf("validated %v", kinds)
	}
	// Linkerd's policy CRDs come with the linkerd-crds chart, which the module
	// proxy does not serve: validated where LAB_UPSTREAM_CHARTS holds it.
	if dir, ok := upstreamChart(os.Getenv("LAB_UPSTREAM_CHARTS"), "linkerd-crds", config.Pinned().Charts["linkerd-crds"]); ok {
		if _, err := installer(t).Ensure(ctx, stacks.Release{Name: "linkerd-crds", Namespace: "linkerd", Chart: stacks.Source{Path: dir}, Timeout: 2 * time.Minute}); err != nil {
			t.Fatalf("linkerd-crds from %s: %v", dir, err)
		}
		if _, _, err := dryRunNewKinds(ctx, t, linkerd); err != nil {
			t.Errorf("server-side dry run of the Linkerd policy objects: %v", err)
		}
		kinds["linkerd"] = len(linkerd)
	}
	t.Logf("validated %v (Linkerd's %d objects only with LAB_UPSTREAM_CHARTS)", kinds, len(linkerd))
	// The schema is real: an unknown failure action is refused.
	bad := objs[0].DeepCopy()
	for _, o := range objs {
		if o.GetKind() == "ClusterPolicy" {
			bad = o.DeepCopy()
			break
		}
	}
	rules, _, _ := unstructured.NestedSlice(bad.Object, "spec", "rules")
	unstructured.SetNestedField(rules[0].(map[string]any), "Block", "validate", "failureAction")
	unstructured.SetNestedSlice(bad.Object, rules, "spec", "rules")
	if _, err := dry.Apply(ctx, []*unstructured.Unstructured{bad}); err == nil || !strings.Contains(err.Error(), "failureAction") {
		t.Errorf("a ClusterPolicy with failureAction Block was accepted: %v", err)
	}
}
