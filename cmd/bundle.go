package cmd

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

func newBundle(g *globals) *cobra.Command {
	var out string
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
			m, err := in.WriteBundle(plans, version, out)
			if err != nil {
				return err
			}
			for _, ch := range m.Charts {
				fmt.Fprintf(g.ui.Out, "%s %s-%s sha256:%s (%d images)\n", ch.Release, ch.Name, ch.Version, ch.SHA256[:12], len(ch.Images))
			}
			g.ui.Progress("wrote %s; images are listed in its bundle.json (saving them needs a container engine: not done by this release)", out)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "lab-bundle.tar.gz", "archive to write")
	return c
}
