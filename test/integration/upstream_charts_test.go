//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"lab.dev/lab/core/config"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
	"lab.dev/lab/test/harness"
)

// upstreamChart finds chart name at version under LAB_UPSTREAM_CHARTS (see
// stacks.FindChart). make test points LAB_UPSTREAM_CHARTS at
// ../shared/charts when it exists, as it does in CI.
func upstreamChart(root, name, version string) (string, bool) {
	p := stacks.FindChart(root, name, version)
	return p, p != ""
}

// upstreamCharts is the folder of real upstream charts the tests install:
// LAB_UPSTREAM_CHARTS (../shared/charts) and, when make testbin has
// assembled it from the kyverno module, Kyverno's chart (that folder does
// not hold it); "" without LAB_UPSTREAM_CHARTS.
func upstreamCharts(t *testing.T) string {
	t.Helper()
	root := os.Getenv("LAB_UPSTREAM_CHARTS")
	if root == "" {
		return ""
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("LAB_UPSTREAM_CHARTS: %v", err)
	}
	for _, e := range entries {
		abs, _ := filepath.Abs(filepath.Join(root, e.Name()))
		if err := os.Symlink(abs, filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if marker, err := harness.Bin("kyverno-chart"); err == nil {
		if marker, err = filepath.EvalSymlinks(marker); err == nil {
			tgz, _ := filepath.Glob(filepath.Join(filepath.Dir(marker), "kyverno-*.tgz"))
			for _, f := range tgz {
				if err := os.Symlink(f, filepath.Join(dir, filepath.Base(f))); err != nil && !os.IsExist(err) {
					t.Fatal(err)
				}
			}
		}
	}
	return dir
}

// The real upstream charts (this machine cannot reach chart repositories:
// LAB_UPSTREAM_CHARTS holds them), installed with lab's values through lab's
// installer on the kwok control plane — online and as an offline bundle
// would set them. Without LAB_UPSTREAM_CHARTS the test skips.
func TestUpstreamCharts(t *testing.T) {
	root := upstreamCharts(t)
	if root == "" {
		t.Skip("LAB_UPSTREAM_CHARTS not set: no checked-out upstream charts to install")
	}
	l := config.Default()
	l.Cluster.Provider = "kwok"
	l.Policies.Enabled, l.Stacks.Kyverno.Enabled = true, true // the kyverno chart too
	plans, err := stacks.Plans(l, stacks.Env{Lab: l, Model: "phi3:mini", Certs: mustCertSet(t)})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range plans {
		for _, r := range p.Releases {
			dir, ok := upstreamChart(root, r.Chart.Name, r.Chart.Version)
			if !ok {
				t.Logf("%s: no %s %s under %s, skipped", r.Name, r.Chart.Name, r.Chart.Version, root)
				continue
			}
			found++
			t.Run(r.Name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				r.Chart = stacks.Source{Path: dir}
				r.Timeout = 3 * time.Minute
				adoptCRDs(ctx, t, r.Name, r.Namespace)
				o, err := installer(t).Ensure(ctx, r)
				if err != nil {
					t.Fatalf("installing upstream %s with lab's values: %v", r.Chart.Path, err)
				}
				t.Logf("%s: %s %s rev %d", r.Name, o.Action, o.Chart, o.Revision)
			})
		}
	}
	if found == 0 {
		t.Fatalf("no chart of the catalogue found under %s", root)
	}
}

// adoptCRDs: earlier tests on this shared control plane created Argo CD's
// Application CRD and Kyverno's CRDs directly (lab talks to Argo CD through
// the one, validates its policy set against the others), so the real chart
// would find them unowned and refuse to install. Mark the CRDs it ships
// for adoption by the release, as a user adopting existing CRDs does
// (Helm's managed-by label and release annotations).
func adoptCRDs(ctx context.Context, t *testing.T, release, namespace string) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	var names []string
	switch release {
	case "argocd":
		names = []string{"applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io"}
	case "kyverno": // TestPolicySetValidatesAgainstRealSchemas applies Kyverno's CRDs from its module
		list, err := crds.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list.Items {
			if n := c.GetName(); strings.HasSuffix(n, ".kyverno.io") || strings.HasSuffix(n, ".wgpolicyk8s.io") {
				names = append(names, n)
			}
		}
	}
	for _, name := range names {
		patch := fmt.Sprintf(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"Helm"},"annotations":{"meta.helm.sh/release-name":%q,"meta.helm.sh/release-namespace":%q}}}`, release, namespace)
		if _, err := crds.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("adopting CRD %s: %v", name, err)
		}
	}
}

func mustCertSet(t *testing.T) *certs.Set {
	s, err := certs.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Opt-in, with LAB_UPSTREAM_CHARTS holding all five charts at the pinned
// versions: a bundle made by lab from them, then `lab up --offline --bundle`
// of a kwok lab with every stack on — the whole pipeline on the real charts
// with nothing fetched — status healthy, a second up changes nothing, down.
func TestUpOfflineWithUpstreamCharts(t *testing.T) {
	root := os.Getenv("LAB_UPSTREAM_CHARTS")
	if root == "" {
		t.Skip("LAB_UPSTREAM_CHARTS not set: no checked-out upstream charts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newLabEnv(t, "upstream", 1)
	os.WriteFile(e.cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: upstream}\n"+
		"cluster: {provider: kwok, workers: 2, kwok: {nodeCPU: \"16\", nodeMemory: 64Gi}}\n"+
		"stacks: {ollama: {model: phi3:mini}}\ngitops: {enabled: false}\n"), 0o644)
	l, err := config.LoadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := stacks.Plans(l, stacks.Env{Lab: l, Model: "phi3:mini", Certs: mustCertSet(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range plans {
		for j := range plans[i].Releases {
			r := &plans[i].Releases[j]
			path, ok := upstreamChart(root, r.Chart.Name, r.Chart.Version)
			if !ok {
				t.Fatalf("no %s %s under %s", r.Chart.Name, r.Chart.Version, root)
			}
			r.Chart = stacks.Source{Path: path}
		}
	}
	archive := filepath.Join(t.TempDir(), "upstream.tar.gz")
	if _, err := installer(t).WriteBundle(ctx, plans, archive, stacks.BundleOptions{LabVersion: "test"}); err != nil {
		t.Fatalf("bundling the upstream charts: %v", err)
	}
	start := time.Now()
	if code, _, errOut := e.run("up", "--offline", "--bundle", archive); code != 0 {
		t.Fatalf("up --offline: %d\n%s", code, errOut)
	}
	t.Logf("lab up --offline with the four stacks: %s", time.Since(start).Round(time.Second))
	code, st := e.status()
	if rels, _ := st["releases"].([]any); code != 0 || len(rels) != 5 {
		t.Fatalf("status: %d %v", code, st)
	}
	if code, _, errOut := e.run("up", "--offline", "--bundle", archive); code != 0 || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("second up: %d\n%s", code, errOut)
	}
}
