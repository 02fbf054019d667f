package gitfix

import (
	"os"
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
