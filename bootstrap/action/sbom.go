package action

import (
	"context"
	"fmt"
	"io"
	"lab.dev/lab/core/engine"
	"os"
	"path/filepath"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"lab.dev/lab/core/state"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/sbom"
)

// SBOM is `lab sbom`: the CycloneDX SBOM of a bundle (verified), an image,
// a Go binary or this binary, or with Scan its known vulnerabilities.
type SBOM struct {
	*Config
	Bundle, Image, Binary string
	Scan                  bool
	VulnDB                string // default DefaultVulnDB
}

// DefaultVulnDB is where lab looks for an offline vulnerability database.
func DefaultVulnDB() string { return filepath.Join(state.Home(), "vulndb") }

// Run prints the SBOM, or the scan.
func (s *SBOM) Run() error {
	if s.Bundle != "" {
		raw, b, err := stacks.BundleSBOMOf(s.Bundle)
		if err != nil {
			return err
		}
		if s.Scan {
			return ScanReport(s.UI.Out, b, s.VulnDB)
		}
		_, err = s.UI.Out.Write(raw)
		return err
	}
	b, err := s.build(context.Background())
	if err != nil {
		return err
	}
	if s.Scan {
		return ScanReport(s.UI.Out, b, s.VulnDB)
	}
	return sbom.Encode(s.UI.Out, b)
}

// build makes the BOM of --image or --binary (default: this binary).
func (s *SBOM) build(ctx context.Context) (*cdx.BOM, error) {
	if s.Image != "" {
		path, done, err := imageTar(ctx, s.Image)
		if err != nil {
			return nil, err
		}
		defer done()
		cs, err := sbom.ImageTar(path)
		if err != nil {
			return nil, err
		}
		b := sbom.New(cdx.Component{Type: cdx.ComponentTypeContainer, Name: s.Image})
		sbom.Add(b, cs...)
		return b, nil
	}
	path := s.Binary
	if path == "" {
		var err error
		if path, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cs, err := sbom.GoBinary(path, f)
	if err != nil {
		return nil, err
	}
	b := sbom.New(cs[0])
	sbom.Add(b, cs[1:]...)
	return b, nil
}

// imageTar is image when it is a saved tar, else the engine's image saved
// into a temporary file (removed by done).
func imageTar(ctx context.Context, image string) (path string, done func(), err error) {
	if _, err := os.Stat(image); err == nil {
		return image, func() {}, nil
	}
	eng, err := engine.Connect(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("--image %s is no file, and no engine to save it from: %w", image, err)
	}
	defer eng.Close()
	dir, err := os.MkdirTemp("", "lab-sbom-")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "image.tar")
	if _, err := eng.Save(ctx, image, path); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// ScanReport prints the BOM's known vulnerabilities by severity from the OSV
// folder db (default DefaultVulnDB). No database is said, not hidden:
// nothing was scanned.
func ScanReport(w io.Writer, b *cdx.BOM, db string) error {
	if db == "" {
		db = DefaultVulnDB()
	}
	if fi, err := os.Stat(db); err != nil || !fi.IsDir() {
		fmt.Fprintf(w, "scan: no vulnerability database at %s (a folder of OSV records: Go's vuln DB, osv.dev's exports): nothing was scanned\n", db)
		return nil
	}
	advs, err := sbom.LoadAdvisories(db)
	if err != nil {
		return fmt.Errorf("vulnerability database %s: %w", db, err)
	}
	vulns := sbom.Scan(b, advs)
	by := map[string]int{}
	for _, v := range vulns {
		by[v.Severity]++
	}
	fmt.Fprintf(w, "scan: %d components against %d advisories in %s: %d known vulnerabilities", len(sbom.Flatten(b)), len(advs), db, len(vulns))
	for _, s := range sbom.Severities {
		if by[s] > 0 {
			fmt.Fprintf(w, ", %s %d", s, by[s])
		}
	}
	fmt.Fprintln(w)
	for _, v := range vulns {
		fixed := "no fix known"
		if v.Fixed != "" {
			fixed = "fixed in " + v.Fixed
		}
		fmt.Fprintf(w, "  %-8s %s %s (%s) %s\n", v.Severity, v.ID, v.Component, fixed, strings.Join(v.Aliases, " "))
	}
	return nil
}
