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
	"lab.dev/lab/stacks/sbom"
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
	// It holds the lab binary and a dpkg database, so its SBOM has Go
	// modules and Debian packages to find.
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "hello"), []byte("lab\n"), 0o644)
	labBin, _ := os.ReadFile(buildLab(t))
	os.MkdirAll(filepath.Join(root, "usr", "local", "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr", "local", "bin", "lab"), labBin, 0o755)
	os.MkdirAll(filepath.Join(root, "var", "lib", "dpkg"), 0o755)
	os.WriteFile(filepath.Join(root, "var", "lib", "dpkg", "status"), []byte("Package: ca-certificates\nStatus: install ok installed\nArchitecture: all\nVersion: 20230311+deb12u1\n"), 0o644)
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-cf", rootfs, "-C", root, "hello", "usr", "var").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	docker("import", rootfs, ref)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	// A second image on top of it (a GitOps workload's): its base layer —
	// the lab binary, most of the bytes — is the first image's.
	const ref2 = "registry.local/imgsave-app:2.0.0"
	ctr := strings.TrimSpace(docker("create", ref, "/hello"))
	extra := filepath.Join(t.TempDir(), "status.d")
	os.MkdirAll(extra, 0o755)
	os.WriteFile(filepath.Join(extra, "tzdata"), []byte("Package: tzdata\nArchitecture: all\nVersion: 2025b-0+deb12u1\n"), 0o644)
	docker("cp", extra, ctr+":/var/lib/dpkg/")
	docker("commit", ctr, ref2)
	docker("rm", ctr)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref2).Run() })

	url := chartRepo(t, testChart("imgsave", "1.0.0"), testChart("unpullable", "0.0.1"))
	plan := func(name, version string) []stacks.Plan {
		return []stacks.Plan{{Name: name, Releases: []stacks.Release{{Name: name, Namespace: "stack-" + name,
			Chart: stacks.Source{Repo: url, Name: name, Version: version}, Values: map[string]any{"replicas": 1}}}}}
	}
	archive := filepath.Join(t.TempDir(), "lab-bundle.tar.gz")
	m, err := installer(t).WriteBundle(ctx, plan("imgsave", "1.0.0"), archive, stacks.BundleOptions{LabVersion: "test", Engine: eng, GitOpsImages: []string{ref2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Images) != 2 || m.Images[0].Ref != ref2 || m.Images[1].Ref != ref || len(m.Images[0].SHA256) != 64 ||
		m.Images[0].File != stacks.ImagesArchive || m.Images[1].File != stacks.ImagesArchive {
		t.Fatalf("bundle images: %+v", m.Images)
	}
	dir := t.TempDir()
	om, err := stacks.OpenBundle(archive, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	// The layer the two images share is in the archive once: the archive of
	// both is hardly bigger than the first image saved alone.
	alone := filepath.Join(t.TempDir(), "alone.tar")
	docker("save", "-o", alone, ref)
	both, _ := os.Stat(filepath.Join(dir, stacks.ImagesArchive))
	one, _ := os.Stat(alone)
	if both == nil || one == nil || float64(both.Size()) > 1.2*float64(one.Size()) {
		t.Errorf("the two images' archive: %v; the first alone: %v", both, one)
	} else {
		t.Logf("both images %d MiB in one archive; the first alone %d MiB", both.Size()>>20, one.Size()>>20)
	}
	// The SBOM: the chart, the image with its Debian package and the lab
	// binary's Go modules — every module `go version -m` lists for it.
	if om.SBOM == nil {
		t.Fatal("the bundle has no SBOM")
	}
	sf, err := os.Open(filepath.Join(dir, om.SBOM.File))
	if err != nil {
		t.Fatal(err)
	}
	bom, err := sbom.Decode(sf)
	sf.Close()
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Join(sbom.Names(bom), "\n")
	gv, _ := exec.Command("go", "version", "-m", buildLab(t)).Output()
	deps := 0
	for _, l := range strings.Split(string(gv), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "dep" {
			deps++
			if !strings.Contains(names, "pkg:golang/"+f[1]+"@"+f[2]) {
				t.Errorf("the SBOM lacks module %s@%s of the lab binary in the image", f[1], f[2])
			}
		}
	}
	if deps < 50 || !strings.Contains(names, "pkg:deb/debian/ca-certificates@20230311+deb12u1") {
		t.Errorf("%d modules checked; SBOM:\n%.2000s", deps, names)
	}
	// Each image's component holds its own layers' packages: the second's
	// its base's and its own, the first's not the second's.
	held := map[string]string{}
	for _, c := range *bom.Components {
		if c.Components != nil {
			for _, p := range *c.Components {
				held[c.Name] += p.PackageURL + " "
			}
		}
	}
	const tz, ca = "pkg:deb/debian/tzdata@2025b-0+deb12u1?arch=all", "pkg:deb/debian/ca-certificates@20230311+deb12u1"
	if !strings.Contains(held[ref2], tz) || !strings.Contains(held[ref2], ca) || strings.Contains(held[ref], tz) || !strings.Contains(held[ref], ca) {
		t.Errorf("per image: %s holds %.300s…; %s holds %.300s…", ref2, held[ref2], ref, held[ref])
	}
	// lab sbom --bundle prints it, verified
	if out, err := exec.Command(buildLab(t), "sbom", "--bundle", archive).Output(); err != nil || !strings.Contains(string(out), "pkg:deb/debian/ca-certificates") {
		t.Errorf("lab sbom --bundle: %v\n%.500s", err, out)
	}
	// Scanned against an offline OSV database: the image's Debian package and
	// a module of its lab binary are hit by the advisories that cover their
	// versions, not by the one fixed before them.
	vdb := t.TempDir()
	for name, rec := range map[string]string{
		"DEBIAN-TEST-1.json": `{"id":"DEBIAN-TEST-1","database_specific":{"severity":"HIGH"},"affected":[{"package":{"ecosystem":"Debian:12","name":"ca-certificates"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"20230311+deb12u2"}]}]}]}`,
		"DEBIAN-TEST-2.json": `{"id":"DEBIAN-TEST-2","affected":[{"package":{"ecosystem":"Debian:12","name":"ca-certificates"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"20210119"}]}]}]}`,
		"GO-TEST-1.json":     `{"id":"GO-TEST-1","aliases":["CVE-2099-0001"],"affected":[{"package":{"ecosystem":"Go","name":"github.com/spf13/cobra"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"99.0.0"}]}]}]}`,
	} {
		os.WriteFile(filepath.Join(vdb, name), []byte(rec), 0o644)
	}
	out, err := exec.Command(buildLab(t), "sbom", "--bundle", archive, "--scan", "--vuln-db", vdb).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 known vulnerabilities, HIGH 1, UNKNOWN 1") || !strings.Contains(string(out), "DEBIAN-TEST-1 pkg:deb/debian/ca-certificates@20230311+deb12u1") ||
		!strings.Contains(string(out), "GO-TEST-1 pkg:golang/github.com/spf13/cobra@") || strings.Contains(string(out), "DEBIAN-TEST-2") {
		t.Errorf("lab sbom --bundle --scan: %v\n%s", err, out)
	}
	// The saved archive is a real image archive: it restores both images.
	docker("rmi", "-f", ref2, ref)
	if out := docker("load", "-i", filepath.Join(dir, stacks.ImagesArchive)); !strings.Contains(out, ref) || !strings.Contains(out, ref2) {
		t.Errorf("docker load: %s", out)
	}
	docker("image", "inspect", ref, ref2)

	// A tampered SBOM (a package hidden from it) is refused, like a tampered image.
	sb, _ := os.ReadFile(filepath.Join(dir, om.SBOM.File))
	os.WriteFile(filepath.Join(dir, om.SBOM.File), []byte(strings.ReplaceAll(string(sb), "ca-certificates", "ca-certificatez")), 0o644)
	tamperedSBOM := filepath.Join(t.TempDir(), "tampered-sbom.tar.gz")
	repack(t, dir, tamperedSBOM)
	if _, err := stacks.OpenBundle(tamperedSBOM, t.TempDir(), ""); !errors.Is(err, stacks.ErrDigest) || !strings.Contains(err.Error(), "sbom.cdx.json") {
		t.Errorf("tampered SBOM: %v", err)
	}
	os.WriteFile(filepath.Join(dir, om.SBOM.File), sb, 0o644)

	os.WriteFile(filepath.Join(dir, om.Images[0].File), []byte("not an image"), 0o644)
	tampered := filepath.Join(t.TempDir(), "tampered.tar.gz")
	repack(t, dir, tampered)
	if _, err := stacks.OpenBundle(tampered, t.TempDir(), ""); !errors.Is(err, stacks.ErrDigest) {
		t.Errorf("tampered image: %v", err)
	}
	// registry.local does not exist: the pull fails and says which image.
	_, err = installer(t).WriteBundle(ctx, plan("unpullable", "0.0.1"), filepath.Join(t.TempDir(), "b.tar.gz"), stacks.BundleOptions{Engine: eng})
	if err == nil || !strings.Contains(err.Error(), "registry.local/unpullable:0.0.1") {
		t.Errorf("unpullable image: %v", err)
	}
}
