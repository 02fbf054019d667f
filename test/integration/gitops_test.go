//go:build integration

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/gitops"
)

// setStatus writes .status the way Argo CD's application controller does
// (the Application CRD has no status subresource: an update of the object).
func setStatus(t *testing.T, ctx context.Context, dyn dynamic.Interface, name string, status map[string]any) {
	t.Helper()
	ri := dyn.Resource(gitops.ApplicationGVR).Namespace(gitops.Namespace)
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	u.Object["status"] = status
	got, err := ri.Update(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	if _, kept := got.Object["status"]; !kept {
		t.Errorf("the API server dropped the status of %s", name)
	}
}

func TestGitOpsApplicationsOnRealAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := kube.NewApplier(cluster.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	crd, _ := gitops.ApplicationCRD()
	if _, err := a.Apply(ctx, []*unstructured.Unstructured{crd}); err != nil {
		t.Fatal(err)
	}
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gitops.Namespace}}, metav1.CreateOptions{})
	p := gitops.ParamsFor(config.Default(), "http://git.lab.local/lab")
	root, _ := gitops.Root(p)
	children, _ := gitops.Children(p)
	var res []kube.Result
	for i := 0; i < 50; i++ { // the new CRD takes a moment to be served
		if res, err = a.Apply(ctx, append([]*unstructured.Unstructured{root}, children...)); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("applied %+v", res)
	}
	dyn, _ := dynamic.NewForConfig(cluster.Config)
	got, err := dyn.Resource(gitops.ApplicationGVR).Namespace(gitops.Namespace).Get(ctx, gitops.RootName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if url, _, _ := unstructured.NestedString(got.Object, "spec", "source", "repoURL"); url != "http://git.lab.local/lab" {
		t.Errorf("root repoURL %q", url)
	}
	names := []string{gitops.RootName, "lab-agent", "demo"}
	for _, n := range names { // a repeated run (-count) starts from no status again
		if u, err := dyn.Resource(gitops.ApplicationGVR).Namespace(gitops.Namespace).Get(ctx, n, metav1.GetOptions{}); err == nil {
			delete(u.Object, "status")
			dyn.Resource(gitops.ApplicationGVR).Namespace(gitops.Namespace).Update(ctx, u, metav1.UpdateOptions{})
		}
	}
	short := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}
	// No status yet: the wait explains that nothing reconciles.
	if _, err := gitops.Wait(short(3*time.Second), dyn, gitops.Namespace, names, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no status yet") {
		t.Errorf("missing status: %v", err)
	}
	healthy := map[string]any{"sync": map[string]any{"status": "Synced", "revision": "abc123"}, "health": map[string]any{"status": "Healthy"}}
	setStatus(t, ctx, dyn, gitops.RootName, healthy)
	setStatus(t, ctx, dyn, "lab-agent", healthy)
	setStatus(t, ctx, dyn, "demo", map[string]any{"sync": map[string]any{"status": "OutOfSync"}, "health": map[string]any{"status": "Degraded", "message": "1 of 2 pods failing"},
		"resources": []any{map[string]any{"kind": "Deployment", "name": "web", "namespace": "demo", "status": "OutOfSync", "health": map[string]any{"status": "Degraded", "message": "Deployment exceeded its progress deadline"}}}})
	_, err = gitops.Wait(short(3*time.Second), dyn, gitops.Namespace, names, 100*time.Millisecond)
	for _, want := range []string{"demo: OutOfSync/Degraded", "out of sync: demo/Deployment/web", "progress deadline"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("degraded wait error lacks %q: %v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "lab-agent:") {
		t.Errorf("a healthy app is reported: %v", err)
	}
	// The controller catches up while we wait.
	go func() {
		time.Sleep(500 * time.Millisecond)
		setStatus(t, ctx, dyn, "demo", healthy)
	}()
	sts, err := gitops.Wait(short(20*time.Second), dyn, gitops.Namespace, names, 100*time.Millisecond)
	if err != nil || len(sts) != 3 {
		t.Fatalf("wait: %v %+v", err, sts)
	}
	// Sync and refresh as the Argo CD CLI asks for them.
	if err := gitops.Sync(ctx, dyn, gitops.Namespace, "demo", "HEAD", true); err != nil {
		t.Fatal(err)
	}
	if err := gitops.Refresh(ctx, dyn, gitops.Namespace, "demo", true); err != nil {
		t.Fatal(err)
	}
	u, _ := dyn.Resource(gitops.ApplicationGVR).Namespace(gitops.Namespace).Get(ctx, "demo", metav1.GetOptions{})
	if prune, _, _ := unstructured.NestedBool(u.Object, "operation", "sync", "prune"); !prune || u.GetAnnotations()["argocd.argoproj.io/refresh"] != "hard" {
		t.Errorf("sync/refresh not requested: %v %v", u.Object["operation"], u.GetAnnotations())
	}
}

// `lab gitops init` content committed to a local repository is served to a
// real `git clone` over HTTP (offline labs).
func TestLocalGitServerServesClone(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "lab")
	written, err := pipeline.InitGitOpsRepo(repo, config.Default(), "http://127.0.0.1/lab")
	if err != nil || len(written) < 4 {
		t.Fatalf("init: %v %v", written, err)
	}
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=lab", "GIT_AUTHOR_EMAIL=lab@lab.dev", "GIT_COMMITTER_NAME=lab", "GIT_COMMITTER_EMAIL=lab@lab.dev")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(repo, "init", "-q", "-b", "main")
	git(repo, "add", ".")
	git(repo, "commit", "-q", "-m", "lab gitops init")
	srv, err := gitops.ServeGit(repo, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	clone := filepath.Join(t.TempDir(), "clone")
	git(root, "clone", "-q", srv.RepoURL(), clone)
	for _, f := range []string{"apps/demo.yaml", "apps/lab-agent.yaml", "demo/web.yaml", "agent/agent.yaml", "README.md"} {
		if _, err := os.Stat(filepath.Join(clone, f)); err != nil {
			t.Errorf("clone lacks %s", f)
		}
	}
	// Read-only: a push is refused.
	cmd := exec.Command("git", "push", srv.RepoURL(), "main:refs/heads/evil")
	cmd.Dir = clone
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("push accepted: %s", out)
	}
}
