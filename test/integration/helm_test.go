//go:build integration

package integration

import (
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"

	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks"
)

// The Helm SDK drives the real API server through lab's configuration: a
// chart installed with --wait (its Deployment's pod made Ready by kwok) is
// listed deployed by stacks.Helm.Releases, as `lab status` shows it.
func TestHelmInstallAndList(t *testing.T) {
	h := stacks.Helm{Kubeconfig: cluster.Kubeconfig, Log: ui.Printf(t.Logf)}
	cfg, err := h.Config("helm-smoke")
	if err != nil {
		t.Fatal(err)
	}
	ch := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "smoke", Version: "0.1.0"},
		Templates: []*chart.File{{Name: "templates/deploy.yaml", Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: smoke}}
  template:
    metadata: {labels: {app: smoke}}
    spec:
      containers: [{name: web, image: "registry.local/web:1"}]
`)}},
		Values: map[string]any{"replicas": 2},
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.CreateNamespace = "smoke", "helm-smoke", true
	in.Wait, in.Timeout = true, time.Minute
	if _, err := in.Run(ch, nil); err != nil {
		t.Fatalf("helm install --wait: %v", err)
	}
	rels, err := h.Releases()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range rels {
		if r.Name == "smoke" {
			found = true
			if !r.Deployed() || r.Chart != "smoke" || r.Revision != 1 {
				t.Errorf("release: %+v", r)
			}
		}
	}
	if !found {
		t.Fatalf("smoke not listed: %+v", rels)
	}
}
