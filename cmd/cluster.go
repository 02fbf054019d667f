package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

// newCluster: `lab cluster create|delete|config` — the cluster alone, with no
// stacks, journal or spec record. What the Terraform module lab renders
// (cluster.provisioner: terraform) runs in its provisioners; hidden, as
// `lab up` / `lab down` are what people run.
func newCluster(g *globals) *cobra.Command {
	o := action.ClusterOnly{Config: &g.action}
	c := &cobra.Command{Use: "cluster", Short: "Create or delete only the lab's cluster (run by the Terraform module lab renders)", Hidden: true}
	for _, verb := range []string{"create", "delete"} {
		c.AddCommand(command(verb, verb+" the cluster of lab.yaml, ignoring cluster.provisioner", cobra.NoArgs,
			func([]string) error { return g.run(func() error { return o.Run(verb) }) }))
	}
	c.AddCommand(command("config", "print the cluster config lab gives the provider on this host (kind's v1alpha4 Cluster, k3d's SimpleConfig)", cobra.NoArgs,
		func([]string) error { return g.run(o.Native) }))
	return c
}
