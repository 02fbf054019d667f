package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newInit(g *globals) *cobra.Command {
	o := action.Init{Config: &g.action}
	c := command("init [FILE]", "Write a commented default lab.yaml (FILE, default ./lab.yaml; - for stdout)", cobra.MaximumNArgs(1), func(args []string) error {
		return g.bare(func() error { return o.Run(first(args)) })
	})
	c.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing file")
	return c
}
