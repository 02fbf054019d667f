package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newInit(g *globals) *cobra.Command {
	o := action.Init{Config: &g.action}
	c := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented default lab.yaml (FILE, default ./lab.yaml; - for stdout)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.bare(func() error { return o.Run(first(args)) })
		},
	}
	c.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing file")
	return c
}
