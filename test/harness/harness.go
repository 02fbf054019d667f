// Package harness is lab's integration-test harness: a real control plane
// with kwok nodes (the same runtime the kwok provider uses, run attached to
// the test process), a real `ollama serve` with a tiny generated model, and
// failure scenarios as data (test/scenarios). Everything listens on free
// loopback ports, lives in temp dirs and is stopped by PID.
package harness

import (
	"context"

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
