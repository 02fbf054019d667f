package cmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/core/engine"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/core/version"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

func newBundle(g *globals) *cobra.Command {
	var out, modelRegistry string
	var noModel, noImages, scan bool
	var vulnDB string
	c := &cobra.Command{
		Use:   "bundle",
		Short: "Write the pinned charts of the enabled stacks, their container images and the Ollama model (each with its digest) into one archive for air-gapped `lab up --offline --bundle`",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			dir := state.LabDir(l.Metadata.Name)
			env := stacks.Env{Lab: l, Model: doctor.ResolveModel(l, 0), GPU: l.Cluster.GPUWorkers > 0}
			if l.Stacks.Linkerd.IsEnabled() {
				if env.Certs, err = certs.Ensure(filepath.Join(dir, "certs")); err != nil {
					return err
				}
			}
			plans, err := stacks.Plans(l, env)
			if err != nil {
				return err
			}
			in := &stacks.Installer{CacheDir: filepath.Join(dir, "helm")}
			o := stacks.BundleOptions{LabVersion: version.Version, ModelRegistry: modelRegistry}
			if l.Stacks.Ollama.IsEnabled() && !noModel {
				o.Model = env.Model
				g.ui.Progress("fetching model %s from %s", o.Model, modelRegistry)
			}
			ctx := context.Background()
			if !noImages {
				eng, err := stacks.NewEngine(ctx)
				if errors.Is(err, engine.ErrNoEngine) {
					g.ui.Progress("%s no container engine (%v): the images are listed in bundle.json, not saved; an air-gapped host needs them from elsewhere", g.ui.Mark(ui.MarkWarn), err)
				} else if err != nil {
					return err
				} else {
					defer eng.Close()
					o.Engine, o.Progress = eng, func(s string) { g.ui.Progress("  %s", s) }
				}
			}
			m, err := in.WriteBundle(ctx, plans, out, o)
			if err != nil {
				return err
			}
			for _, ch := range m.Charts {
				fmt.Fprintf(g.ui.Out, "%s %s-%s sha256:%s (%d images)\n", ch.Release, ch.Name, ch.Version, ch.SHA256[:12], len(ch.Images))
			}
			if m.Model != nil {
				var size int64
				for _, b := range m.Model.Blobs {
					size += b.Size
				}
				fmt.Fprintf(g.ui.Out, "model %s: %d blobs, %.1f MB\n", m.Model.Name, len(m.Model.Blobs), float64(size)/1e6)
			}
			if len(m.Images) > 0 {
				fmt.Fprintf(g.ui.Out, "images: %d saved\n", len(m.Images))
			}
			if m.SBOM != nil {
				fmt.Fprintf(g.ui.Out, "sbom: %s sha256:%s (CycloneDX; lab sbom --bundle %s)\n", m.SBOM.File, m.SBOM.SHA256[:12], out)
			}
			if scan && m.SBOM != nil {
				_, b, err := stacks.BundleSBOMOf(out)
				if err != nil {
					return err
				}
				if err := scanReport(g, b, vulnDB); err != nil {
					return err
				}
			}
			g.ui.Progress("wrote %s", out)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "lab-bundle.tar.gz", "archive to write")
	c.Flags().StringVar(&modelRegistry, "model-registry", stacks.DefaultModelRegistry, "Ollama registry (or mirror) to fetch the model from")
	c.Flags().BoolVar(&noModel, "no-model", false, "leave the Ollama model out of the bundle")
	c.Flags().BoolVar(&noImages, "no-images", false, "list the charts' images without saving them (saving needs Docker or Podman)")
	c.Flags().BoolVar(&scan, "scan", false, "report the bundle's known vulnerabilities from an offline database (--vuln-db; says so when there is none)")
	c.Flags().StringVar(&vulnDB, "vuln-db", "", "folder of OSV advisories for --scan (default "+defaultVulnDB()+")")
	return c
}
