package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/core/config"
)

func newSchema(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of lab.yaml (for editors: yaml-language-server)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := config.Schema()
			if err != nil {
				return err
			}
			_, err = g.ui.Out.Write(append(b, '\n'))
			return err
		},
	}
}
