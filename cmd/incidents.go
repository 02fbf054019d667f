package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newIncidents(g *globals) *cobra.Command {
	o := action.Incidents{Config: &g.action}
	c := command("incidents", "The agent's incident memory: every fingerprint it has diagnosed, how often, where last, with the last root cause", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	c.Long = "Each diagnosis leaves a fingerprint (category, owner kind, container, the decisive log line's template, exit\n" +
		"code — not the namespace or pod) so a failure that comes back is recognised. Kept beside the lab's state\n" +
		"(agent.incidents of them, the oldest dropped); it outlives lab up, lab down and the agent's restarts."
	outputFlag(c, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	return c
}
