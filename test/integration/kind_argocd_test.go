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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/core/config"
	"lab.dev/lab/gitops"
)

// argoBuilt tells whether the Argo CD binary its image is made from is in
// the test-binary cache (test/bin/build.sh builds it; LAB_SKIP_ARGOCD=1
// leaves it out).
func argoBuilt() (bool, string) {
	v := config.Pinned().Components["argocd"]
	p := filepath.Join(os.Getenv("LAB_TESTBIN"), "argocd-"+v, "argocd")
	_, err := os.Stat(p)
	return err == nil, p
}

// ownRepo is the lab's own GitOps repository (lab up wrote and serves it).
func ownRepo(k *kindLab) string {
	return filepath.Join(k.home, "labs", k.name, "gitops", "lab")
}

// commit writes files into the lab's own repository and commits them, as a
// person (or the agent's proposal applied by one) would.
func commit(t *testing.T, repo, msg string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = repo, append(os.Environ(), "GIT_AUTHOR_NAME=sre", "GIT_AUTHOR_EMAIL=sre@lab.dev", "GIT_COMMITTER_NAME=sre", "GIT_COMMITTER_EMAIL=sre@lab.dev")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("add", "-A")
	git("commit", "-q", "-m", msg)
	return git("rev-parse", "HEAD")
}

// dynamic is a dynamic client of the kind lab.
func (k *kindLab) dynamic(t *testing.T) dynamic.Interface {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

func argoApps(ctx context.Context, t *testing.T, k *kindLab) (dynamic.Interface, map[string]gitops.AppStatus) {
	dyn := k.dynamic(t)
	sts, err := gitops.List(ctx, dyn, gitops.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]gitops.AppStatus{}
	for _, s := range sts {
		out[s.Name] = s
	}
	return dyn, out
}

// GitOps for real: the real Argo CD (application controller, repo-server,
// server, Redis) synced the root Application from the lab's own repository
// — written, committed and served by lab up, cloned by the repo-server
// over the kind network — and its children (the agent's RBAC, the demo
// app, whose images the bundle carried); a commit to that repository
// reaches the cluster through Argo CD alone (lab gitops sync sets the
// Application's operation, the controller applies the commit), and lab
// gitops diff reads the real controller's verdict.
func kindArgoGitOps(t *testing.T, ctx context.Context, k *kindLab) {
	_, apps := argoApps(ctx, t, k)
	for _, name := range []string{gitops.RootName, "lab-agent", "demo"} {
		if s, ok := apps[name]; !ok || !s.Ready() {
			t.Fatalf("Application %s after up: %+v (all: %+v)", name, s, apps)
		}
	}
	t.Logf("Argo CD synced from the lab's own repository: %+v", apps)
	if code, out, errOut := k.run("gitops", "diff"); code != 0 {
		t.Fatalf("lab gitops diff on a synced lab: %d\n%s%s", code, out, errOut)
	}

	repo := ownRepo(k)
	start := time.Now()
	rev := commit(t, repo, "a ConfigMap through Argo CD", map[string]string{"demo/lab-probe.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lab-probe, namespace: demo}\ndata: {commit: one}\n"})
	if code, _, errOut := k.run("gitops", "sync", "demo"); code != 0 {
		t.Fatalf("lab gitops sync demo: %d\n%s", code, errOut)
	}
	for {
		cm, err := k.cs.CoreV1().ConfigMaps("demo").Get(ctx, "lab-probe", metav1.GetOptions{})
		if err == nil {
			if cm.Labels["app.kubernetes.io/instance"] == "" && cm.Annotations["argocd.argoproj.io/tracking-id"] == "" {
				t.Errorf("lab-probe carries no Argo CD tracking: %v %v", cm.Labels, cm.Annotations)
			}
			break
		}
		if time.Since(start) > 3*time.Minute {
			_, apps := argoApps(ctx, t, k)
			t.Fatalf("commit %s did not reach the cluster in 3 min: %v; Applications: %+v", rev[:8], err, apps)
		}
		time.Sleep(3 * time.Second)
	}
	t.Logf("commit %s → Argo CD applied it: %s", rev[:8], time.Since(start).Round(time.Second))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, out, _ := k.run("gitops", "diff", "-o", "json")
		var sts []gitops.AppStatus
		json.Unmarshal([]byte(out), &sts)
		synced := false
		for _, s := range sts {
			if s.Name == "demo" && s.Ready() && s.Revision == rev {
				synced = true
			}
		}
		if code == 0 && synced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lab gitops diff after the sync: %d\n%s", code, out)
		}
		time.Sleep(5 * time.Second)
	}
}

// The loop on real components, through git: a cache that needs 64 MiB is
// deployed by Argo CD from the lab's repository with a 48Mi limit; the
// kernel OOM-kills it; Prometheus sees the restart and Alertmanager pages
// the in-cluster agent, whose report names OOMKilled (first report); lab
// diagnose on the host, where the repository is, proposes the fix as a diff
// of the file in git (second report); the diff is committed as proposed,
// Argo CD syncs it, and the agent's diagnosis of the new pod finds it
// healthy (the verification).
func kindGitOpsLoop(t *testing.T, ctx context.Context, k *kindLab) {
	repo := ownRepo(k)
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: cache
        image: lab.dev/target:test
        imagePullPolicy: Never
        args: [cache, "4", "64"]
        resources:
          requests: {memory: 48Mi}
          limits: {memory: 48Mi}
`
	start := time.Now()
	commit(t, repo, "the cache service", map[string]string{"demo/cache.yaml": manifest})
	if code, _, errOut := k.run("gitops", "sync", "demo"); code != 0 {
		t.Fatalf("lab gitops sync demo: %d\n%s", code, errOut)
	}
	// First report: Alertmanager → the in-cluster agent.
	report, logs := agentReport(ctx, t, k, "LabContainerRestarted", "demo/cache-", 8*time.Minute)
	if report == "" {
		t.Fatalf("no report on demo/cache from the in-cluster agent; its log:\n%s\npods:\n%s\n%s", logs, podTable(ctx, k.cs, "demo"), alertPath(ctx, k, "demo"))
	}
	if !containsAll(report, []string{"OOMKilled", "48Mi", "trace "}) {
		t.Fatalf("the agent's report on the cache: %s", report)
	}
	t.Logf("first report (Alertmanager → in-cluster agent), %s after the commit:\n%.1200s", time.Since(start).Round(time.Second), report)
	// Second report: the diagnosis with the GitOps repository at hand.
	pods, err := k.cs.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{LabelSelector: "app=cache"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("cache pods: %v", err)
	}
	code, out, errOut := k.run("diagnose", pods.Items[0].Name, "-n", "demo", "--no-llm", "-o", "json")
	var rep struct {
		TraceID  string
		Findings []struct{ Category string }
		GitOps   *struct {
			Managed *struct{ By, App string }
			Change  *struct{ File, Diff string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Findings) == 0 || rep.GitOps == nil || rep.GitOps.Change == nil {
		t.Fatalf("lab diagnose %s: %d %v\n%s\n%s", pods.Items[0].Name, code, err, out, errOut)
	}
	if rep.Findings[0].Category != "OOMKilled" || rep.GitOps.Managed == nil || rep.GitOps.Change.File != "demo/cache.yaml" || !strings.Contains(rep.GitOps.Change.Diff, "96Mi") {
		t.Fatalf("second report (trace %s): %+v, GitOps %+v %+v", rep.TraceID, rep.Findings, rep.GitOps.Managed, rep.GitOps.Change)
	}
	t.Logf("second report (trace %s): %s, managed by %s, diff of %s:\n%s", rep.TraceID, rep.Findings[0].Category, rep.GitOps.Managed.By, rep.GitOps.Change.File, rep.GitOps.Change.Diff)
	// The fix, committed as proposed, reaches the cluster through Argo CD.
	apply := exec.Command("git", "apply", "-")
	apply.Dir, apply.Stdin = repo, strings.NewReader(rep.GitOps.Change.Diff)
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("git apply of the agent's diff: %v\n%s", err, out)
	}
	fixed := time.Now()
	rev := commit(t, repo, "cache: memory limit as lab diagnose proposed (trace "+rep.TraceID+")", nil)
	if code, _, errOut := k.run("gitops", "sync", "demo"); code != 0 {
		t.Fatalf("lab gitops sync demo: %d\n%s", code, errOut)
	}
	// Verified: the new pod runs with the new limit, stays up past the
	// point the old one was killed, and the agent finds nothing wrong.
	for {
		pods, err := k.cs.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{LabelSelector: "app=cache"})
		var ok *corev1.Pod
		for i, p := range pods.Items {
			c := p.Spec.Containers[0]
			if err == nil && p.DeletionTimestamp == nil && c.Resources.Limits.Memory().String() == "96Mi" && p.Status.Phase == corev1.PodRunning &&
				len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 0 &&
				p.Status.ContainerStatuses[0].State.Running != nil && time.Since(p.Status.ContainerStatuses[0].State.Running.StartedAt.Time) > 40*time.Second {
				ok = &pods.Items[i]
			}
		}
		if ok != nil {
			code, out, _ := k.run("diagnose", ok.Name, "-n", "demo", "--no-llm", "-o", "json")
			var v struct {
				Findings []struct{ Category, Cause string }
			}
			json.Unmarshal([]byte(out), &v)
			if code != 0 || len(v.Findings) > 0 {
				t.Fatalf("the agent's verification of %s: %d %+v", ok.Name, code, v.Findings)
			}
			t.Logf("verified: commit %s synced by Argo CD, %s runs with 96Mi and no restart, the agent finds nothing wrong (commit → verified: %s; commit → first report → fix → verified: %s)",
				rev[:8], ok.Name, time.Since(fixed).Round(time.Second), time.Since(start).Round(time.Second))
			return
		}
		if time.Since(fixed) > 5*time.Minute {
			_, apps := argoApps(ctx, t, k)
			t.Fatalf("the fix did not run healthy in 5 min:\n%s\nApplications: %+v", podTable(ctx, k.cs, "demo"), apps)
		}
		time.Sleep(5 * time.Second)
	}
}
