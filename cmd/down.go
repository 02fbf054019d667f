package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/pipeline"
)

func newDown(g *globals) *cobra.Command {
	var o pipeline.Down
	c := &cobra.Command{
		Use:   "down",
		Short: "Delete the lab's cluster and everything lab put on the host (idempotent); --all for every lab",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Log = g.ui
			if !o.All {
				l, err := g.loadLab()
				if err != nil {
					return err
				}
				o.Lab = l
			}
			return o.Run(context.Background())
		},
	}
	c.Flags().BoolVar(&o.All, "all", false, "remove every lab on this host (nightly CI teardown)")
	c.Flags().DurationVar(&o.OlderThan, "older-than", 0, "with --all: only labs created longer ago than this, e.g. 12h")
	c.Flags().BoolVar(&o.KeepCerts, "keep-certs", false, "keep the lab's certificates (Linkerd trust anchor) on the host")
	return c
}
