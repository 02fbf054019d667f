package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newSBOM(g *globals) *cobra.Command {
	o := action.SBOM{Config: &g.action}
	c := command("sbom", "Print the CycloneDX SBOM of a bundle (verified), an image, a Go binary, or this lab binary", cobra.NoArgs, func([]string) error { return g.bare(o.Run) })
	c.Long = "--bundle F: the SBOM stored in a lab bundle, after the bundle's digests (the SBOM's included) are verified.\n" +
		"--image REF: an image's Debian/Alpine packages and the Go modules of its binaries (a saved image tar, or a\n" +
		"reference the container engine has). --binary PATH: a Go binary's modules. No flag: this binary."
	f := c.Flags()
	f.StringVar(&o.Bundle, "bundle", "", "a lab bundle (tar.gz)")
	f.StringVar(&o.Image, "image", "", "an image: a saved tar, or a reference the engine has")
	f.StringVar(&o.Binary, "binary", "", "a Go binary")
	f.BoolVar(&o.Scan, "scan", false, "instead of the SBOM, its known vulnerabilities from the offline database (--vuln-db)")
	f.StringVar(&o.VulnDB, "vuln-db", "", "folder of OSV advisories (Go's vulnerability database, osv.dev exports); default "+action.DefaultVulnDB())
	c.MarkFlagsMutuallyExclusive("bundle", "image", "binary")
	return c
}
