package stacks

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

type entry struct{ name, body string }

// archive writes a tar.gz of entries (in order) and returns its path.
func archive(t *testing.T, entries ...entry) string {
	t.Helper()
	return writeArchive(t.TempDir(), entries...)
}

func writeArchive(dir string, entries ...entry) string {
	p := filepath.Join(dir, "b.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		panic(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body))})
		tw.Write([]byte(e.body))
	}
	tw.Close()
	gz.Close()
	f.Close()
	return p
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// imageTar is a `docker save` archive holding one image tagged tags.
func imageTar(tags ...string) string {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	man, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": tags, "Layers": []string{}}})
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(man))})
	tw.Write(man)
	tw.Close()
	return b.String()
}

// A bundle has an identity a user can pin (the digest of its index); a
// bundle is refused — with an error naming what — when it is not the one
// pinned, when its first entry is not its index, when an entry is over
// the size caps (before it is written), when a saved image is not the
// image it claims to be, or when its model manifest has no digest or lies
// outside it.
func TestOpenBundleRefusesWhatItCannotTrust(t *testing.T) {
	index := `{"labVersion":"t"}`
	ok := archive(t, entry{"bundle.json", index})
	if m, err := OpenBundle(ok, filepath.Join(t.TempDir(), "x"), IndexDigest([]byte(index))); err != nil || m.Digest != IndexDigest([]byte(index)) {
		t.Fatalf("the pinned bundle: %v %v", m, err)
	}
	if _, err := OpenBundle(ok, filepath.Join(t.TempDir(), "x"), "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, ErrDigest) {
		t.Errorf("another pin: %v", err)
	}
	if _, err := OpenBundle(archive(t, entry{"charts/a.tgz", "x"}, entry{"bundle.json", index}), filepath.Join(t.TempDir(), "x"), ""); err == nil || !strings.Contains(err.Error(), "first entry") {
		t.Errorf("index not first: %v", err)
	}
	defer func(e, i int64) { MaxBundleEntry, MaxBundleIndex = e, i }(MaxBundleEntry, MaxBundleIndex)
	MaxBundleEntry, MaxBundleIndex = 16, 64
	big := archive(t, entry{"bundle.json", index}, entry{"charts/a.tgz", strings.Repeat("x", 100)})
	dir := filepath.Join(t.TempDir(), "x")
	if _, err := OpenBundle(big, dir, ""); err == nil || !strings.Contains(err.Error(), "over the limit of 16") {
		t.Errorf("an entry over the cap: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("a refused bundle left its folder")
	}
	MaxBundleEntry, MaxBundleIndex = 64<<20, 16<<20

	img := func(ref string, tags ...string) string {
		body := imageTar(tags...)
		idx := fmt.Sprintf(`{"images":[{"ref":%q,"file":"images/a.tar","sha256":%q}]}`, ref, sha(body))
		return archive(t, entry{"bundle.json", idx}, entry{"images/a.tar", body})
	}
	if _, err := OpenBundle(img("busybox:1.36", "docker.io/library/busybox:1.36"), filepath.Join(t.TempDir(), "x"), ""); err != nil {
		t.Errorf("an image tagged as it claims (normalised names): %v", err)
	}
	if _, err := OpenBundle(img("quay.io/prometheus/alertmanager:v0.34.0", "registry.local/evil:1"), filepath.Join(t.TempDir(), "x"), ""); !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), "registry.local/evil:1") {
		t.Errorf("an image that is another image: %v", err)
	}
	// One archive for the images (lab bundle's): every ref must be in it,
	// and the archive is read and digested once.
	shared := func(tags ...string) string {
		body := imageTar(tags...)
		idx := fmt.Sprintf(`{"images":[{"ref":"busybox:1.36","file":"images/images.tar","sha256":%q},{"ref":"quay.io/prometheus/alertmanager:v0.34.0","file":"images/images.tar","sha256":%q}]}`, sha(body), sha(body))
		return archive(t, entry{"bundle.json", idx}, entry{"images/images.tar", body})
	}
	if m, err := OpenBundle(shared("busybox:1.36", "quay.io/prometheus/alertmanager:v0.34.0"), filepath.Join(t.TempDir(), "x"), ""); err != nil {
		t.Errorf("two images in one archive: %v", err)
	} else if a := m.ImageArchives(); len(a) != 1 || a[0].File != "images/images.tar" || strings.Join(a[0].Refs, " ") != "busybox:1.36 quay.io/prometheus/alertmanager:v0.34.0" {
		t.Errorf("archives: %+v", a)
	}
	if _, err := OpenBundle(shared("busybox:1.36"), filepath.Join(t.TempDir(), "x"), ""); !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), "says it holds quay.io/prometheus/alertmanager:v0.34.0") {
		t.Errorf("an archive without one of its images: %v", err)
	}
	old := BundleManifest{Images: []BundleImage{{Ref: "a:1", File: "images/a_1.tar"}, {Ref: "b:1", File: "images/b_1.tar"}}}
	if a := old.ImageArchives(); len(a) != 2 || a[1].File != "images/b_1.tar" || a[1].Refs[0] != "b:1" {
		t.Errorf("a bundle of one archive per image: %+v", a)
	}

	man := `{"layers":[]}`
	for _, tc := range []struct{ idx, want string }{
		{fmt.Sprintf(`{"model":{"name":"m","manifest":"models/m","blobs":[]}}`), "no digest"},
		{fmt.Sprintf(`{"model":{"name":"m","manifest":"../../etc/m","manifestSha256":%q,"blobs":[]}}`, sha(man)), "outside the bundle"},
	} {
		if _, err := OpenBundle(archive(t, entry{"bundle.json", tc.idx}, entry{"models/m", man}), filepath.Join(t.TempDir(), "x"), ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("model %s: %v", tc.want, err)
		}
	}
}

// A registry that stops sending (here: after the headers and a few bytes
// of a blob) fails `lab bundle`'s model fetch after ModelStallTimeout
// instead of hanging it forever; one that never answers likewise.
func TestModelFetchStallsOut(t *testing.T) {
	defer func(d time.Duration) { ModelStallTimeout = d }(ModelStallTimeout)
	ModelStallTimeout = 300 * time.Millisecond
	blob := "sha256:" + strings.Repeat("a", 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			fmt.Fprintf(w, `{"layers":[{"digest":%q,"size":100}]}`, blob)
			return
		}
		w.Write([]byte("some"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then nothing, until the client gives up
	}))
	defer srv.Close()
	start := time.Now()
	_, err := FetchModel(context.Background(), srv.Client(), srv.URL, "phi3:mini", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no data for") {
		t.Fatalf("a stalled blob: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("gave up only after %s", time.Since(start))
	}
	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer mute.Close()
	if _, err := FetchModel(context.Background(), mute.Client(), mute.URL, "phi3:mini", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no data for") {
		t.Errorf("a registry that never answers: %v", err)
	}
}

// A bundle must carry every image an offline install runs: the containers'
// image fields, a hook Job's (kube-prometheus-stack's admission-webhook
// patch Job is a pre-install hook, left out of the release manifest), and
// the sidecar an operator adds to the pods it makes, named by its flag.
func TestRenderedImagesIncludeHooksAndOperatorFlags(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: op\nversion: 1.0.0\n",
		"templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: op}
spec:
  selector: {matchLabels: {app: op}}
  template:
    metadata: {labels: {app: op}}
    spec:
      containers:
      - name: op
        image: "quay.io/prometheus-operator/prometheus-operator:v0.93.1"
        args:
          - --kubelet-service=kube-system/kubelet
          - --prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1
          - "--thanos-default-base-image=quay.io/thanos/thanos:v0.39.2"
`,
		"templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: patch
  annotations: {"helm.sh/hook": "pre-install,pre-upgrade"}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: patch
        image: ghcr.io/jkroepke/kube-webhook-certgen:1.8.7
`,
		"templates/tests/connection.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: test
  annotations: {"helm.sh/hook": test}
spec:
  containers:
  - name: wget
    image: busybox
`,
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := &Installer{CacheDir: t.TempDir()}
	out, err := in.Render(Release{Name: "op", Namespace: "monitoring", Chart: Source{Path: dir}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Images(out), " ")
	want := "quay.io/prometheus-operator/prometheus-operator:v0.93.1 ghcr.io/jkroepke/kube-webhook-certgen:1.8.7 " +
		"quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1"
	for _, w := range strings.Fields(want) {
		if !strings.Contains(got+" ", w+" ") {
			t.Errorf("images %q lack %s", got, w)
		}
	}
	if strings.Contains(got, "kube-system/kubelet") || strings.Contains(got, "thanos") || strings.Contains(got, "busybox") {
		t.Errorf("a flag that names no image, or an image lab's install never runs (Thanos, helm test's pod), was taken: %s", got)
	}
	if !strings.Contains(out, "(hook: pre-install,pre-upgrade)") {
		t.Errorf("rendered output does not show the hook:\n%s", out)
	}
}

// lab bundle --charts DIR reads the pinned charts from a folder; a chart
// missing there, or another version under the pinned file name, is refused
// with the file named.
func TestFromFolder(t *testing.T) {
	dir := t.TempDir()
	chart := func(name, version string) {
		d := filepath.Join(dir, name)
		os.MkdirAll(filepath.Join(d, "templates"), 0o755)
		os.WriteFile(filepath.Join(d, "Chart.yaml"), []byte("apiVersion: v2\nname: "+name+"\nversion: "+version+"\n"), 0o644)
	}
	plans := func() []Plan {
		return []Plan{{Name: "x", Releases: []Release{{Name: "rel", Chart: Source{Repo: "https://example.invalid", Name: "ollama", Version: "1.77.0"}}}}}
	}
	p := plans()
	if err := FromFolder(p, dir); err == nil || !strings.Contains(err.Error(), "ollama-1.77.0.tgz") {
		t.Fatalf("missing chart: %v", err)
	}
	chart("ollama", "1.76.0")
	if err := FromFolder(p, dir); err == nil || !strings.Contains(err.Error(), "Chart.yaml says ollama 1.76.0, lab pins ollama 1.77.0") {
		t.Fatalf("another version: %v", err)
	}
	chart("ollama", "1.77.0")
	if err := FromFolder(p, dir); err != nil || p[0].Releases[0].Chart.Path != filepath.Join(dir, "ollama") {
		t.Fatalf("found: %v %+v", err, p[0].Releases[0].Chart)
	}
	if shared := "../../shared/charts"; FindChart(shared, "ollama", "1.77.0") != "" {
		p = plans()
		if err := FromFolder(p, shared); err != nil || !strings.HasSuffix(p[0].Releases[0].Chart.Path, "ollama-1.77.0.tgz") {
			t.Errorf("the packed chart in %s: %v %+v", shared, err, p[0].Releases[0].Chart)
		}
	}
}
