//go:build integration

package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/stacks"
)

// With a container engine, lab bundle pulls what is missing and saves every
// chart image into the archive with its digest; the archive loads back into
// an engine that lost the image; a tampered image is refused; an image that
// cannot be pulled fails the bundle, naming it. Without an engine (this
// project's CI machine) the test skips: images are then only listed.
func TestBundleSavesImages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng := needEngine(t, ctx) // without one, bundles list the images but cannot save them
	defer eng.Close()
	docker := func(args ...string) string {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// An image made here, no registry involved: a one-file root filesystem.
	const ref = "registry.local/imgsave:1.0.0"
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "hello"), []byte("lab\n"), 0o644)
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-cf", rootfs, "-C", root, "hello").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	docker("import", rootfs, ref)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })

	url := chartRepo(t, testChart("imgsave", "1.0.0"), testChart("unpullable", "0.0.1"))
	plan := func(name, version string) []stacks.Plan {
		return []stacks.Plan{{Name: name, Releases: []stacks.Release{{Name: name, Namespace: "stack-" + name,
			Chart: stacks.Source{Repo: url, Name: name, Version: version}, Values: map[string]any{"replicas": 1}}}}}
	}
	archive := filepath.Join(t.TempDir(), "lab-bundle.tar.gz")
	m, err := installer(t).WriteBundle(ctx, plan("imgsave", "1.0.0"), archive, stacks.BundleOptions{LabVersion: "test", Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Images) != 1 || m.Images[0].Ref != ref || len(m.Images[0].SHA256) != 64 {
		t.Fatalf("bundle images: %+v", m.Images)
	}
	dir := t.TempDir()
	om, err := stacks.OpenBundle(archive, dir)
	if err != nil {
		t.Fatal(err)
	}
	// The saved archive is a real image archive: it restores the image.
	docker("rmi", "-f", ref)
	if out := docker("load", "-i", filepath.Join(dir, om.Images[0].File)); !strings.Contains(out, ref) {
		t.Errorf("docker load: %s", out)
	}
	docker("image", "inspect", ref)

	os.WriteFile(filepath.Join(dir, om.Images[0].File), []byte("not an image"), 0o644)
	tampered := filepath.Join(t.TempDir(), "tampered.tar.gz")
	repackAll(t, dir, tampered)
	if _, err := stacks.OpenBundle(tampered, t.TempDir()); !errors.Is(err, stacks.ErrDigest) {
		t.Errorf("tampered image: %v", err)
	}
	// registry.local does not exist: the pull fails and says which image.
	_, err = installer(t).WriteBundle(ctx, plan("unpullable", "0.0.1"), filepath.Join(t.TempDir(), "b.tar.gz"), stacks.BundleOptions{Engine: eng})
	if err == nil || !strings.Contains(err.Error(), "registry.local/unpullable:0.0.1") {
		t.Errorf("unpullable image: %v", err)
	}
}
