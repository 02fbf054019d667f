package cmd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/spf13/cobra"

	"lab.dev/lab/core/state"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/sbom"
)

func newSBOM(g *globals) *cobra.Command {
	var bundle, image, binary, vulnDB string
	var scan bool
	c := &cobra.Command{
		Use:   "sbom",
		Short: "Print the CycloneDX SBOM of a bundle (verified), an image, a Go binary, or this lab binary",
		Long: "--bundle F: the SBOM stored in a lab bundle, after the bundle's digests (the SBOM's included) are verified.\n" +
			"--image REF: an image's Debian/Alpine packages and the Go modules of its binaries (a saved image tar, or a\n" +
			"reference the container engine has: docker save). --binary PATH: a Go binary's modules. No flag: this binary.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := context.Background()
			switch {
			case bundle != "":
				raw, b, err := stacks.BundleSBOMOf(bundle)
				if err != nil {
					return err
				}
				if scan {
					return scanReport(g, b, vulnDB)
				}
				_, err = g.ui.Out.Write(raw)
				return err
			case image != "":
				path := image
				if _, err := os.Stat(image); err != nil { // a reference: save it from the engine
					dir, err := os.MkdirTemp("", "lab-sbom-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					path = filepath.Join(dir, "image.tar")
					if out, err := exec.CommandContext(ctx, "docker", "save", "-o", path, image).CombinedOutput(); err != nil {
						return fmt.Errorf("docker save %s: %v: %s", image, err, strings.TrimSpace(string(out)))
					}
				}
				cs, err := sbom.ImageTar(path)
				if err != nil {
					return err
				}
				b := sbom.New(cdx.Component{Type: cdx.ComponentTypeContainer, Name: image})
				sbom.Add(b, cs...)
				if scan {
					return scanReport(g, b, vulnDB)
				}
				return sbom.Encode(g.ui.Out, b)
			default:
				path := binary
				if path == "" {
					var err error
					if path, err = os.Executable(); err != nil {
						return err
					}
				}
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				cs, err := sbom.GoBinary(path, f)
				if err != nil {
					return err
				}
				b := sbom.New(cs[0])
				sbom.Add(b, cs[1:]...)
				if scan {
					return scanReport(g, b, vulnDB)
				}
				return sbom.Encode(g.ui.Out, b)
			}
		},
	}
	f := c.Flags()
	f.StringVar(&bundle, "bundle", "", "a lab bundle (tar.gz)")
	f.StringVar(&image, "image", "", "an image: a saved tar, or a reference docker has")
	f.StringVar(&binary, "binary", "", "a Go binary")
	f.BoolVar(&scan, "scan", false, "instead of the SBOM, its known vulnerabilities from the offline database (--vuln-db)")
	f.StringVar(&vulnDB, "vuln-db", "", "folder of OSV advisories (Go's vulnerability database, osv.dev exports); default "+defaultVulnDB())
	c.MarkFlagsMutuallyExclusive("bundle", "image", "binary")
	return c
}

// defaultVulnDB is where lab looks for an offline vulnerability database.
func defaultVulnDB() string { return filepath.Join(state.Home(), "vulndb") }

// scanReport prints the BOM's known vulnerabilities by severity from the
// OSV folder db (default: defaultVulnDB). No database is said, not hidden:
// nothing was scanned.
func scanReport(g *globals, b *cdx.BOM, db string) error {
	if db == "" {
		db = defaultVulnDB()
	}
	if fi, err := os.Stat(db); err != nil || !fi.IsDir() {
		fmt.Fprintf(g.ui.Out, "scan: no vulnerability database at %s (a folder of OSV records: Go's vuln DB, osv.dev's exports): nothing was scanned\n", db)
		return nil
	}
	advs, err := sbom.LoadAdvisories(db)
	if err != nil {
		return fmt.Errorf("vulnerability database %s: %w", db, err)
	}
	vulns := sbom.Scan(b, advs)
	n := len(sbom.Flatten(b))
	by := map[string]int{}
	for _, v := range vulns {
		by[v.Severity]++
	}
	fmt.Fprintf(g.ui.Out, "scan: %d components against %d advisories in %s: %d known vulnerabilities", n, len(advs), db, len(vulns))
	for _, s := range sbom.Severities {
		if by[s] > 0 {
			fmt.Fprintf(g.ui.Out, ", %s %d", s, by[s])
		}
	}
	fmt.Fprintln(g.ui.Out)
	for _, v := range vulns {
		fixed := "no fix known"
		if v.Fixed != "" {
			fixed = "fixed in " + v.Fixed
		}
		fmt.Fprintf(g.ui.Out, "  %-8s %s %s (%s) %s\n", v.Severity, v.ID, v.Component, fixed, strings.Join(v.Aliases, " "))
	}
	return nil
}
