package stacks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/api"
)

// An Ollama model travels in a bundle the way Ollama stores it
// (OLLAMA_MODELS): models/manifests/<registry>/<namespace>/<name>/<tag> and
// models/blobs/sha256-<hex>. A blob's name is its digest, so every blob is
// verified on the way in and on the way out.

// DefaultModelRegistry is where Ollama itself pulls models from.
const DefaultModelRegistry = "https://registry.ollama.ai"

// ModelManifest is an Ollama model manifest (Docker distribution v2 shape).
type ModelManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        ModelLayer   `json:"config"`
	Layers        []ModelLayer `json:"layers"`
}

// ModelLayer is one blob of a model.
type ModelLayer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// BundleModel is the model entry of bundle.json.
type BundleModel struct {
	Name     string `json:"name"`     // as lab.yaml names it: phi3:mini
	Manifest string `json:"manifest"` // path in the bundle
	// ManifestSHA256 is the manifest's digest: it names the blobs, so it
	// is verified like every other file (the blobs by their own names).
	ManifestSHA256 string       `json:"manifestSha256"`
	Blobs          []ModelLayer `json:"blobs"`
}

// ModelRef splits an Ollama model name into registry host, repository
// (namespace/name) and tag: phi3:mini → registry.ollama.ai, library/phi3, mini.
func ModelRef(model string) (host, repo, tag string) {
	name, tag := model, "latest"
	if i := strings.LastIndex(model, ":"); i > strings.LastIndex(model, "/") {
		name, tag = model[:i], model[i+1:]
	}
	parts := strings.Split(name, "/")
	host = "registry.ollama.ai"
	if len(parts) == 3 {
		host, parts = parts[0], parts[1:]
	}
	if len(parts) == 1 {
		parts = []string{"library", parts[0]}
	}
	return host, strings.Join(parts, "/"), tag
}

// FetchModel downloads model's manifest and blobs from an Ollama registry
// (registryURL, e.g. https://registry.ollama.ai or a mirror) into a model
// store under dir, verifying every blob's digest.
func FetchModel(ctx context.Context, hc *http.Client, registryURL, model, dir string) (*BundleModel, error) {
	host, repo, tag := ModelRef(model)
	base := strings.TrimSuffix(registryURL, "/") + "/v2/" + repo
	body, err := httpGet(ctx, hc, base+"/manifests/"+tag, "application/vnd.docker.distribution.manifest.v2+json")
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", model, err)
	}
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20))
	body.Close()
	if err != nil {
		return nil, err
	}
	var m ModelManifest
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Layers) == 0 {
		return nil, fmt.Errorf("model %s: not an Ollama manifest (%v)", model, err)
	}
	bm := &BundleModel{Name: model, Manifest: filepath.ToSlash(filepath.Join("models", "manifests", host, repo, tag))}
	for _, l := range append([]ModelLayer{m.Config}, m.Layers...) {
		if l.Digest == "" {
			continue
		}
		path, err := blobPath(dir, l.Digest)
		if err != nil {
			return nil, err
		}
		if err := fetchBlob(ctx, hc, base+"/blobs/"+l.Digest, path, l.Digest); err != nil {
			return nil, fmt.Errorf("model %s: %w", model, err)
		}
		bm.Blobs = append(bm.Blobs, l)
	}
	mp := filepath.Join(dir, filepath.FromSlash(bm.Manifest))
	if err := os.MkdirAll(filepath.Dir(mp), 0o755); err != nil {
		return nil, err
	}
	return bm, os.WriteFile(mp, raw, 0o644)
}

// ModelStallTimeout bounds how long a model download may go without a
// byte (headers included): a registry that stops answering fails `lab
// bundle` instead of hanging it. A whole model takes as long as it takes.
var ModelStallTimeout = 60 * time.Second

// httpGet GETs url; the body it returns fails once no byte arrived for
// ModelStallTimeout.
func httpGet(ctx context.Context, hc *http.Client, url, accept string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	sb := &stallBody{cancel: cancel, url: url}
	sb.timer = time.AfterFunc(ModelStallTimeout, sb.stall)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		sb.Close()
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := hc.Do(req)
	if err != nil {
		sb.Close()
		return nil, sb.why(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		sb.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sb.body = resp.Body
	return sb, nil
}

// stallBody is a response body whose every byte re-arms the stall timer.
type stallBody struct {
	body    io.ReadCloser
	timer   *time.Timer
	cancel  context.CancelFunc
	url     string
	stalled atomic.Bool
}

func (b *stallBody) stall() { b.stalled.Store(true); b.cancel() }

func (b *stallBody) why(err error) error {
	if b.stalled.Load() {
		return fmt.Errorf("GET %s: no data for %s, gave up (ModelStallTimeout)", b.url, ModelStallTimeout)
	}
	return err
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.timer.Reset(ModelStallTimeout)
	}
	if err != nil && err != io.EOF {
		err = b.why(err)
	}
	return n, err
}

func (b *stallBody) Close() error {
	b.timer.Stop()
	b.cancel()
	if b.body != nil {
		return b.body.Close()
	}
	return nil
}

// blobName is a blob's path in a bundle (and in an Ollama model store):
// models/blobs/sha256-<hex>, for a well-formed digest only.
func blobName(digest string) (string, error) {
	hexd, ok := strings.CutPrefix(digest, "sha256:")
	if _, err := hex.DecodeString(hexd); !ok || len(hexd) != 64 || err != nil {
		return "", fmt.Errorf("bad blob digest %q", digest)
	}
	return "models/blobs/sha256-" + hexd, nil
}

// blobPath is the blob's file under dir.
func blobPath(dir, digest string) (string, error) {
	name, err := blobName(digest)
	return filepath.Join(dir, filepath.FromSlash(name)), err
}

// Files are the model's paths inside a bundle: its manifest and blobs.
func (m *BundleModel) Files() []string {
	files := []string{m.Manifest}
	for _, b := range m.Blobs {
		if name, err := blobName(b.Digest); err == nil {
			files = append(files, name)
		}
	}
	return files
}

func fetchBlob(ctx context.Context, hc *http.Client, url, path, digest string) error {
	if err := verifyBlob(path, digest); err == nil {
		return nil // already there
	}
	body, err := httpGet(ctx, hc, url, "application/octet-stream")
	if err != nil {
		return err
	}
	defer body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path + ".partial")
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		os.Remove(path + ".partial")
		return fmt.Errorf("%w: blob %s downloaded as %s", ErrDigest, digest, got)
	}
	return os.Rename(path+".partial", path)
}

func verifyBlob(path, digest string) error {
	sum, err := fileSHA256(path)
	if err != nil {
		return err
	}
	if "sha256:"+sum != digest {
		return fmt.Errorf("%w: %s has sha256:%s, its name says %s", ErrDigest, filepath.Base(path), sum, digest)
	}
	return nil
}

// ImportModel loads a bundled model into an Ollama server through its API
// only — each blob uploaded (POST /api/blobs), then the model created from
// them under its own name (POST /api/create) — so an air-gapped Ollama
// needs neither a registry nor access to the host's files. Every blob is
// verified against its digest before it is sent.
func (o *Ollama) ImportModel(ctx context.Context, dir string, m *BundleModel, progress Progress) error {
	raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(m.Manifest)))
	if err != nil {
		return err
	}
	var man ModelManifest
	if err := json.Unmarshal(raw, &man); err != nil {
		return fmt.Errorf("%s: %w", m.Manifest, err)
	}
	req := &api.CreateRequest{Model: m.Name, Files: map[string]string{}, Adapters: map[string]string{}}
	for _, l := range man.Layers {
		path, err := blobPath(dir, l.Digest)
		if err != nil {
			return err
		}
		if err := verifyBlob(path, l.Digest); err != nil {
			return err
		}
		kind := strings.TrimPrefix(l.MediaType, "application/vnd.ollama.image.")
		switch kind {
		case "model", "projector", "adapter":
			if progress != nil {
				progress("uploading "+kind+" "+l.Digest[:19], 0, l.Size)
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			err = o.Client.CreateBlob(ctx, l.Digest, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("uploading %s: %w", l.Digest, err)
			}
			if kind == "adapter" {
				req.Adapters[l.Digest[7:19]+".gguf"] = l.Digest
			} else {
				req.Files[fmt.Sprintf("%s-%s.gguf", kind, l.Digest[7:19])] = l.Digest
			}
		case "template", "system", "license", "params", "messages":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := textLayer(req, kind, b); err != nil {
				return fmt.Errorf("%s layer %s: %w", kind, l.Digest, err)
			}
		default:
			return fmt.Errorf("model %s: layer %s has a media type lab does not know (%s)", m.Name, l.Digest, l.MediaType)
		}
	}
	if len(req.Files) == 0 {
		return fmt.Errorf("model %s: no model layer in %s", m.Name, m.Manifest)
	}
	err = o.Client.Create(ctx, req, func(p api.ProgressResponse) error {
		if progress != nil {
			progress(p.Status, p.Completed, p.Total)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating %s in Ollama: %w", m.Name, err)
	}
	return nil
}

func textLayer(req *api.CreateRequest, kind string, b []byte) error {
	switch kind {
	case "template":
		req.Template = string(b)
	case "system":
		req.System = string(b)
	case "license":
		if l, ok := req.License.([]string); ok {
			req.License = append(l, string(b))
		} else {
			req.License = []string{string(b)}
		}
	case "params":
		return json.Unmarshal(b, &req.Parameters)
	case "messages":
		return json.Unmarshal(b, &req.Messages)
	default:
		return errors.New("unknown text layer")
	}
	return nil
}
