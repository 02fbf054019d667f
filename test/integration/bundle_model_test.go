//go:build integration

package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lab.dev/lab/stacks"
	"lab.dev/lab/test/harness"
)

// The Ollama model travels in the bundle: lab bundle fetches it from a
// registry (a local one serving a real Ollama's store, offline) with every
// blob's digest checked; an air-gapped Ollama that never saw it gets it from
// the opened bundle through its API alone, and it answers under its own
// name with its system prompt, template and parameters; a tampered blob is
// refused by OpenBundle and by the import.
func TestBundleCarriesModel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	src := sharedOllama(t)
	const model = "lab-bundled:v1"
	err := src.Client.Create(ctx, &api.CreateRequest{Model: model, From: src.Model, System: "You are lab's SRE agent.",
		License: "lab test licence", Parameters: map[string]any{"temperature": 0.2}}, func(api.ProgressResponse) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	reg := harness.ServeModels(src.ModelsDir())
	defer reg.Close()
	url := chartRepo(t, testChart("with-model", "0.1.0"))
	plans := []stacks.Plan{{Name: "with-model", Releases: []stacks.Release{{Name: "with-model", Namespace: "stack-with-model",
		Chart: stacks.Source{Repo: url, Name: "with-model", Version: "0.1.0"}}}}}
	archive := filepath.Join(t.TempDir(), "lab-bundle.tar.gz")
	m, err := installer(t).WriteBundle(ctx, plans, archive, stacks.BundleOptions{LabVersion: "test", Model: model, ModelRegistry: reg.URL})
	if err != nil {
		t.Fatal(err)
	}
	if m.Model == nil || m.Model.Name != model || len(m.Model.Blobs) < 4 {
		t.Fatalf("bundle model: %+v", m.Model)
	}
	reg.Close() // air gap from here on

	dir := t.TempDir()
	om, err := stacks.OpenBundle(archive, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := harness.StartOllama(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Stop()
	ol, err := stacks.NewOllama(dst.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ol.Answers(ctx, model); err == nil {
		t.Fatal("the fresh Ollama already has the model")
	}
	var steps []string
	if err := ol.ImportModel(ctx, dir, om.Model, func(s string, _, _ int64) { steps = append(steps, s) }); err != nil {
		t.Fatal(err)
	}
	if _, err := ol.Answers(ctx, model); err != nil {
		t.Fatalf("imported model does not answer: %v (steps %v)", err, steps)
	}
	show, err := dst.Client.Show(ctx, &api.ShowRequest{Model: model})
	if err != nil {
		t.Fatal(err)
	}
	if show.System != "You are lab's SRE agent." || !strings.Contains(show.License, "lab test licence") ||
		!strings.Contains(show.Parameters, "temperature") || !strings.Contains(show.Template, "<|assistant|>") {
		t.Errorf("imported model lost its settings: system %q license %q params %q template %q", show.System, show.License, show.Parameters, show.Template)
	}

	// Tampering with the weights is caught on open and on import.
	var weights string
	for _, b := range om.Model.Blobs {
		if b.MediaType == "application/vnd.ollama.image.model" {
			weights = filepath.Join(dir, "models", "blobs", strings.Replace(b.Digest, ":", "-", 1))
		}
	}
	f, err := os.OpenFile(weights, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("XX"), 100)
	f.Close()
	if err := ol.ImportModel(ctx, dir, om.Model, nil); !errors.Is(err, stacks.ErrDigest) {
		t.Errorf("import of tampered weights: %v", err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.tar.gz")
	repack(t, dir, tampered)
	if _, err := stacks.OpenBundle(tampered, t.TempDir(), ""); !errors.Is(err, stacks.ErrDigest) {
		t.Errorf("open of a bundle with tampered weights: %v", err)
	}
}
