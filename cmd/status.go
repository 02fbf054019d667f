package cmd

import (
	"context"
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/pipeline"
)

func newStatus(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the lab: cluster, nodes, releases, Applications, agent, model, drift from lab.yaml, last `lab up`; exit 1 when unhealthy",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := (&pipeline.Status{Lab: l, Log: g.ui}).Run(ctx)
			if err != nil {
				return err
			}
			if output == "json" {
				e := json.NewEncoder(g.ui.Out)
				e.SetIndent("", "  ")
				if err := e.Encode(st); err != nil {
					return err
				}
			} else {
				st.Write(g.ui.Out, g.ui)
			}
			if !st.Healthy {
				return errSilent
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}
