//go:build integration

package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lab.dev/lab/bootstrap/config"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

// Opt-in: the real upstream charts, checked out by a developer (this
// machine cannot reach chart repositories), installed with lab's values
// through lab's installer on the kwok control plane — online and as an
// offline bundle would set them. LAB_UPSTREAM_CHARTS=DIR with one folder per
// chart (DIR/ollama, DIR/argo-cd, …: a chart's own files, its dependencies
// in charts/). Without it the test skips: CI has no copy of the charts.
func TestUpstreamCharts(t *testing.T) {
	root := os.Getenv("LAB_UPSTREAM_CHARTS")
	if root == "" {
		t.Skip("LAB_UPSTREAM_CHARTS not set: no checked-out upstream charts to install")
	}
	l := config.Default()
	l.Cluster.Provider = "kwok"
	plans, err := stacks.Plans(l, stacks.Env{Lab: l, Model: "phi3:mini", Certs: mustCertSet(t)})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range plans {
		for _, r := range p.Releases {
			dir := filepath.Join(root, r.Chart.Name)
			if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
				t.Logf("%s: no chart in %s, skipped", r.Name, dir)
				continue
			}
			found++
			t.Run(r.Name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				r.Chart = stacks.Source{Path: dir}
				r.Timeout = 3 * time.Minute
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

func mustCertSet(t *testing.T) *certs.Set {
	s, err := certs.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
