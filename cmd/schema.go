package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newSchema(g *globals) *cobra.Command {
	o := action.Schema{Config: &g.action}
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of lab.yaml (for editors: yaml-language-server)",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return g.bare(o.Run) },
	}
}
