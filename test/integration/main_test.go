//go:build integration

// Package integration runs lab against real components: kube-apiserver +
// etcd + controller-manager + scheduler with kwok nodes, and a real Ollama.
// One control plane and one Ollama serve every test of this binary.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"lab.dev/lab/test/harness"
)

var (
	cluster    *harness.Cluster
	ollamaOnce sync.Once
	ollama     *harness.Ollama
	ollamaErr  error
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	start := time.Now()
	var err error
	cluster, err = harness.Start(ctx, harness.Options{Nodes: harness.ScenarioNodes()})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "control plane up in %s at %s (dir %s)\n", time.Since(start).Round(time.Millisecond), cluster.Server, cluster.Dir)
	code := m.Run()
	if labBin != "" && labBinErr == nil { // buildLab's folder (155 MB a run)
		os.RemoveAll(filepath.Dir(labBin))
	}
	if ollama != nil {
		ollama.Stop()
	}
	cluster.Stop()
	os.Exit(code)
}

// sharedOllama starts one Ollama for the test binary on first use.
func sharedOllama(t *testing.T) *harness.Ollama {
	t.Helper()
	ollamaOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ollama, ollamaErr = harness.StartOllama(ctx, "")
	})
	if ollamaErr != nil {
		t.Fatalf("starting ollama: %v", ollamaErr)
	}
	return ollama
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
