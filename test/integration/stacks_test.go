//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/repo"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks"
)

const deployTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
      {{- with .Values.podStatus }}
      annotations:
        lab.dev/status: {{ . | toJson | quote }}
      {{- end }}
    spec:
      containers:
      - name: app
        image: "registry.local/{{ .Chart.Name }}:{{ .Chart.Version }}"
`

// testChart builds a chart written for the tests: one Deployment whose pods
// kwok makes Ready (or, with podStatus, drives into that status).
func testChart(name, version string) *chart.Chart {
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: name, Version: version, AppVersion: version},
		Templates: []*chart.File{{Name: "templates/deployment.yaml", Data: []byte(deployTemplate)}},
		Values:    map[string]any{"replicas": 1},
	}
}

// chartRepo serves charts as a real HTTP chart repository (index.yaml + .tgz).
func chartRepo(t *testing.T, charts ...*chart.Chart) string {
	dir := t.TempDir()
	for _, c := range charts {
		if _, err := chartutil.Save(c, dir); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

// chartDir writes a chart as a local directory.
func chartDir(t *testing.T, c *chart.Chart) string {
	dir := t.TempDir()
	if err := chartutil.SaveDir(c, dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, c.Name())
}

func installer(t *testing.T) *stacks.Installer {
	return &stacks.Installer{Helm: stacks.Helm{Kubeconfig: cluster.Kubeconfig}, CacheDir: t.TempDir(), Client: cluster.Client, Log: ui.Printf(t.Logf)}
}

func TestStackInstallNoopUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := chartRepo(t, testChart("web", "0.1.0"), testChart("web", "0.2.0"))
	in := installer(t)
	r := stacks.Release{Name: "web", Namespace: "stack-web", Chart: stacks.Source{Repo: url, Name: "web", Version: "0.1.0"}, Values: map[string]any{"replicas": 1}, Timeout: time.Minute}
	o, err := in.Ensure(ctx, r)
	if err != nil || o.Action != "installed" || o.Revision != 1 {
		t.Fatalf("install: %+v %v", o, err)
	}
	if o, err = in.Ensure(ctx, r); err != nil || o.Action != "unchanged" || o.Revision != 1 {
		t.Fatalf("no-op: %+v %v", o, err)
	}
	r.Values = map[string]any{"replicas": 2}
	if o, err = in.Ensure(ctx, r); err != nil || o.Action != "upgraded" || o.Revision != 2 || strings.Join(o.Diff, ";") != "replicas: 1 → 2" {
		t.Fatalf("values upgrade: %+v %v", o, err)
	}
	r.Chart.Version = "0.2.0"
	if o, err = in.Ensure(ctx, r); err != nil || o.Action != "upgraded" || len(o.Diff) != 1 || !strings.Contains(o.Diff[0], "web-0.1.0 → web-0.2.0") {
		t.Fatalf("chart upgrade: %+v %v", o, err)
	}
	// The same chart from a local directory is the same release state.
	r.Chart = stacks.Source{Path: chartDir(t, testChart("web", "0.2.0"))}
	if o, err = in.Ensure(ctx, r); err != nil || o.Action != "unchanged" {
		t.Fatalf("from a directory: %+v %v", o, err)
	}
	// --dry-run -o yaml renders the same release client-side.
	m, err := in.Render(r)
	if err != nil || !strings.Contains(m, "kind: Deployment") || !strings.Contains(m, "replicas: 2") || !strings.Contains(m, "registry.local/web:0.2.0") {
		t.Fatalf("render: %v\n%s", err, m)
	}
}

// A release whose pods never become ready fails, is rolled back (atomic),
// and the error names the pods and why.
func TestStackFailingInstallRolledBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crash := map[string]any{"phase": "Running", "containerStatuses": []any{map[string]any{"name": "app", "image": "x", "ready": false, "restartCount": 4,
		"state": map[string]any{"waiting": map[string]any{"reason": "CrashLoopBackOff", "message": "back-off 40s"}}}}}
	in := installer(t)
	r := stacks.Release{Name: "broken", Namespace: "stack-broken", Chart: stacks.Source{Path: chartDir(t, testChart("broken", "1.0.0"))},
		Values: map[string]any{"replicas": 1, "podStatus": crash}, Timeout: 8 * time.Second}
	_, err := in.Ensure(ctx, r)
	if err == nil {
		t.Fatal("install of a crash-looping chart succeeded")
	}
	if !strings.Contains(err.Error(), "CrashLoopBackOff") || !strings.Contains(err.Error(), "pods not ready in stack-broken") {
		t.Errorf("error does not explain the pods:\n%v", err)
	}
	cfg, _ := in.Helm.Config("stack-broken")
	if rel, err := cfg.Releases.Last("broken"); err == nil {
		t.Errorf("release left behind after atomic install: %s", rel.Info.Status)
	}
}

// A release left pending-install or pending-upgrade by a killed run is
// recovered, then converged.
func TestStackInterruptedRecovered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := installer(t)
	for _, tc := range []struct {
		status release.Status
		want   string
	}{{release.StatusPendingInstall, "recovered-and-installed"}, {release.StatusPendingUpgrade, "recovered-and-upgraded"}} {
		t.Run(string(tc.status), func(t *testing.T) {
			name := "stuck-" + strings.TrimPrefix(string(tc.status), "pending-")
			r := stacks.Release{Name: name, Namespace: "stack-stuck", Chart: stacks.Source{Path: chartDir(t, testChart("stuck", "1.0.0"))}, Values: map[string]any{"replicas": 1}, Timeout: time.Minute}
			if _, err := in.Ensure(ctx, r); err != nil {
				t.Fatal(err)
			}
			if tc.status == release.StatusPendingUpgrade {
				r.Values = map[string]any{"replicas": 2}
				if _, err := in.Ensure(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			// What a killed helm leaves: the newest revision stuck pending.
			cfg, _ := in.Helm.Config("stack-stuck")
			last, err := cfg.Releases.Last(name)
			if err != nil {
				t.Fatal(err)
			}
			last.SetStatus(tc.status, "killed mid-operation")
			if err := cfg.Releases.Update(last); err != nil {
				t.Fatal(err)
			}
			o, err := in.Ensure(ctx, r)
			if err != nil || o.Action != tc.want || o.Recovered == "" {
				t.Fatalf("recovery: %+v %v", o, err)
			}
			if o, err = in.Ensure(ctx, r); err != nil || o.Action != "unchanged" {
				t.Fatalf("after recovery: %+v %v", o, err)
			}
		})
	}
}

// Independent stacks install together, dependents wait for their
// dependencies; a failed stack skips its dependents only.
func TestStacksParallelOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := installer(t)
	plan := func(name string, deps ...string) stacks.Plan {
		return stacks.Plan{Name: name, DependsOn: deps, Releases: []stacks.Release{{Name: name, Namespace: "par-" + name,
			Chart: stacks.Source{Path: chartDir(t, testChart(name, "1.0.0"))}, Values: map[string]any{"replicas": 1}, Timeout: time.Minute}}}
	}
	results, err := in.InstallAll(ctx, []stacks.Plan{plan("app", "crds"), plan("crds"), plan("other")}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]stacks.Result{}
	for _, r := range results {
		by[r.Stack] = r
	}
	crdsEnd := by["crds"].Start.Add(by["crds"].Duration)
	if by["app"].Start.Before(crdsEnd) {
		t.Errorf("app started %s before crds finished %s", by["app"].Start, crdsEnd)
	}
	if !by["other"].Start.Before(crdsEnd) {
		t.Errorf("other did not run alongside crds")
	}
	if _, err := stacks.Order([]stacks.Plan{plan("a", "b"), plan("b", "a")}); err == nil {
		t.Error("cycle accepted")
	}
	// A failing stack skips its dependents, not the others.
	bad := plan("bad")
	bad.Releases[0].Chart = stacks.Source{Path: filepath.Join(os.TempDir(), "no-such-chart")}
	results, err = in.InstallAll(ctx, []stacks.Plan{bad, plan("needs-bad", "bad"), plan("fine")}, true, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, r := range results {
		switch r.Stack {
		case "needs-bad":
			if !strings.Contains(r.Error, "skipped because bad failed") {
				t.Errorf("dependent: %q", r.Error)
			}
		case "fine":
			if r.Err != nil {
				t.Errorf("independent stack failed: %v", r.Err)
			}
		}
	}
}

// lab bundle / up --offline: the pinned charts fetched from a repository go
// into one archive with digests and their images; with the repository gone,
// the release installs from the archive; a tampered archive is refused.
func TestBundleOffline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := chartRepo(t, testChart("airgap", "1.2.0"))
	in := installer(t)
	plans := []stacks.Plan{{Name: "airgap", Releases: []stacks.Release{{Name: "airgap", Namespace: "stack-airgap",
		Chart: stacks.Source{Repo: url, Name: "airgap", Version: "1.2.0"}, Values: map[string]any{"replicas": 1}, Timeout: time.Minute}}}}
	archive := filepath.Join(t.TempDir(), "lab-bundle.tar.gz")
	m, err := in.WriteBundle(ctx, plans, archive, stacks.BundleOptions{LabVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Charts) != 1 || len(m.Charts[0].Images) != 1 || m.Charts[0].Images[0] != "registry.local/airgap:1.2.0" || len(m.Charts[0].SHA256) != 64 {
		t.Fatalf("bundle manifest: %+v", m)
	}
	// Air gap: a fresh installer with an empty cache, and the repository gone.
	offline := installer(t)
	dir := t.TempDir()
	om, err := stacks.OpenBundle(archive, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	plans[0].Releases[0].Chart.Repo = "http://127.0.0.1:1/unreachable"
	if err := stacks.Offline(plans, om, dir); err != nil {
		t.Fatal(err)
	}
	o, err := offline.Ensure(ctx, plans[0].Releases[0])
	if err != nil || o.Action != "installed" || o.Chart != "airgap-1.2.0" {
		t.Fatalf("offline install: %+v %v", o, err)
	}
	// Tampering is caught before anything installs.
	os.WriteFile(filepath.Join(dir, om.Charts[0].File), []byte("not the chart"), 0o644)
	tampered := filepath.Join(t.TempDir(), "tampered.tar.gz")
	repack(t, dir, tampered)
	if _, err := stacks.OpenBundle(tampered, t.TempDir(), ""); !errors.Is(err, stacks.ErrDigest) {
		t.Errorf("tampered bundle: %v", err)
	}
	// An attacker who also rewrites the chart's digest in bundle.json
	// passes the in-archive check, but not the bundle's pinned identity
	// (what `lab bundle` printed, given to `lab up --bundle-digest`).
	idx, _ := os.ReadFile(filepath.Join(dir, "bundle.json"))
	sum := sha256.Sum256([]byte("not the chart"))
	os.WriteFile(filepath.Join(dir, "bundle.json"), bytes.Replace(idx, []byte(om.Charts[0].SHA256), []byte(hex.EncodeToString(sum[:])), 1), 0o644)
	repack(t, dir, tampered)
	if _, err := stacks.OpenBundle(tampered, t.TempDir(), ""); err != nil {
		t.Fatalf("a consistent rewrite should pass the in-archive digests (that is why bundles are pinned): %v", err)
	}
	if _, err := stacks.OpenBundle(tampered, t.TempDir(), m.Digest); !errors.Is(err, stacks.ErrDigest) || !strings.Contains(err.Error(), "--bundle-digest") {
		t.Errorf("a rewritten bundle under the pinned digest: %v", err)
	}
	if _, err := stacks.OpenBundle(archive, t.TempDir(), m.Digest); err != nil {
		t.Errorf("the original under its own digest: %v", err)
	}
}

// repack writes all of dir back into a tar.gz with tar(1), bundle.json
// first as lab writes it (a bundle whose first entry is not its index is
// refused).
func repack(t *testing.T, dir, out string) {
	args := []string{"-czf", out, "-C", dir, "bundle.json"}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if de.Name() != "bundle.json" {
			args = append(args, de.Name())
		}
	}
	if b, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
}

func crdChart(version, extraField string) *chart.Chart {
	// A description big enough that client-side apply's last-applied
	// annotation (256 KiB) could not hold it.
	big := strings.Repeat("lab widget ", 30000)
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.lab.dev
spec:
  group: lab.dev
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: %q
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              %s: {type: string}
`, big, extraField)
	c := testChart("widgets", version)
	c.Files = append(c.Files, &chart.File{Name: "crds/widgets.yaml", Data: []byte(crd)})
	return c
}

// Large CRDs are server-side applied before Helm runs, on install and on
// upgrade (Helm itself never upgrades crds/).
func TestStackCRDsServerSideApplied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := installer(t)
	r := stacks.Release{Name: "widgets", Namespace: "stack-widgets", Chart: stacks.Source{Path: chartDir(t, crdChart("1.0.0", "color"))}, Values: map[string]any{"replicas": 1}, Timeout: time.Minute}
	o, err := in.Ensure(ctx, r)
	if err != nil || o.CRDs != 1 || o.Action != "installed" {
		t.Fatalf("install: %+v %v", o, err)
	}
	r.Chart = stacks.Source{Path: chartDir(t, crdChart("1.1.0", "shape"))}
	if o, err = in.Ensure(ctx, r); err != nil || o.Action != "upgraded" {
		t.Fatalf("upgrade: %+v %v", o, err)
	}
	dyn, _ := dynamic.NewForConfig(cluster.Config)
	crd, err := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).Get(ctx, "widgets.lab.dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	props, _, _ := unstructured.NestedMap(versions[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties")
	if _, ok := props["shape"]; !ok {
		t.Errorf("CRD not upgraded: %v", props)
	}
	if _, ok := crd.GetAnnotations()["kubectl.kubernetes.io/last-applied-configuration"]; ok {
		t.Error("client-side apply annotation present")
	}
}

// A plan's objects (the GPU plan's RuntimeClass) are applied before its releases.
func TestPlanObjectsApplied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := installer(t)
	rc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": map[string]any{"name": "lab-test-rc"}, "handler": "nvidia"}}
	plan := stacks.Plan{Name: "gpu", Objects: []*unstructured.Unstructured{rc}, Releases: []stacks.Release{{Name: "rc-user", Namespace: "stack-rc",
		Chart: stacks.Source{Path: chartDir(t, testChart("rcuser", "1.0.0"))}, Values: map[string]any{"replicas": 1}, Timeout: time.Minute}}}
	if _, err := in.InstallAll(ctx, []stacks.Plan{plan}, true, nil); err != nil {
		t.Fatal(err)
	}
	got, err := cluster.Client.NodeV1().RuntimeClasses().Get(ctx, "lab-test-rc", metav1.GetOptions{})
	if err != nil || got.Handler != "nvidia" {
		t.Fatalf("RuntimeClass: %+v %v", got, err)
	}
}
