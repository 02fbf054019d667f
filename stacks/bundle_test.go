package stacks

import (
	"os"
	"path/filepath"
	"testing"

	"lab.dev/lab/core/config"
)

func TestModelRef(t *testing.T) {
	for _, tc := range []struct{ in, host, repo, tag string }{
		{"phi3:mini", "registry.ollama.ai", "library/phi3", "mini"},
		{"llama3", "registry.ollama.ai", "library/llama3", "latest"},
		{"me/tuned:v2", "registry.ollama.ai", "me/tuned", "v2"},
		{"mirror.local:5000/library/phi3:mini", "mirror.local:5000", "library/phi3", "mini"},
	} {
		h, r, tag := ModelRef(tc.in)
		if h != tc.host || r != tc.repo || tag != tc.tag {
			t.Errorf("%s → %s %s %s", tc.in, h, r, tag)
		}
	}
}

// Behind an air gap the Ollama chart must not pull the model in its pod
// when the bundle carries it; without a bundled model the pull stays.
func TestOfflineModelNotPulledInPod(t *testing.T) {
	plans := func(bundled bool) []Plan {
		return []Plan{{Name: "ollama", Releases: []Release{{Name: "ollama", Chart: Source{Name: "ollama", Version: "1.77.0"},
			Values: ollamaValues(Env{Model: "phi3:mini", ModelBundled: bundled})}}}}
	}
	m := &BundleManifest{Charts: []BundleChart{{Release: "ollama", Name: "ollama", Version: "1.77.0", File: "charts/ollama-1.77.0.tgz"}}}
	p := plans(false)
	if err := Offline(p, m, "/b"); err != nil {
		t.Fatal(err)
	}
	pull := p[0].Releases[0].Values["ollama"].(map[string]any)["models"].(map[string]any)["pull"].([]any)
	if len(pull) != 1 || p[0].Releases[0].Chart.Path != "/b/charts/ollama-1.77.0.tgz" {
		t.Errorf("without a bundled model: pull %v, chart %+v", pull, p[0].Releases[0].Chart)
	}
	m.Model = &BundleModel{Name: "phi3:mini"}
	p = plans(true)
	if err := Offline(p, m, "/b"); err != nil {
		t.Fatal(err)
	}
	pull = p[0].Releases[0].Values["ollama"].(map[string]any)["models"].(map[string]any)["pull"].([]any)
	if len(pull) != 0 {
		t.Errorf("bundled model still pulled in the pod: %v", pull)
	}
}

func TestBlobPathRefusesBadDigests(t *testing.T) {
	for _, d := range []string{"sha256:../../etc/passwd", "md5:abc", "sha256:" + string(make([]byte, 64))} {
		if _, err := blobPath("/x", d); err == nil {
			t.Errorf("accepted %q", d)
		}
	}
}

// Ollama keeps its models on a volume where the cluster has storage; a kwok
// lab has none (a PVC would stay Pending and the install time out).
func TestOllamaVolumeByProvider(t *testing.T) {
	for provider, want := range map[string]bool{"kind": true, "k3s": true, "existing": true, "kwok": false} {
		l := config.Default()
		l.Cluster.Provider = provider
		v := ollamaValues(Env{Lab: l, Model: "phi3:mini"})
		if got := v["persistentVolume"].(map[string]any)["enabled"]; got != want {
			t.Errorf("%s: persistentVolume.enabled = %v", provider, got)
		}
	}
}

// A failed bundle write leaves the previous bundle whole (it was truncated
// in place before) and no temporary file behind.
func TestWriteTarGzKeepsThePreviousOnFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lab-bundle.tar.gz")
	if err := os.WriteFile(out, []byte("the previous bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeTarGz(out, []byte("{}"), map[string]string{"charts/x.tgz": filepath.Join(dir, "missing.tgz")})
	if err == nil {
		t.Fatal("a missing input must fail the write")
	}
	if b, _ := os.ReadFile(out); string(b) != "the previous bundle" {
		t.Fatalf("previous bundle damaged: %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if err := writeTarGz(out, []byte("{}"), nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) == "the previous bundle" {
		t.Fatal("a whole write did not replace the bundle")
	}
}
