package stacks

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
)

func TestDrift(t *testing.T) {
	rel := func(status release.Status, name, version string, cfg map[string]any) *release.Release {
		return &release.Release{Info: &release.Info{Status: status}, Chart: &chart.Chart{Metadata: &chart.Metadata{Name: name, Version: version}}, Config: cfg}
	}
	vals := map[string]any{"a": 1}
	for _, c := range []struct {
		name          string
		last          *release.Release
		chart, ver    string
		status, diffs string
	}{
		{"up to date", rel(release.StatusDeployed, "argo-cd", "10.1.1", vals), "argo-cd", "10.1.1", "", ""},
		{"version", rel(release.StatusDeployed, "argo-cd", "10.1.0", vals), "argo-cd", "10.1.1", "", "chart: argo-cd-10.1.0 → argo-cd-10.1.1"},
		// Same version, other chart: the old UpToDate compared the version alone and skipped this upgrade.
		{"name", rel(release.StatusDeployed, "ollama-fork", "1.77.0", vals), "ollama", "1.77.0", "", "chart: ollama-fork-1.77.0 → ollama-1.77.0"},
		{"failed", rel(release.StatusFailed, "argo-cd", "10.1.1", vals), "argo-cd", "10.1.1", "failed", ""},
		{"values", rel(release.StatusDeployed, "argo-cd", "10.1.1", map[string]any{"a": 2}), "argo-cd", "10.1.1", "", "a: 2 → 1"},
		{"unpinned", rel(release.StatusDeployed, "argo-cd", "10.1.1", vals), "", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, diff := drift(c.last, c.chart, c.ver, vals)
			if status != c.status || strings.Join(diff, "; ") != c.diffs {
				t.Errorf("drift = %q, %q; want %q, %q", status, diff, c.status, c.diffs)
			}
		})
	}
}
