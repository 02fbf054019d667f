package cmd

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

func newBundle(g *globals) *cobra.Command {
	var out, modelRegistry string
	var noModel bool
	c := &cobra.Command{
		Use:   "bundle",
		Short: "Write the pinned charts of the enabled stacks (with digests and the images they use) into one archive for air-gapped `lab up --offline --bundle`",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			dir := pipeline.LabDir(l.Metadata.Name)
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
			o := stacks.BundleOptions{LabVersion: version, ModelRegistry: modelRegistry}
			if l.Stacks.Ollama.IsEnabled() && !noModel {
				o.Model = env.Model
				g.ui.Progress("fetching model %s from %s", o.Model, or(modelRegistry, "registry.ollama.ai"))
			}
			m, err := in.WriteBundle(context.Background(), plans, out, o)
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
			g.ui.Progress("wrote %s; the images each chart uses are listed in its bundle.json", out)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "lab-bundle.tar.gz", "archive to write")
	c.Flags().StringVar(&modelRegistry, "model-registry", "", "Ollama registry (or mirror) to fetch the model from (default https://registry.ollama.ai)")
	c.Flags().BoolVar(&noModel, "no-model", false, "leave the Ollama model out of the bundle")
	return c
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
