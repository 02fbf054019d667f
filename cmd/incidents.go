package cmd

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"lab.dev/lab/agent/memory"
)

func newIncidents(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "incidents",
		Short: "The agent's incident memory: every fingerprint it has diagnosed, how often, where last, with the last root cause",
		Long: "Each diagnosis leaves a fingerprint (category, owner kind, container, the decisive log line's template, exit\n" +
			"code — not the namespace or pod) so a failure that comes back is recognised. Kept beside the lab's state\n" +
			"(agent.incidents of them, the oldest dropped); it outlives lab up, lab down and the agent's restarts.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			list, err := memory.Open(memory.LabPath(l.Metadata.Name), l.Agent.Incidents).List()
			if err != nil {
				return err
			}
			switch output {
			case "json":
				if list == nil {
					list = []memory.Incident{}
				}
				e := json.NewEncoder(g.ui.Out)
				e.SetIndent("", "  ")
				return e.Encode(list)
			case "text":
				if len(list) == 0 {
					fmt.Fprintf(g.ui.Out, "no incidents remembered for lab %s yet\n", l.Metadata.Name)
					return nil
				}
				tw := tabwriter.NewWriter(g.ui.Out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "FINGERPRINT\tCATEGORY\tSEEN\tFIRST\tLAST\tLAST ON\tLAST ROOT CAUSE")
				for _, i := range list {
					where := i.LastNamespace + "/" + i.LastPod
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", i.Fingerprint, i.Key.Category, i.Count, i.First.UTC().Format("2006-01-02"),
						i.Last.UTC().Format("2006-01-02 15:04"), where, clipText(i.LastCause, 100))
				}
				return tw.Flush()
			}
			return fmt.Errorf("--output: want text or json, got %q", output)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func clipText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
