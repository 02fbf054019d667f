package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newBreak(g *globals) *cobra.Command {
	o := action.Break{Config: &g.action}
	c := command("break [SCENARIO]", "Break something on purpose for the agent to diagnose (kwok labs); without SCENARIO, list them", cobra.MaximumNArgs(1), func(args []string) error { return g.run(func() error { return o.Run(first(args)) }) })
	c.Long = "Applies one of lab's failure scenarios (manifests/scenarios): the workload, the status a kubelet would report\n" +
		"(driven by kwok), its events and its current and previous logs. Then run the `lab diagnose` it prints."
	c.Flags().StringVarP(&o.Namespace, "namespace", "n", "demo", "namespace to break things in")
	return c
}
