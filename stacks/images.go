package stacks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"lab.dev/lab/core/engine"
)

// BundleImage is one container image saved into a bundle (docker save
// format, which kind's and k3d's image loaders read).
type BundleImage struct {
	Ref    string `json:"ref"`
	File   string `json:"file"`   // images/<name>.tar
	SHA256 string `json:"sha256"` // of File
}

// Engine is the Docker API (Docker, or Podman's Docker-compatible socket
// through DOCKER_HOST) — the engine kind and k3d run their nodes on.
type Engine struct{ cli *client.Client }

// NewEngine connects to the engine from the environment and pings it.
func NewEngine(ctx context.Context) (*Engine, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: %v", engine.ErrNoEngine, err)
	}
	return &Engine{cli: cli}, nil
}

// Close releases the client.
func (e *Engine) Close() error { return e.cli.Close() }

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SaveImages pulls each image the engine does not have and saves it into
// dir/images/, one archive per image, with its SHA-256.
func (e *Engine) SaveImages(ctx context.Context, refs []string, dir string, progress func(string)) ([]BundleImage, error) {
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		return nil, err
	}
	var out []BundleImage
	for _, ref := range refs {
		if _, _, err := e.cli.ImageInspectWithRaw(ctx, ref); client.IsErrNotFound(err) {
			if progress != nil {
				progress("pulling " + ref)
			}
			if err := e.pull(ctx, ref); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref, err)
		}
		if progress != nil {
			progress("saving " + ref)
		}
		bi := BundleImage{Ref: ref, File: "images/" + unsafeChars.ReplaceAllString(ref, "_") + ".tar"}
		var err error
		if bi.SHA256, err = e.Save(ctx, ref, filepath.Join(dir, filepath.FromSlash(bi.File))); err != nil {
			return nil, err
		}
		out = append(out, bi)
	}
	return out, nil
}

func (e *Engine) pull(ctx context.Context, ref string) error {
	rc, err := e.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for { // the pull reports its failure in the stream, not in the status code
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("pulling %s: %s", ref, msg.Error)
		}
	}
}

// Has reports whether the engine holds the image ref.
func (e *Engine) Has(ctx context.Context, ref string) (bool, error) {
	_, _, err := e.cli.ImageInspectWithRaw(ctx, ref)
	if client.IsErrNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Save writes ref in docker-save format to path and returns its SHA-256.
func (e *Engine) Save(ctx context.Context, ref, path string) (string, error) {
	rc, err := e.cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return "", fmt.Errorf("saving %s: %w", ref, err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("saving %s: %w", ref, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
