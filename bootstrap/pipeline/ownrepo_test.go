package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lab.dev/lab/core/config"
)

// The lab's own GitOps repository: written and committed on the first up;
// a second up with the same URL commits nothing; a new server URL rewrites
// the child Applications (which name it) but keeps a person's edits.
func TestOwnGitOpsRepo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	t.Setenv("LAB_HOME", t.TempDir())
	l := config.Default()
	c := &Context{Lab: l, Dir: filepath.Join(os.Getenv("LAB_HOME"), "labs", l.Metadata.Name)}
	repo, own := c.clusterRepo()
	if !own || repo != config.OwnGitOpsRepo(l.Metadata.Name) {
		t.Fatalf("clusterRepo = %s, %v", repo, own)
	}
	if err := ensureOwnRepo(repo); err != nil {
		t.Fatal(err)
	}
	msg, err := c.writeOwnRepo(repo, "http://172.18.0.1:40001/lab")
	if err != nil || msg == "" {
		t.Fatalf("first write: %q %v", msg, err)
	}
	commits := func() int {
		out, err := git(repo, "rev-list", "--count", "HEAD")
		if err != nil {
			t.Fatal(err)
		}
		return atoi(strings.TrimSpace(out))
	}
	if n := commits(); n != 1 {
		t.Fatalf("%d commits", n)
	}
	apps, _ := filepath.Glob(filepath.Join(repo, l.GitOps.Path, "*.yaml"))
	if len(apps) == 0 {
		t.Fatal("no child Applications written")
	}
	b, _ := os.ReadFile(apps[0])
	if !strings.Contains(string(b), "http://172.18.0.1:40001/lab") {
		t.Fatalf("child Application does not name the served URL:\n%s", b)
	}
	if msg, err := c.writeOwnRepo(repo, "http://172.18.0.1:40001/lab"); err != nil || msg != "" || commits() != 1 {
		t.Fatalf("second write changed something: %q %v", msg, err)
	}
	readme := filepath.Join(repo, "demo")
	demo, _ := filepath.Glob(filepath.Join(readme, "*.yaml"))
	os.WriteFile(demo[0], []byte("# edited by a person\n"), 0o644)
	git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "a person's edit")
	if _, err := c.writeOwnRepo(repo, "http://172.18.0.1:40002/lab"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(apps[0])
	if !strings.Contains(string(b), ":40002/lab") || commits() != 3 {
		t.Fatalf("new URL not rewritten (%d commits):\n%s", commits(), b)
	}
	if e, _ := os.ReadFile(demo[0]); string(e) != "# edited by a person\n" {
		t.Fatalf("a person's edit was overwritten: %q", e)
	}
	if got, ok := l.GitOpsRepo(); !ok || got != repo {
		t.Fatalf("Lab.GitOpsRepo = %s %v", got, ok)
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// A bundle carries the images of the GitOps repository's workloads: the
// lab's own repository's demo app (before any up wrote it), a local
// repository's own manifests; a remote repository is named as unread.
func TestGitOpsImages(t *testing.T) {
	t.Setenv("LAB_HOME", t.TempDir())
	l := config.Default()
	imgs, note, err := GitOpsImages(l)
	if err != nil || note != "" || strings.Join(imgs, " ") != "nginx:1.27 redis:7.4" {
		t.Errorf("own repository: %v %q %v", imgs, note, err)
	}
	// lab's policy set names image patterns ("!*:latest"), not images: a
	// bundle of a lab with policies on failed on it (the kind stacks test).
	l.Policies.Enabled = true
	if imgs, note, err := GitOpsImages(l); err != nil || note != "" || strings.Join(imgs, " ") != "nginx:1.27 redis:7.4" {
		t.Errorf("own repository with the policy set: %v %q %v", imgs, note, err)
	}
	l.Policies.Enabled = false
	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, "apps", ".git"), 0o755)
	os.WriteFile(filepath.Join(repo, "apps", "shop.yaml"), []byte("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: shop\n        image: registry.local/shop:2.1\n      initContainers:\n      - image: \"busybox:1.36\"\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "apps", "jobs.yml"), []byte("apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - image: registry.local/report:3\n---\n"+
		"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: registry.local/debug:1\n  ephemeralContainers:\n  - image: registry.local/shell:1\n---\n"+
		"apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec:\n  rules:\n  - validate:\n      pattern:\n        spec:\n          containers:\n          - image: \"!*:latest\"\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "apps", "chart.yaml"), []byte("{{ if .Values.on }}\nkind: Deployment\n  image: {{ .Values.image }}\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "apps", ".git", "x.yaml"), []byte("image: not-this:1\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("image: nor-this:1\n"), 0o644)
	l.GitOps.Repo = repo
	want := "busybox:1.36 registry.local/debug:1 registry.local/report:3 registry.local/shell:1 registry.local/shop:2.1"
	if imgs, note, err := GitOpsImages(l); err != nil || strings.Join(imgs, " ") != want || !strings.Contains(note, "apps/chart.yaml") {
		t.Errorf("local repository: %v %q %v", imgs, note, err)
	}
	l.GitOps.Repo = "https://git.example.com/team/lab.git"
	if imgs, note, err := GitOpsImages(l); err != nil || len(imgs) > 0 || !strings.Contains(note, "not a folder here") {
		t.Errorf("remote repository: %v %q %v", imgs, note, err)
	}
	l.GitOps.Enabled = false
	if imgs, _, _ := GitOpsImages(l); len(imgs) > 0 {
		t.Errorf("gitops off: %v", imgs)
	}
}
