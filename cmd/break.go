package cmd

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/core/state"
)

func newBreak(g *globals) *cobra.Command {
	var namespace string
	c := &cobra.Command{
		Use:   "break [SCENARIO]",
		Short: "Break something on purpose for the agent to diagnose (kwok labs); without SCENARIO, list them",
		Long: "Applies one of lab's failure scenarios (manifests/scenarios): the workload, the status a kubelet would report\n" +
			"(driven by kwok), its events and its current and previous logs. Then run the `lab diagnose` it prints.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			all, err := kwok.EmbeddedScenarios()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				names := make([]string, 0, len(all))
				for n := range all {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintf(g.ui.Out, "%-30s %s\n", n, all[n].Expect.Category)
				}
				return nil
			}
			s, ok := all[args[0]]
			if !ok {
				return fmt.Errorf("no scenario %q; `lab break` lists them", args[0])
			}
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			if !l.Cluster.Capabilities().SimulatedNodes {
				return fmt.Errorf("lab break drives pods through kwok's stages: it needs cluster.provider kwok (this lab is %s)", l.Cluster.Provider)
			}
			p, err := cluster.New(l, state.LabDir(l.Metadata.Name))
			if err != nil {
				return err
			}
			cfg, err := p.RESTConfig()
			if err != nil {
				return fmt.Errorf("no running lab %s: run `lab up` first: %w", l.Metadata.Name, err)
			}
			cl, err := kwok.Attach(state.LabDir(l.Metadata.Name)+"/kwok", cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pods, err := cl.Apply(ctx, s, namespace)
			if err != nil {
				return err
			}
			g.ui.Progress("broke %s: %s", s.Name, s.Description)
			for _, p := range pods {
				fmt.Fprintf(g.ui.Out, "lab diagnose %s -n %s\n", p.Name, namespace)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&namespace, "namespace", "n", "demo", "namespace to break things in")
	return c
}
