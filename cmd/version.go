package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sort"

	"github.com/spf13/cobra"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/version"
)

func newVersion(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print lab's version and the versions of the charts and components it pins",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p := config.Pinned()
			if output == "json" {
				return json.NewEncoder(g.ui.Out).Encode(map[string]any{"version": version.Version, "go": runtime.Version(), "pins": p})
			}
			fmt.Fprintf(g.ui.Out, "lab %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			for _, sec := range []struct {
				title string
				m     map[string]string
			}{{"components", p.Components}, {"charts", p.Charts}} {
				fmt.Fprintf(g.ui.Out, "%s:\n", sec.title)
				keys := make([]string, 0, len(sec.m))
				for k := range sec.m {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(g.ui.Out, "  %-24s %s\n", k, sec.m[k])
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}
