// Package harness is lab's integration-test harness: a real control plane
// with kwok nodes (the same runtime the kwok provider uses, run attached to
// the test process), a real `ollama serve` with a tiny generated model, and
// failure scenarios as data (manifests/scenarios). Everything listens on free
// loopback ports, lives in temp dirs and is stopped by PID.
package harness

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/bootstrap/cluster/kwok"
)

// Re-exported so tests need one import.
type (
	Options       = kwok.Options
	NodeSpec      = kwok.NodeSpec
	ContainerLogs = kwok.ContainerLogs
	Proc          = kwok.Proc
)

// Cluster is a running control plane plus the scenario helpers.
type Cluster struct{ *kwok.Cluster }

// Start starts a control plane for tests (attached: it dies with the test).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts.Detached = false
	c, err := kwok.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Cluster{c}, nil
}

// Bin, FreePort and StartProc are the runtime's, for tests that start more.
var (
	Bin        = func(name string) (string, error) { return kwok.Bin("", name) }
	FreePort   = kwok.FreePort
	StartProc  = kwok.StartProc
	DecodeYAML = kwok.DecodeYAML
)

// ScenarioNodes are the nodes scenarios are written against: two CPU workers
// and one GPU node (1 nvidia.com/gpu) tainted the way GPU nodes usually are.
func ScenarioNodes() []NodeSpec {
	return []NodeSpec{
		{Name: "worker-1"}, {Name: "worker-2"},
		{Name: "gpu-1", GPUs: 1, Labels: map[string]string{"nvidia.com/gpu.present": "true"},
			Taints: []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}}},
	}
}

// Scenarios are data (manifests/scenarios); see kwok.Scenario.
type Scenario = kwok.Scenario

// LoadScenario reads a scenario file.
var LoadScenario = kwok.LoadScenario
