package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"lab.dev/lab/core/config"
)

func newInit(g *globals) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented default lab.yaml (FILE, default ./lab.yaml; - for stdout)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := "lab.yaml"
			if len(args) == 1 {
				path = args[0]
			}
			b, err := config.Template(config.Default())
			if err != nil {
				return err
			}
			if path == "-" {
				_, err := g.ui.Out.Write(b)
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(path, flags, 0o644)
			if os.IsExist(err) {
				return fmt.Errorf("%s exists; use --force to overwrite it", path)
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(b); err != nil {
				f.Close()
				return err
			}
			g.ui.Progress("wrote %s", path)
			return f.Close()
		},
	}
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return c
}
