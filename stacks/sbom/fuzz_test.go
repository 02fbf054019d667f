package sbom

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Any OSV record (a vulnerability database is outside input) is matched
// against Go, Debian and Alpine components without a panic, whatever its
// ranges and versions hold.
func FuzzAdvisory(f *testing.F) {
	f.Add([]byte(`{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/net"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.23.0"}]}]}]}`))
	f.Add([]byte(`{"id":"DSA-1","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}],"versions":["1:2~x"]}]}`))
	f.Add([]byte(`{"id":"x","affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"musl"},"ranges":[{"events":[{"fixed":""},{"last_affected":"1.2.5-r0"}]}]}]}`))
	comps := []cdx.Component{
		{Name: "golang.org/x/net", Version: "v0.20.0", PackageURL: "pkg:golang/golang.org/x/net@v0.20.0"},
		{Name: "openssl", Version: "3.0.11-1~deb12u1", PackageURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u1?distro=debian-12"},
		{Name: "musl", Version: "1.2.5-r0", PackageURL: "pkg:apk/alpine/musl@1.2.5-r0?distro=3.20"},
		{Name: "odd", Version: ":::", PackageURL: "pkg:golang/odd@:::"},
	}
	bom := &cdx.BOM{Components: &comps}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var a Advisory
		if json.Unmarshal(raw, &a) != nil {
			return
		}
		Scan(bom, []Advisory{a})
	})
}

// Any archive (a bundle's image archive is outside input) is read without a
// panic or an endless walk: links to links, links to nothing, a
// manifest.json of any shape.
func FuzzImagesTar(f *testing.F) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "a/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../b/layer.tar"})
	tw.WriteHeader(&tar.Header{Name: "b/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../a/layer.tar"})
	man := []byte(`[{"RepoTags":["x:1"],"Layers":["a/layer.tar","c/layer.tar"]}]`)
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Typeflag: tar.TypeReg, Size: int64(len(man))})
	tw.Write(man)
	tw.Close()
	f.Add(b.Bytes())
	f.Add([]byte("not a tar"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := filepath.Join(dir, "images.tar")
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		ImagesTar(p) //nolint:errcheck // only that it returns
		ImageTar(p)  //nolint:errcheck
	})
}
