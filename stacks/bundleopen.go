package stacks

// Opening a bundle on an air-gapped host: the archive is outside input,
// trusted by its identity (the index's digest), bounded before anything is
// written, and verified file by file before it is used.

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Limits of what opening a bundle writes to disk: a crafted archive (a
// gzip bomb, a header claiming a terabyte) is refused with a clear error
// before it fills the disk. A model is gigabytes: the caps leave room for
// the largest a workstation runs.
var (
	MaxBundleBytes   int64 = 128 << 30 // all entries together
	MaxBundleEntry   int64 = 64 << 30  // one entry
	MaxBundleIndex   int64 = 16 << 20  // bundle.json
	MaxBundleEntries       = 10000
)

// IndexDigest is the bundle identity of an index (bundle.json's bytes).
func IndexDigest(index []byte) string {
	sum := sha256.Sum256(index)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// OpenBundle extracts a bundle into dir and verifies every file's digest.
// It extracts into a folder beside dir and renames it over dir only once all
// is verified, so dir holds a whole, verified bundle or nothing: a run killed
// while extracting (a model is gigabytes) leaves no half-extracted bundle that
// a later run could mistake for a whole one. With want set (sha256:…, what
// `lab bundle` printed), a bundle whose index has another digest is refused
// before anything but its index is extracted.
func OpenBundle(path, dir, want string) (*BundleManifest, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	stale, _ := filepath.Glob(filepath.Join(parent, "."+filepath.Base(dir)+".extracting-*"))
	for _, s := range stale { // left by a killed run
		_ = os.RemoveAll(s)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".extracting-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // gone after the rename; removed on any error
	m, err := extractBundle(path, tmp, want)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return m, nil
}

// extractBundle extracts the archive at path into dir and verifies it:
// bundle.json first (its digest against want), every entry within the size
// caps, every file against the digest the index gives it, every saved
// image against the reference it claims to be.
func extractBundle(path, dir, want string) (*BundleManifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a lab bundle: %w", path, err)
	}
	tr := tar.NewReader(gz)
	var index []byte
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if n >= MaxBundleEntries {
			return nil, fmt.Errorf("%s: more than %d entries: not a bundle lab made", path, MaxBundleEntries)
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return nil, fmt.Errorf("%s: unsafe path %q in bundle", path, h.Name)
		}
		if n == 0 && name != "bundle.json" {
			return nil, fmt.Errorf("%s: its first entry is %q, not bundle.json: not a bundle lab made", path, h.Name)
		}
		dst := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return nil, err
			}
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%s: unexpected entry %q (type %c) in bundle", path, h.Name, h.Typeflag)
		}
		limit := MaxBundleEntry
		if n == 0 {
			limit = MaxBundleIndex
		}
		if h.Size < 0 || h.Size > limit {
			return nil, fmt.Errorf("%s: entry %q is %d bytes, over the limit of %d", path, h.Name, h.Size, limit)
		}
		if total += h.Size; total > MaxBundleBytes {
			return nil, fmt.Errorf("%s: entries add up to more than %d bytes, the limit", path, MaxBundleBytes)
		}
		if n == 0 {
			if index, err = io.ReadAll(io.LimitReader(tr, limit)); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if d := IndexDigest(index); want != "" && d != want {
				return nil, fmt.Errorf("%w: %s is bundle %s, --bundle-digest says %s", ErrDigest, path, d, want)
			}
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: entry %q: %w", path, h.Name, err)
		}
		if n == 0 {
			_, err = out.Write(index)
		} else {
			_, err = io.Copy(out, tr) // no more than the header's size
		}
		out.Close()
		if err != nil {
			return nil, err
		}
	}
	if index == nil {
		return nil, fmt.Errorf("%s: no bundle.json", path)
	}
	var m BundleManifest
	if err := json.Unmarshal(index, &m); err != nil {
		return nil, fmt.Errorf("%s: bundle.json: %w", path, err)
	}
	m.Digest = IndexDigest(index)
	type digested struct{ file, sum string }
	var all []digested
	for _, c := range m.Charts {
		all = append(all, digested{c.File, c.SHA256})
	}
	for _, i := range m.Images {
		all = append(all, digested{i.File, i.SHA256})
	}
	if m.SBOM != nil {
		all = append(all, digested{m.SBOM.File, m.SBOM.SHA256})
	}
	if m.Model != nil {
		if m.Model.ManifestSHA256 == "" {
			return nil, fmt.Errorf("%s: the model's manifest has no digest (a bundle made by an older lab: make it again with `lab bundle`)", path)
		}
		all = append(all, digested{m.Model.Manifest, m.Model.ManifestSHA256})
	}
	verified := map[digested]bool{} // a bundle's images share one archive: read it once
	for _, d := range all {
		if verified[d] {
			continue
		}
		verified[d] = true
		if clean := filepath.Clean(filepath.FromSlash(d.file)); filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return nil, fmt.Errorf("%s: bundle.json names %q, outside the bundle", path, d.file)
		}
		sum, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(d.file)))
		if err != nil {
			return nil, err
		}
		if sum != d.sum {
			return nil, fmt.Errorf("%w: %s has sha256 %s, bundle.json says %s", ErrDigest, d.file, sum, d.sum)
		}
	}
	for _, a := range m.ImageArchives() {
		if err := checkImageTags(filepath.Join(dir, filepath.FromSlash(a.File)), a.Refs); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if m.Model != nil {
		for _, b := range m.Model.Blobs {
			path, err := blobPath(dir, b.Digest)
			if err != nil {
				return nil, err
			}
			if err := verifyBlob(path, b.Digest); err != nil {
				return nil, fmt.Errorf("model %s: %w", m.Model.Name, err)
			}
		}
	}
	return &m, nil
}
