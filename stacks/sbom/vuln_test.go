package sbom

import (
	"os"
	"path/filepath"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// dpkg's own ordering (from the Debian Policy Manual's examples and dpkg's
// test suite): ~ sorts before everything, letters before other characters,
// digits as numbers, the epoch first.
func TestDebCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.0~rc1", "1.0", -1}, {"1.0", "1.0-1", -1}, {"1.0-1", "1.0-2", -1},
		{"1:0.9", "2.0", 1}, {"2.30-1", "2.4-1", 1}, {"1.2.3+deb12u1", "1.2.3", 1}, {"1.2.3+deb12u1", "1.2.3+deb12u2", -1},
		{"1.0a", "1.0+", -1}, {"1.0~~", "1.0~", -1}, {"3.0.15-1~deb12u1", "3.0.15-1", -1}, {"007", "7", 0},
	} {
		if got := DebCompare(c.a, c.b); sign(got) != c.want {
			t.Errorf("DebCompare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := DebCompare(c.b, c.a); sign(got) != -c.want {
			t.Errorf("DebCompare(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// OSV records as Go's vulnerability database and Debian's tracker publish
// them: a Go module in a semver range, a Debian package fixed in a later
// revision, one fixed before the version the BOM holds, one by exact
// version; worst first, the unaffected left out.
func TestScan(t *testing.T) {
	dir := t.TempDir()
	for name, rec := range map[string]string{
		"GO-2026-0001.json": `{"id":"GO-2026-0001","summary":"x/net: excessive memory in HTTP/2","aliases":["CVE-2026-1111"],"affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/net"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.50.0"}]}]}]}`,
		"GO-2026-0002.json": `{"id":"GO-2026-0002","affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/net"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.10.0"}]}]}]}`,
		"deb/DSA-1.json":    `{"id":"DSA-1","database_specific":{"severity":"HIGH"},"affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.15-1~deb12u1"}]}]}]}`,
		"GHSA-x.json":       `{"id":"GHSA-x","database_specific":{"severity":"CRITICAL"},"affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"busybox"},"versions":["1.36.1-r29"]}]}`,
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	advs, err := LoadAdvisories(dir)
	if err != nil || len(advs) != 4 {
		t.Fatalf("%d advisories: %v", len(advs), err)
	}
	b := New(cdx.Component{Name: "x"})
	Add(b,
		cdx.Component{Name: "golang.org/x/net", Version: "v0.45.0", PackageURL: "pkg:golang/golang.org/x/net@v0.45.0"},
		cdx.Component{Name: "openssl", Version: "3.0.14-1~deb12u2", PackageURL: "pkg:deb/debian/openssl@3.0.14-1~deb12u2?arch=amd64"},
		cdx.Component{Name: "busybox", Version: "1.36.1-r29", PackageURL: "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64"},
		cdx.Component{Name: "zlib1g", Version: "1:1.2.13", PackageURL: "pkg:deb/debian/zlib1g@1:1.2.13"})
	got := Scan(b, advs)
	want := []string{"GHSA-x CRITICAL", "DSA-1 HIGH", "GO-2026-0001 UNKNOWN"}
	if len(got) != len(want) {
		t.Fatalf("found %+v", got)
	}
	for i, v := range got {
		if v.ID+" "+v.Severity != want[i] {
			t.Errorf("%d: %s %s, want %s", i, v.ID, v.Severity, want[i])
		}
	}
	if got[1].Fixed != "3.0.15-1~deb12u1" || got[2].Fixed != "0.50.0" {
		t.Errorf("fixed versions: %+v", got)
	}
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o644)
	if _, err := LoadAdvisories(dir); err == nil {
		t.Error("a broken record was read as nothing")
	}
}
