package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/engine"
	"lab.dev/lab/core/state"
)

// newCluster: `lab cluster create|delete|config` — the cluster alone, with no
// stacks, journal or spec record. What the Terraform module lab renders
// (cluster.provisioner: terraform) runs in its provisioners; hidden, as
// `lab up` / `lab down` are what people run.
func newCluster(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Create or delete only the lab's cluster (run by the Terraform module lab renders)", Hidden: true}
	for _, verb := range []string{"create", "delete"} {
		c.AddCommand(&cobra.Command{
			Use:   verb,
			Short: verb + " the cluster of lab.yaml, ignoring cluster.provisioner",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				l, err := g.loadLab()
				if err != nil {
					return err
				}
				l.Cluster.Provisioner = ""
				p, err := cluster.New(l, state.LabDir(l.Metadata.Name))
				if err != nil {
					return err
				}
				if verb == "delete" {
					return p.Delete(context.Background())
				}
				g.ui.Progress("creating the %s cluster of lab %s", p.Name(), l.Metadata.Name)
				return p.Create(context.Background())
			},
		})
	}
	c.AddCommand(&cobra.Command{
		Use:   "config",
		Short: "print the cluster config lab gives the provider on this host (kind's v1alpha4 Cluster, k3d's SimpleConfig)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			out, err := cluster.NativeConfig(l, engine.ReadNodeHost())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	})
	return c
}
