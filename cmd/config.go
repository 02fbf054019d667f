package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newConfig(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Inspect lab.yaml"}
	o := action.ConfigView{Config: &g.action}
	view := command("view", "Print the effective configuration: lab.yaml with every default filled in", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	outputFlag(view, &o.Output, ui.YAML, "", ui.YAML, ui.JSON)
	validate := command("validate", "Check lab.yaml and report every problem with file:line", cobra.NoArgs, func([]string) error {
		return g.run(func() error { g.ui.Progress("%s %s is valid", g.ui.Mark(ui.MarkOK), g.configPath); return nil })
	})
	c.AddCommand(view, validate)
	return c
}
