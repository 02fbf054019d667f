package sbom

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"golang.org/x/mod/semver"
)

// Advisory is the part of an OSV record (ossf.github.io/osv-schema — the
// format of Go's vulnerability database, osv.dev's per-ecosystem exports
// and the GitHub advisories) a scan reads. Offline, a folder of these is
// the vulnerability database: `lab bundle --scan --vuln-db DIR`.
type Advisory struct {
	ID       string   `json:"id"`
	Summary  string   `json:"summary"`
	Aliases  []string `json:"aliases"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string              `json:"type"`
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
		Versions []string `json:"versions"`
	} `json:"affected"`
	DatabaseSpecific struct {
		Severity string `json:"severity"`
	} `json:"database_specific"`
}

// Vulnerability is one advisory that affects one component of an SBOM.
type Vulnerability struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases,omitempty"`
	Severity  string   `json:"severity"` // CRITICAL, HIGH, MODERATE/MEDIUM, LOW, or UNKNOWN when the record says none
	Component string   `json:"component"`
	Version   string   `json:"version"`
	Fixed     string   `json:"fixed,omitempty"`
	Summary   string   `json:"summary,omitempty"`
}

// LoadAdvisories reads every *.json OSV record under dir (a file that is
// not one is an error naming it: a database that reads half is worse than
// none).
func LoadAdvisories(dir string) ([]Advisory, error) {
	var out []Advisory
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var a Advisory
		if err := json.Unmarshal(b, &a); err != nil || a.ID == "" {
			return fmt.Errorf("%s: not an OSV record: %v", p, err)
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// Scan matches the BOM's components (by package URL: Go modules, Debian and
// Alpine packages) against the advisories; worst first.
func Scan(b *cdx.BOM, advs []Advisory) []Vulnerability {
	type key struct{ eco, name string }
	index := map[key][]*Advisory{}
	for i := range advs {
		for _, af := range advs[i].Affected {
			eco, _, _ := strings.Cut(af.Package.Ecosystem, ":") // Debian:12 → Debian
			index[key{eco, af.Package.Name}] = append(index[key{eco, af.Package.Name}], &advs[i])
		}
	}
	var out []Vulnerability
	seen := map[string]bool{}
	for _, c := range Flatten(b) {
		eco, name, version := fromPURL(c.PackageURL)
		for _, a := range index[key{eco, name}] {
			if fixed, hit := affects(a, eco, name, version); hit && !seen[a.ID+"|"+c.PackageURL] {
				seen[a.ID+"|"+c.PackageURL] = true
				sev := strings.ToUpper(a.DatabaseSpecific.Severity)
				if sev == "" {
					sev = "UNKNOWN"
				}
				out = append(out, Vulnerability{ID: a.ID, Aliases: a.Aliases, Severity: sev, Component: c.PackageURL, Version: version, Fixed: fixed, Summary: a.Summary})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := severityRank(out[i].Severity), severityRank(out[j].Severity)
		return ri < rj || ri == rj && out[i].ID < out[j].ID
	})
	return out
}

// Flatten is every component of the BOM, nested ones (an image's packages
// inside the image) included.
func Flatten(b *cdx.BOM) []cdx.Component {
	var out []cdx.Component
	var walk func(cs *[]cdx.Component)
	walk = func(cs *[]cdx.Component) {
		if cs == nil {
			return
		}
		for _, c := range *cs {
			out = append(out, c)
			walk(c.Components)
		}
	}
	walk(b.Components)
	return out
}

// Severities are the levels a scan reports, worst first; MODERATE (GitHub's
// word) and MEDIUM rank alike, and anything else ranks with UNKNOWN.
var Severities = []string{"CRITICAL", "HIGH", "MODERATE", "MEDIUM", "LOW", "UNKNOWN"}

func severityRank(s string) int {
	switch s {
	case "CRITICAL":
		return 0
	case "HIGH":
		return 1
	case "MODERATE", "MEDIUM":
		return 2
	case "LOW":
		return 3
	}
	return 4
}

// fromPURL is the OSV ecosystem, package name and version of a package URL
// lab's SBOMs write (pkg:golang, pkg:deb/debian, pkg:apk/alpine).
func fromPURL(purl string) (eco, name, version string) {
	rest, _, _ := strings.Cut(purl, "?")
	rest, version, _ = strings.Cut(rest, "@")
	switch {
	case strings.HasPrefix(rest, "pkg:golang/"):
		return "Go", strings.TrimPrefix(rest, "pkg:golang/"), version
	case strings.HasPrefix(rest, "pkg:deb/debian/"):
		return "Debian", strings.TrimPrefix(rest, "pkg:deb/debian/"), version
	case strings.HasPrefix(rest, "pkg:apk/alpine/"):
		return "Alpine", strings.TrimPrefix(rest, "pkg:apk/alpine/"), version
	}
	return "", "", ""
}

// affects reports whether version of name is affected, and the version that
// fixes it: an exact listed version, or a range of introduced/fixed/
// last_affected events compared the ecosystem's way (semver for Go, dpkg's
// order for Debian; Alpine by the listed versions only).
func affects(a *Advisory, eco, name, version string) (string, bool) {
	cmp := map[string]func(x, y string) int{"Go": goCompare, "Debian": DebCompare}[eco]
	for _, af := range a.Affected {
		if e, _, _ := strings.Cut(af.Package.Ecosystem, ":"); e != eco || af.Package.Name != name {
			continue
		}
		for _, v := range af.Versions {
			if v == version || eco == "Go" && "v"+v == version {
				return "", true
			}
		}
		if cmp == nil {
			continue
		}
		for _, r := range af.Ranges {
			if r.Type != "SEMVER" && r.Type != "ECOSYSTEM" {
				continue
			}
			in, fixed := false, ""
			for _, ev := range r.Events {
				switch {
				case ev["introduced"] != "":
					in = ev["introduced"] == "0" || cmp(version, ev["introduced"]) >= 0
				case ev["fixed"] != "":
					if in && cmp(version, ev["fixed"]) < 0 {
						return ev["fixed"], true
					}
					in, fixed = false, ev["fixed"]
				case ev["last_affected"] != "":
					if in && cmp(version, ev["last_affected"]) <= 0 {
						return "", true
					}
					in = false
				}
			}
			if in {
				return fixed, true
			}
		}
	}
	return "", false
}

func goCompare(x, y string) int {
	canon := func(v string) string {
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		return v
	}
	return semver.Compare(canon(x), canon(y))
}
