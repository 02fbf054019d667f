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

	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/sbom"
)

func newSBOM(g *globals) *cobra.Command {
	var bundle, image, binary string
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
				dir, err := os.MkdirTemp("", "lab-sbom-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				m, err := stacks.OpenBundle(bundle, filepath.Join(dir, "b"))
				if err != nil {
					return err
				}
				if m.SBOM == nil {
					return fmt.Errorf("%s has no SBOM (made by a lab before SBOMs; run lab bundle again)", bundle)
				}
				b, err := os.ReadFile(filepath.Join(dir, "b", m.SBOM.File))
				if err != nil {
					return err
				}
				_, err = g.ui.Out.Write(b)
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
				return sbom.Encode(g.ui.Out, b)
			}
		},
	}
	f := c.Flags()
	f.StringVar(&bundle, "bundle", "", "a lab bundle (tar.gz)")
	f.StringVar(&image, "image", "", "an image: a saved tar, or a reference docker has")
	f.StringVar(&binary, "binary", "", "a Go binary")
	c.MarkFlagsMutuallyExclusive("bundle", "image", "binary")
	return c
}
