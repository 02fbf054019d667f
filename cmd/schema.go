package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newSchema(g *globals) *cobra.Command {
	o := action.Schema{Config: &g.action}
	return command("schema", "Print the JSON Schema of lab.yaml (for editors: yaml-language-server)", cobra.NoArgs,
		func([]string) error { return g.bare(o.Run) })
}
