package stacks

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/distribution/reference"

	"lab.dev/lab/core/engine"
)

// BundleImage is one container image saved into a bundle (docker save
// format, which kind's and k3d's image loaders read).
type BundleImage struct {
	Ref    string `json:"ref"`
	File   string `json:"file"`   // images/<name>.tar
	SHA256 string `json:"sha256"` // of File
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SaveImages pulls each image the engine does not have and saves it into
// dir/images/, one archive per image, with its SHA-256.
func SaveImages(ctx context.Context, e *engine.Client, refs []string, dir string, progress func(string)) ([]BundleImage, error) {
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		return nil, err
	}
	var out []BundleImage
	for _, ref := range refs {
		has, err := e.Has(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref, err)
		}
		if !has {
			if progress != nil {
				progress("pulling " + ref)
			}
			if err := e.Pull(ctx, ref); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress("saving " + ref)
		}
		bi := BundleImage{Ref: ref, File: "images/" + unsafeChars.ReplaceAllString(ref, "_") + ".tar"}
		if bi.SHA256, err = e.Save(ctx, ref, filepath.Join(dir, filepath.FromSlash(bi.File))); err != nil {
			return nil, err
		}
		out = append(out, bi)
	}
	return out, nil
}

// checkImageTags verifies that the image archive at path (as `docker save`
// writes it) is tagged as ref, the image the chart runs: a bundle whose
// images/x.tar holds another image under the right file name is refused.
func checkImageTags(path, ref string) error {
	want, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("image %q: %w", ref, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s: no manifest.json: not an image archive", filepath.Base(path))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var man []struct{ RepoTags []string }
		if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&man); err != nil {
			return fmt.Errorf("%s: manifest.json: %w", filepath.Base(path), err)
		}
		var tags []string
		for _, m := range man {
			for _, t := range m.RepoTags {
				if got, err := reference.ParseNormalizedNamed(t); err == nil && got.String() == want.String() {
					return nil
				}
				tags = append(tags, t)
			}
		}
		return fmt.Errorf("%w: %s holds %v, bundle.json says it is %s", ErrDigest, filepath.Base(path), tags, ref)
	}
}
