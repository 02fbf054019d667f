package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newStatus(g *globals) *cobra.Command {
	o := action.Status{Config: &g.action}
	c := command("status", "Show the lab: cluster, nodes, releases, Applications, agent, model, drift from lab.yaml, last `lab up`; exit 1 when unhealthy", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	outputFlag(c, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	return c
}
