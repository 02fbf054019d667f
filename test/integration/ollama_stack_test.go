//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/stacks"
	"lab.dev/lab/test/harness"
)

// The Ollama stack's model step on a real Ollama: the model is pulled through
// the API (from a local registry serving a model store, offline) with
// progress, and readiness is "the model answers".
func TestOllamaPullAndReadiness(t *testing.T) {
	o := sharedOllama(t)
	reg := harness.ServeModels(o.ModelsDir())
	defer reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ol, err := stacks.NewOllama(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	model := reg.Host + "/library/lab-tiny:latest"
	var statuses []string
	var sawBytes bool
	err = ol.Pull(ctx, model, true, func(status string, done, total int64) {
		if len(statuses) == 0 || statuses[len(statuses)-1] != status {
			statuses = append(statuses, status)
		}
		sawBytes = sawBytes || (total > 0 && done > 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(statuses, "|"), "success") || !sawBytes {
		t.Errorf("pull progress: %v", statuses)
	}
	if d, err := ol.Answers(ctx, model); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("pulled %s (%v); first answer in %s", model, statuses, d)
	}
	if _, err := ol.Answers(ctx, reg.Host+"/library/not-pulled:latest"); err == nil {
		t.Error("a model that was never pulled answers")
	}
	if err := ol.Pull(ctx, reg.Host+"/library/missing:latest", true, nil); err == nil {
		t.Error("pulling a model the registry does not have succeeded")
	}
}
