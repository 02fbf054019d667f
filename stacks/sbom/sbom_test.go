package sbom

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// hello builds testdata/hello (two module dependencies): a test binary
// records no dependencies in its build information, a built program does.
func hello(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/hello")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// The SBOM of a Go binary is its module list, exactly as the toolchain
// recorded it: checked against `go version -m`.
func TestGoBinaryMatchesGoVersionM(t *testing.T) {
	bin := hello(t)
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs, err := GoBinary(bin, f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "dep" {
			want = append(want, "pkg:golang/"+f[1]+"@"+f[2])
		}
	}
	var got []string
	for _, c := range cs[1:] {
		got = append(got, c.PackageURL)
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) < 2 || !slices.Equal(got, want) {
		t.Errorf("SBOM modules %v, go version -m %v", got, want)
	}
	if cs[0].Name != "lab.dev/lab" || cs[0].Type != cdx.ComponentTypeApplication {
		t.Errorf("main component %+v", cs[0])
	}
}

func tarOf(t *testing.T, files map[string][]byte, mode int64) []byte {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := w.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		w.Write(files[n])
	}
	w.Close()
	return b.Bytes()
}

// An image saved by docker: its Debian packages and the Go binary in a layer.
func TestImageTar(t *testing.T) {
	bin, err := os.ReadFile(hello(t))
	if err != nil {
		t.Fatal(err)
	}
	status := "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u9\n\n" +
		"Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2025b-0+deb12u1\n"
	layer := tarOf(t, map[string][]byte{"var/lib/dpkg/status": []byte(status), "usr/local/bin/lab": bin}, 0o755)
	img := tarOf(t, map[string][]byte{"manifest.json": []byte(`[{"Layers":["abc/layer.tar"]}]`), "abc/layer.tar": layer}, 0o644)
	path := filepath.Join(t.TempDir(), "img.tar")
	os.WriteFile(path, img, 0o644)
	cs, err := ImageTar(path)
	if err != nil {
		t.Fatal(err)
	}
	b := New(cdx.Component{Type: cdx.ComponentTypeContainer, Name: "lab.dev/lab:test"})
	Add(b, cs...)
	names := strings.Join(Names(b), "\n")
	for _, want := range []string{"pkg:deb/debian/libc6@2.36-9+deb12u9?arch=amd64", "pkg:deb/debian/tzdata@2025b-0+deb12u1?arch=all", "pkg:golang/github.com/CycloneDX/cyclonedx-go@v0.12.0"} {
		if !strings.Contains(names, want) {
			t.Errorf("image SBOM lacks %s", want)
		}
	}
	if strings.Contains(names, "gone") {
		t.Error("a removed package was listed")
	}
	var buf bytes.Buffer
	if err := Encode(&buf, b); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	back, err := Decode(&buf)
	if err != nil || len(Names(back)) != len(Names(b)) || !strings.Contains(text, `"bomFormat": "CycloneDX"`) {
		t.Errorf("round trip: %v; %d vs %d names\n%.400s", err, len(Names(back)), len(Names(b)), buf.String())
	}
}

// An archive of two images (docker save a b) holding their shared base layer
// once: each tag gets its own layers' packages, not the other's; the
// archive as a whole is their union; manifest.json read wherever it lies.
func TestImagesTar(t *testing.T) {
	base := tarOf(t, map[string][]byte{"var/lib/dpkg/status": []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36\n")}, 0o644)
	top := tarOf(t, map[string][]byte{"var/lib/dpkg/status.d/tzdata": []byte("Package: tzdata\nArchitecture: all\nVersion: 2025b\n")}, 0o644)
	other := tarOf(t, map[string][]byte{"lib/apk/db/installed": []byte("P:musl\nV:1.2.5-r0\nA:x86_64\n")}, 0o644)
	img := tarOf(t, map[string][]byte{
		"a0/layer.tar": base, "b1/layer.tar": top, "c2/layer.tar": other,
		"manifest.json": []byte(`[{"RepoTags":["registry.local/base:1"],"Layers":["a0/layer.tar"]},` +
			`{"RepoTags":["registry.local/app:2","registry.local/app:latest"],"Layers":["a0/layer.tar","b1/layer.tar"]},` +
			`{"RepoTags":["registry.local/linked:1"],"Layers":["d9/layer.tar"]},` +
			`{"RepoTags":["alpine-ish:3"],"Layers":["c2/layer.tar"]}]`),
	}, 0o644)
	// Docker 20.10's save writes a layer two images share once, and the
	// other image's layer.tar as a symbolic link to it.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "d9/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../a0/layer.tar"})
	tw.Flush()
	img = append(b.Bytes(), img...)
	path := filepath.Join(t.TempDir(), "images.tar")
	os.WriteFile(path, img, 0o644)
	byTag, err := ImagesTar(path)
	if err != nil {
		t.Fatal(err)
	}
	purls := func(cs []cdx.Component) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.PackageURL)
		}
		return strings.Join(out, " ")
	}
	for tag, want := range map[string]string{
		"registry.local/base:1":     "pkg:deb/debian/libc6@2.36?arch=amd64",
		"registry.local/app:2":      "pkg:deb/debian/libc6@2.36?arch=amd64 pkg:deb/debian/tzdata@2025b?arch=all",
		"registry.local/app:latest": "pkg:deb/debian/libc6@2.36?arch=amd64 pkg:deb/debian/tzdata@2025b?arch=all",
		"alpine-ish:3":              "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64",
	} {
		if got := purls(byTag[tag]); got != want {
			t.Errorf("%s: %q, want %q", tag, got, want)
		}
	}
	if len(byTag) != 5 {
		t.Errorf("tags: %v", byTag)
	}
	all, err := ImageTar(path)
	if err != nil || purls(all) != "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64 pkg:deb/debian/libc6@2.36?arch=amd64 pkg:deb/debian/tzdata@2025b?arch=all" {
		t.Errorf("the whole archive: %v %q", err, purls(all))
	}
	// An OCI layout without docker's manifest.json cannot be told apart.
	oci := filepath.Join(t.TempDir(), "oci.tar")
	os.WriteFile(oci, tarOf(t, map[string][]byte{"index.json": []byte(`{}`), "blobs/sha256/a0": base}, 0o644), 0o644)
	if _, err := ImagesTar(oci); err == nil || !strings.Contains(err.Error(), "no manifest.json") {
		t.Errorf("no manifest.json: %v", err)
	}
	if cs, err := ImageTar(oci); err != nil || purls(cs) != "pkg:deb/debian/libc6@2.36?arch=amd64" {
		t.Errorf("OCI archive whole: %v %q", err, purls(cs))
	}
}
