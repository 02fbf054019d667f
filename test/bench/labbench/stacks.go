package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"lab.dev/lab/stacks"
	"lab.dev/lab/test/harness"
)

// StacksResult compares installing independent stacks one after the other
// with installing them in parallel (the Helm installer's dependency graph).
type StacksResult struct {
	Stacks     int     `json:"stacks"`
	Sequential float64 `json:"sequentialSeconds"`
	Parallel   float64 `json:"parallelSeconds"`
	Ratio      float64 `json:"ratio"`
}

const benchTemplate = `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: 2
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec: {containers: [{name: app, image: "registry.local/{{ .Release.Name }}:1"}]}
`

// runStacks installs n charts written for the benchmark (each waits for its
// kwok-simulated pods), sequentially then in parallel, in fresh namespaces.
func runStacks(ctx context.Context, c *harness.Cluster, n int) StacksResult {
	dir, err := os.MkdirTemp("", "lab-bench-charts-")
	check(err)
	defer os.RemoveAll(dir)
	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "bench", Version: "1.0.0"},
		Templates: []*chart.File{{Name: "templates/deploy.yaml", Data: []byte(benchTemplate)}}}
	check(chartutil.SaveDir(ch, dir))
	in := &stacks.Installer{Helm: stacks.Helm{Kubeconfig: c.Kubeconfig}, CacheDir: filepath.Join(dir, "cache"), Client: c.Client}
	plans := func(round string) []stacks.Plan {
		var ps []stacks.Plan
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("%s-%d", round, i)
			ps = append(ps, stacks.Plan{Name: name, Releases: []stacks.Release{{Name: name, Namespace: "bench-" + name,
				Chart: stacks.Source{Path: filepath.Join(dir, "bench")}, Timeout: 2 * time.Minute}}})
		}
		return ps
	}
	res := StacksResult{Stacks: n}
	start := time.Now()
	_, err = in.InstallAll(ctx, plans("seq"), false, nil)
	check(err)
	res.Sequential = time.Since(start).Seconds()
	start = time.Now()
	_, err = in.InstallAll(ctx, plans("par"), true, nil)
	check(err)
	res.Parallel = time.Since(start).Seconds()
	res.Ratio = res.Sequential / res.Parallel
	fmt.Fprintf(os.Stderr, "stacks: %+v\n", res)
	return res
}
