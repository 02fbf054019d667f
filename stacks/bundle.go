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
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"helm.sh/helm/v3/pkg/chartutil"

	"lab.dev/lab/core/engine"
	"lab.dev/lab/stacks/sbom"
)

// BundleManifest is bundle.json inside a `lab bundle` archive.
type BundleManifest struct {
	LabVersion string        `json:"labVersion"`
	Charts     []BundleChart `json:"charts"`
	Model      *BundleModel  `json:"model,omitempty"` // Ollama's model, in models/
	// Images are the charts' images saved by a container engine; empty when
	// the bundle was made without one (each chart still lists its images).
	Images []BundleImage `json:"images,omitempty"`
	// GitOpsImages are the images of the workloads the lab's GitOps
	// repository deploys (a local repository: its manifests are read), saved
	// with the charts' so an air-gapped lab's Argo CD can start them.
	GitOpsImages []string `json:"gitopsImages,omitempty"`
	// SBOM is the CycloneDX bill of materials of everything the bundle
	// carries (charts, images with their packages and Go modules, model),
	// verified like every other file when the bundle is opened.
	SBOM *BundleFile `json:"sbom,omitempty"`
	// Digest is the bundle's identity: the SHA-256 of its index
	// (bundle.json, which holds every other file's digest). `lab bundle`
	// prints it; `lab up --bundle F --bundle-digest D` refuses a bundle
	// whose index is not D, so an edited chart with a recomputed digest in
	// the same archive no longer passes.
	Digest string `json:"-"`
}

// BundleFile is a file of the bundle and its digest.
type BundleFile struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// BundleSBOM is the bill of materials of a bundle: a component per chart
// (with the images it references), per saved image (with what its layers
// hold) and for the model.
func BundleSBOM(m *BundleManifest, dir string) (*cdx.BOM, error) {
	b := sbom.New(cdx.Component{Type: cdx.ComponentTypeApplication, Name: "lab bundle", Version: m.LabVersion})
	for _, c := range m.Charts {
		props := []cdx.Property{{Name: "lab:release", Value: c.Release}, {Name: "lab:file", Value: c.File}}
		for _, img := range c.Images {
			props = append(props, cdx.Property{Name: "lab:image", Value: img})
		}
		sbom.Add(b, cdx.Component{Type: cdx.ComponentTypeApplication, Name: c.Name, Version: c.Version, Group: "helm-chart",
			Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: c.SHA256}}, Properties: &props})
	}
	byFile := map[string]map[string][]cdx.Component{} // archive → the normalized tag → what it holds
	for _, a := range m.ImageArchives() {
		byTag, err := sbom.ImagesTar(filepath.Join(dir, filepath.FromSlash(a.File)))
		if err != nil {
			return nil, fmt.Errorf("images %s: %w", strings.Join(a.Refs, ", "), err)
		}
		byFile[a.File] = map[string][]cdx.Component{}
		for t, cs := range byTag {
			if n, err := canonicalRef(t); err == nil {
				byFile[a.File][n] = cs
			}
		}
	}
	for _, i := range m.Images {
		n, err := canonicalRef(i.Ref)
		if err != nil {
			return nil, err
		}
		cs, ok := byFile[i.File][n]
		if !ok {
			return nil, fmt.Errorf("image %s: %s does not hold it", i.Ref, i.File)
		}
		sbom.Add(b, cdx.Component{Type: cdx.ComponentTypeContainer, Name: i.Ref, Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: i.SHA256}},
			Components: &cs})
	}
	if m.Model != nil {
		var hashes []cdx.Hash
		for _, l := range m.Model.Blobs {
			hashes = append(hashes, cdx.Hash{Algorithm: cdx.HashAlgoSHA256, Value: strings.TrimPrefix(l.Digest, "sha256:")})
		}
		sbom.Add(b, cdx.Component{Type: cdx.ComponentTypeMachineLearningModel, Name: m.Model.Name, Hashes: &hashes})
	}
	return b, nil
}

// BundleOptions says what goes into a bundle besides the charts.
type BundleOptions struct {
	LabVersion string
	// Model (e.g. phi3:mini) is fetched from ModelRegistry into models/;
	// empty leaves the model out.
	Model         string
	ModelRegistry string // default DefaultModelRegistry
	HTTP          *http.Client
	// Engine, when set, pulls and saves every chart's images into images/.
	Engine   *engine.Client
	Progress func(string)
	// GitOpsImages are images beyond the charts' to save: those of the
	// lab's GitOps repository's workloads.
	GitOpsImages []string
}

// BundleChart is one chart archive in the bundle, with what it needs.
type BundleChart struct {
	Release string   `json:"release"`
	Name    string   `json:"name"`
	Version string   `json:"version"`
	File    string   `json:"file"`   // charts/<name>-<version>.tgz
	SHA256  string   `json:"sha256"` // of File
	Images  []string `json:"images"` // container images its manifests reference
}

// ErrDigest means a bundle file does not match bundle.json.
var ErrDigest = errors.New("bundle file does not match its digest")

var (
	imageRe = regexp.MustCompile(`(?m)^\s*(?:-\s+)?image:\s*["']?([^"'\s]+)["']?\s*$`)
	// An image a controller always runs in the pods it makes, named by a
	// flag of its own: prometheus-operator's --prometheus-config-reloader=
	// IMAGE, the sidecar of every Prometheus and Alertmanager it creates.
	// (Not its --thanos-default-base-image: only a Prometheus that asks
	// for Thanos runs that, and lab's do not.)
	imageFlagRe = regexp.MustCompile(`(?m)^\s*-\s+["']?--prometheus-config-reloader=([^"'\s]+)["']?\s*$`)
)

// Images lists the container images referenced by rendered manifests:
// containers' image fields and the image flags of operators that start
// containers of their own (imageFlagRe).
func Images(manifest string) []string {
	seen := map[string]bool{}
	var out []string
	for _, re := range []*regexp.Regexp{imageRe, imageFlagRe} {
		for _, m := range re.FindAllStringSubmatch(manifest, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				out = append(out, m[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

// WriteBundle fetches every release's chart at its pinned version, renders
// it with lab's values to list its images, and writes one tar.gz: the chart
// archives and bundle.json with their SHA-256 digests, and, when asked, the
// Ollama model as Ollama stores it (its blobs named by their digests).
func (in *Installer) WriteBundle(ctx context.Context, plans []Plan, out string, o BundleOptions) (*BundleManifest, error) {
	m := &BundleManifest{LabVersion: o.LabVersion, GitOpsImages: o.GitOpsImages}
	dir, err := os.MkdirTemp("", "lab-bundle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{} // archive name → local path
	for _, p := range plans {
		for _, r := range p.Releases {
			ch, err := in.Load(r.Chart)
			if err != nil {
				return nil, err
			}
			path, err := chartutil.Save(ch, dir)
			if err != nil {
				return nil, err
			}
			sum, err := fileSHA256(path)
			if err != nil {
				return nil, err
			}
			rendered, err := in.Render(r)
			if err != nil {
				return nil, err
			}
			name := "charts/" + filepath.Base(path)
			files[name] = path
			m.Charts = append(m.Charts, BundleChart{Release: r.Name, Name: ch.Metadata.Name, Version: ch.Metadata.Version,
				File: name, SHA256: sum, Images: Images(rendered)})
		}
	}
	if o.Model != "" {
		reg, hc := o.ModelRegistry, o.HTTP
		if reg == "" {
			reg = DefaultModelRegistry
		}
		if hc == nil {
			hc = http.DefaultClient
		}
		if m.Model, err = FetchModel(ctx, hc, reg, o.Model, dir); err != nil {
			return nil, err
		}
		if m.Model.ManifestSHA256, err = fileSHA256(filepath.Join(dir, filepath.FromSlash(m.Model.Manifest))); err != nil {
			return nil, err
		}
		for _, name := range m.Model.Files() {
			files[name] = filepath.Join(dir, filepath.FromSlash(name))
		}
	}
	if o.Engine != nil {
		var refs []string
		seen := map[string]bool{}
		lists := [][]string{o.GitOpsImages}
		for _, c := range m.Charts {
			lists = append(lists, c.Images)
		}
		for _, l := range lists {
			for _, img := range l {
				if !seen[img] {
					seen[img] = true
					refs = append(refs, img)
				}
			}
		}
		if m.Images, err = SaveImages(ctx, o.Engine, refs, dir, o.Progress); err != nil {
			return nil, err
		}
		for _, img := range m.Images {
			files[img.File] = filepath.Join(dir, filepath.FromSlash(img.File))
		}
	}
	bom, err := BundleSBOM(m, dir)
	if err != nil {
		return nil, err
	}
	bj, err := sbom.JSON(bom)
	if err != nil {
		return nil, err
	}
	sp := filepath.Join(dir, "sbom.cdx.json")
	if err := os.WriteFile(sp, bj, 0o644); err != nil {
		return nil, err
	}
	sum, err := fileSHA256(sp)
	if err != nil {
		return nil, err
	}
	m.SBOM = &BundleFile{File: "sbom.cdx.json", SHA256: sum}
	files[m.SBOM.File] = sp
	mj, _ := json.MarshalIndent(m, "", "  ")
	m.Digest = IndexDigest(mj)
	return m, writeTarGz(out, mj, files)
}

// writeTarGz writes the archive beside out and renames it over out only
// when whole: a failed or killed write leaves the previous bundle as it was.
func writeTarGz(out string, manifest []byte, files map[string]string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
			return
		}
		if err = os.Chmod(f.Name(), 0o644); err == nil {
			err = os.Rename(f.Name(), out)
		}
	}()
	// Model weights do not compress; charts are small: favour speed.
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r) // streamed: a model is gigabytes
		return err
	}
	err = add("bundle.json", int64(len(manifest)), bytes.NewReader(manifest))
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err != nil {
			break
		}
		var src *os.File
		if src, err = os.Open(files[n]); err == nil {
			var st os.FileInfo
			if st, err = src.Stat(); err == nil {
				err = add(n, st.Size(), src)
			}
			src.Close()
		}
	}
	for _, c := range []io.Closer{tw, gz} {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Offline points every release of plans at the bundle's chart archive for
// it; a release missing from the bundle is an error (nothing is fetched).
func Offline(plans []Plan, m *BundleManifest, dir string) error {
	byRelease := map[string]BundleChart{}
	for _, c := range m.Charts {
		byRelease[c.Release] = c
	}
	for i := range plans {
		for j := range plans[i].Releases {
			r := &plans[i].Releases[j]
			c, ok := byRelease[r.Name]
			if !ok {
				return fmt.Errorf("release %s is not in the bundle (made with other stacks enabled?)", r.Name)
			}
			if r.Chart.Version != "" && c.Version != r.Chart.Version {
				return fmt.Errorf("release %s: bundle has %s %s, lab.yaml wants %s", r.Name, c.Name, c.Version, r.Chart.Version)
			}
			r.Chart = Source{Name: c.Name, Version: c.Version, Path: filepath.Join(dir, c.File)}
		}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// BundleSBOMOf opens the bundle at path (every digest verified, the SBOM's
// included) and returns its stored SBOM, as written and decoded.
func BundleSBOMOf(path string) ([]byte, *cdx.BOM, error) {
	dir, err := os.MkdirTemp("", "lab-sbom-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	m, err := OpenBundle(path, filepath.Join(dir, "b"), "")
	if err != nil {
		return nil, nil, err
	}
	if m.SBOM == nil {
		return nil, nil, fmt.Errorf("%s has no SBOM (made by a lab before SBOMs; run lab bundle again)", path)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "b", m.SBOM.File))
	if err != nil {
		return nil, nil, err
	}
	b, err := sbom.Decode(bytes.NewReader(raw))
	return raw, b, err
}
