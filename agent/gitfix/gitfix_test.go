package gitfix

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lab.dev/lab/agent/analyze"
)

const manifests = `# the ledger service
apiVersion: v1
kind: Service
metadata: {name: ledger}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: sidecar
        image: proxy:1
      - name: app
        image: registry.local/ledger:2.0 # pinned
        resources: {limits: {memory: 128Mi}}
        readinessProbe:
          httpGet: {path: /healthz, port: 8081}
`

func TestProposeDiffsOneField(t *testing.T) {
	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, "apps", "shop"), 0o755)
	os.WriteFile(filepath.Join(repo, "apps", "shop", "ledger.yaml"), []byte(manifests), 0o644)
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("kind: Deployment\n"), 0o644)
	c, err := Propose(repo, "Deployment", "ledger", "shop", &analyze.Fix{Container: "app", Path: []string{"resources", "limits", "memory"}, Value: "256Mi", Why: "x2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.File != filepath.Join("apps", "shop", "ledger.yaml") || !strings.Contains(c.Diff, "--- a/apps/shop/ledger.yaml") ||
		!strings.Contains(c.Diff, "-        resources: {limits: {memory: 128Mi}}") || !strings.Contains(c.Diff, "+        resources: {limits: {memory: 256Mi}}") {
		t.Errorf("diff:\n%s", c.Diff)
	}
	if strings.Count(c.Diff, "\n-  ") != 1 || strings.Count(c.Diff, "\n+  ") != 1 {
		t.Errorf("more than the one field changed:\n%s", c.Diff)
	}
	c, err = Propose(repo, "Deployment", "ledger", "shop", &analyze.Fix{Container: "app", Path: []string{"readinessProbe", "httpGet", "port"}, Value: 8080})
	if err != nil || !strings.Contains(c.Diff, "+          httpGet: {path: /healthz, port: 8080}") {
		t.Errorf("probe port diff (%v):\n%s", err, c.Diff)
	}
	if _, err := Propose(repo, "Deployment", "ledger", "other", &analyze.Fix{Container: "app", Path: []string{"x"}, Value: 1}); err == nil {
		t.Error("a manifest in another namespace must not match")
	}
}

// The proposed diff is a patch git applies as it is, the change at the
// file's last line included (difflib's line split gave diffs a context line
// after the final newline, and git apply refused them). Not handled: a file
// without a final newline whose last line is in the hunk (the diff does not
// say "no newline at end of file").
func TestProposedDiffApplies(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for name, body := range map[string]string{
		"last line":                           "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cache, namespace: demo}\nspec:\n  template:\n    spec:\n      containers:\n      - name: cache\n        image: x:1\n        resources:\n          limits: {memory: 48Mi}\n",
		"last line, no final newline":         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cache, namespace: demo}\nspec:\n  template:\n    spec:\n      containers:\n      - name: cache\n        image: x:1\n        resources:\n          limits: {memory: 48Mi}",
		"context last line, no final newline": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cache, namespace: demo}\nspec:\n  template:\n    spec:\n      containers:\n      - name: cache\n        resources:\n          limits: {memory: 48Mi}\n        image: x:1",
		"far from the end, no final newline":  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cache, namespace: demo}\nspec:\n  template:\n    spec:\n      containers:\n      - name: cache\n        resources:\n          limits: {memory: 48Mi}\n        image: x:1\n        args: [a]\n        env: []\n        ports: []\n        command: [b]",
	} {
		repo := t.TempDir()
		if out, err := exec.Command("git", "-C", repo, "init", "-q").CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		os.WriteFile(filepath.Join(repo, "cache.yaml"), []byte(body), 0o644)
		c, err := Propose(repo, "Deployment", "cache", "demo", &analyze.Fix{Container: "cache", Path: []string{"resources", "limits", "memory"}, Value: "96Mi"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		apply := exec.Command("git", "-C", repo, "apply", "-")
		apply.Stdin = strings.NewReader(c.Diff)
		if out, err := apply.CombinedOutput(); err != nil {
			t.Fatalf("%s: git apply: %v %s\n%s", name, err, out, c.Diff)
		}
		if b, _ := os.ReadFile(filepath.Join(repo, "cache.yaml")); !strings.Contains(string(b), "limits: {memory: 96Mi}") {
			t.Errorf("%s: after git apply:\n%s", name, b)
		}
	}
}
