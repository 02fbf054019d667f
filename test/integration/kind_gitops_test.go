//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/core/config"
	"lab.dev/lab/gitops"
	"lab.dev/lab/stacks"
)

// Offline GitOps on real nodes: gitops.repo names a folder on the host, and
// `lab up` serves it read-only on the host's address on kind's network, where
// pods reach it; a pod in the cluster clones it; a second `up` keeps the same
// server. Argo CD's images cannot be built here, so the argo-cd release is a
// chart of the tests' that installs only the Application CRD, and the test
// writes the root Application's status the way Argo CD's controller would.
func kindGitOps(t *testing.T, ctx context.Context, k *kindLab) {
	repos := t.TempDir()
	repo := filepath.Join(repos, "lab")
	os.MkdirAll(repo, 0o755)
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("served by lab up\n"), 0o644)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "lab"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = repo, append(os.Environ(), "GIT_AUTHOR_NAME=lab", "GIT_AUTHOR_EMAIL=lab@lab.dev", "GIT_COMMITTER_NAME=lab", "GIT_COMMITTER_EMAIL=lab@lab.dev")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	y := "apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: kindlab}\n" +
		"cluster: {provider: kind, workers: 2, nodeImage: \"" + kindNodeImage(t, ctx) + "\"}\n" +
		"stacks: {argocd: {enabled: true, timeout: 3m}, linkerd: {enabled: false}, prometheus: {enabled: false}, ollama: {enabled: false}}\n" +
		"gitops: {enabled: true, repo: \"" + repo + "\"}\n" +
		"agent: {namespaces: [demo]}\n"
	if err := os.WriteFile(k.cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	crd, err := os.ReadFile("../../manifests/gitops/application-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	argo := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "argo-cd", Version: config.Pinned().Charts["argo-cd"]},
		Files: []*chart.File{{Name: "crds/applications.yaml", Data: crd}}}
	archive, _ := kindBundle(t, ctx, k, nil, argo)

	// Argo CD's part: the root Application Synced and Healthy once it exists.
	rc, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Second):
			}
			if _, err := dyn.Resource(gitops.ApplicationGVR).Namespace(gitops.Namespace).Get(ctx, gitops.RootName, metav1.GetOptions{}); err == nil {
				setStatus(t, ctx, dyn, gitops.RootName, map[string]any{"sync": map[string]any{"status": "Synced"}, "health": map[string]any{"status": "Healthy"}})
				return
			}
		}
	}()
	code, _, errOut := k.run("up", "--offline", "--bundle", archive)
	if code != 0 || !strings.Contains(errOut, "served read-only to the cluster at") {
		t.Fatalf("up with a local gitops.repo: %d\n%s", code, errOut)
	}
	var srv struct {
		PID int
		URL string
	}
	b, _ := os.ReadFile(filepath.Join(k.home, "labs", k.name, "gitserver.json"))
	if err := json.Unmarshal(b, &srv); err != nil || srv.PID == 0 {
		t.Fatalf("gitserver.json: %v %s", err, b)
	}
	app, err := dyn.Resource(gitops.ApplicationGVR).Namespace(gitops.Namespace).Get(ctx, gitops.RootName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := app.Object["spec"].(map[string]any)["source"].(map[string]any)["repoURL"]; got != srv.URL+"/lab" {
		t.Errorf("root Application repoURL %v, want the served %s/lab", got, srv.URL)
	}

	// A pod in the cluster clones it (git from Debian on the node image's base).
	dir := t.TempDir()
	buildImage(t, ctx, "lab.dev/git:test", dir, "FROM lab.dev/kind/base:"+config.Pinned().Components["debian"]+
		"\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git >/dev/null && rm -rf /var/lib/apt/lists/*\n",
		"--network", "host") // apt needs Debian's archive
	k.loadImage("lab.dev/git:test")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "clone"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "git", Image: "lab.dev/git:test", ImagePullPolicy: corev1.PullNever,
			Command: []string{"sh", "-c", "git clone -q " + srv.URL + "/lab /tmp/lab && cat /tmp/lab/README.md"}}}}}
	if _, err := k.cs.CoreV1().Pods("demo").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		p, err := k.cs.CoreV1().Pods("demo").Get(ctx, "clone", metav1.GetOptions{})
		if err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			phase = p.Status.Phase
			break
		}
	}
	logs, _ := k.cs.CoreV1().Pods("demo").GetLogs("clone", &corev1.PodLogOptions{}).DoRaw(ctx)
	if phase != corev1.PodSucceeded || !strings.Contains(string(logs), "served by lab up") {
		t.Fatalf("a pod cloning %s/lab: phase %q, log:\n%s", srv.URL, phase, logs)
	}
	t.Logf("a pod cloned %s/lab (served by lab up, PID %d)", srv.URL, srv.PID)
	k.gitServerPID = srv.PID

	if code, _, errOut := k.run("up", "--offline"); code != 0 || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("second up: %d\n%s", code, errOut)
	}
	b, _ = os.ReadFile(filepath.Join(k.home, "labs", k.name, "gitserver.json"))
	var again struct{ PID int }
	if json.Unmarshal(b, &again); again.PID != srv.PID {
		t.Errorf("the second up replaced the git server: PID %d → %d", srv.PID, again.PID)
	}
}

// kindBundle writes a bundle of the lab.yaml's enabled stacks from charts of
// the tests' (with the charts' images saved from the local engine and, when
// src is set, its model), as `lab bundle` does.
func kindBundle(t *testing.T, ctx context.Context, k *kindLab, src *bundleModelSource, charts ...*chart.Chart) (string, *stacks.BundleManifest) {
	t.Helper()
	l, err := config.LoadFile(k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := stacks.Env{Lab: l}
	if src != nil {
		env.Model, env.ModelBundled = src.model, true
	}
	plans, err := stacks.Plans(l, env)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, c := range charts {
		paths[c.Name()] = chartDir(t, c)
	}
	for i := range plans {
		for j := range plans[i].Releases {
			plans[i].Releases[j].Chart = stacks.Source{Path: paths[plans[i].Releases[j].Chart.Name]}
		}
	}
	eng := needEngine(t, ctx)
	defer eng.Close()
	o := stacks.BundleOptions{LabVersion: "test", Engine: eng}
	if src != nil {
		o.Model, o.ModelRegistry = src.model, src.registry
	}
	archive := filepath.Join(t.TempDir(), "bundle.tar.gz")
	m, err := installer(t).WriteBundle(ctx, plans, archive, o)
	if err != nil {
		t.Fatalf("lab bundle: %v", err)
	}
	return archive, m
}

type bundleModelSource struct{ model, registry string }
