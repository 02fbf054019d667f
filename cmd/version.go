package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newVersion(g *globals) *cobra.Command {
	o := action.Version{Config: &g.action}
	c := command("version", "Print lab's version and the versions of the charts and components it pins", cobra.NoArgs, func([]string) error { return g.bare(o.Run) })
	outputFlag(c, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	return c
}
