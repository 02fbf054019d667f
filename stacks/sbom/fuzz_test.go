package sbom

import (
	"encoding/json"
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
