package stacks

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/distribution/reference"

	"lab.dev/lab/core/engine"
)

// BundleImage is one container image saved into a bundle (docker save
// format, which kind's and k3d's image loaders read).
type BundleImage struct {
	Ref    string `json:"ref"`
	File   string `json:"file"`   // images/images.tar (each image's own archive in bundles before 2026-12)
	SHA256 string `json:"sha256"` // of File
}

// ImageArchive is one archive of a bundle and the images it holds.
type ImageArchive struct {
	File string
	Refs []string
}

// ImageArchives are the bundle's image archives, each once, in the order
// bundle.json first names them (one for a bundle of this lab; one per image
// in a bundle made before images shared an archive).
func (m *BundleManifest) ImageArchives() []ImageArchive {
	var out []ImageArchive
	at := map[string]int{}
	for _, img := range m.Images {
		i, ok := at[img.File]
		if !ok {
			i = len(out)
			at[img.File] = i
			out = append(out, ImageArchive{File: img.File})
		}
		out[i].Refs = append(out[i].Refs, img.Ref)
	}
	return out
}

// ImagesArchive is where a bundle keeps its images: one archive, as `docker
// save a b …` writes it, so a layer the images share (a base, a runtime) is
// stored and loaded once.
const ImagesArchive = "images/images.tar"

// SaveImages pulls each image the engine does not have and saves them all
// into dir/images/images.tar, with its SHA-256.
func SaveImages(ctx context.Context, e *engine.Client, refs []string, dir string, progress func(string)) ([]BundleImage, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		return nil, err
	}
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
	}
	if progress != nil {
		progress(fmt.Sprintf("saving %d images into %s (each layer once)", len(refs), ImagesArchive))
	}
	sum, err := e.SaveAll(ctx, refs, filepath.Join(dir, filepath.FromSlash(ImagesArchive)))
	if err != nil {
		return nil, err
	}
	out := make([]BundleImage, len(refs))
	for i, ref := range refs {
		out[i] = BundleImage{Ref: ref, File: ImagesArchive, SHA256: sum}
	}
	return out, nil
}

// checkImageTags verifies that the image archive at path (as `docker save`
// writes it) holds each of refs under its tag, the images the charts run: a
// bundle whose archive holds other images under the right file name is
// refused.
func checkImageTags(path string, refs []string) error {
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
		if err := json.NewDecoder(io.LimitReader(tr, 4<<20)).Decode(&man); err != nil {
			return fmt.Errorf("%s: manifest.json: %w", filepath.Base(path), err)
		}
		held := map[string]bool{}
		var tags []string
		for _, m := range man {
			for _, t := range m.RepoTags {
				if got, err := canonicalRef(t); err == nil {
					held[got] = true
				}
				tags = append(tags, t)
			}
		}
		for _, ref := range refs {
			want, err := canonicalRef(ref)
			if err != nil {
				return err
			}
			if !held[want] {
				return fmt.Errorf("%w: %s holds %v, bundle.json says it holds %s", ErrDigest, filepath.Base(path), tags, ref)
			}
		}
		return nil
	}
}

// canonicalRef is ref as a tag in an archive and a chart's image field both
// name it: busybox:1.36 and docker.io/library/busybox:1.36 are one image.
func canonicalRef(ref string) (string, error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	return n.String(), nil
}
