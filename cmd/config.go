package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"lab.dev/lab/core/config"
)

func newConfig(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Inspect lab.yaml"}
	var output string
	view := &cobra.Command{
		Use:   "view",
		Short: "Print the effective configuration: lab.yaml with every default filled in",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			switch output {
			case "json":
				_, err := fmt.Fprintf(g.ui.Out, "%s\n", config.Encode(l))
				return err
			case "yaml":
				b, err := config.Template(l)
				if err != nil {
					return err
				}
				_, err = g.ui.Out.Write(b)
				return err
			}
			return fmt.Errorf("--output: want yaml or json, got %q", output)
		},
	}
	view.Flags().StringVarP(&output, "output", "o", "yaml", "yaml or json")
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check lab.yaml and report every problem with file:line",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if _, err := g.loadLab(); err != nil {
				return err
			}
			g.ui.Progress("%s %s is valid", g.ui.Mark("√"), g.configPath)
			return nil
		},
	}
	c.AddCommand(view, validate)
	return c
}
