package stacks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

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
