package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/state"
)

func newAgentImage(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "image",
		Short: "Load the agent's image (" + deploy.AgentImage() + ", from `make image`) from the local engine into the lab's kind or k3s nodes",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			dir := state.LabDir(l.Metadata.Name)
			p, err := cluster.New(l, dir)
			if err != nil {
				return err
			}
			if _, ok := p.(cluster.ImageLoader); !ok {
				return fmt.Errorf("the %s provider's nodes are not lab's containers: push %s to a registry the cluster pulls from", p.Name(), deploy.AgentImage())
			}
			c := &pipeline.Context{Lab: l, Dir: dir, Provider: p, UI: g.ui}
			return c.LoadAgentImage(context.Background())
		},
	}
}
