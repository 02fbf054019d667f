package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newAgent(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "agent", Short: "The agent in the cluster: RBAC, API Priority and Fairness, alert webhook"}
	kubeFlags(c.PersistentFlags(), &g.action)
	c.AddCommand(newAgentApply(g), newRBACCheck(g), newAPF(g), newServe(g), newAgentImage(g), newIncidents(g), newPredict(g))
	return c
}

func newAgentApply(g *globals) *cobra.Command {
	o := action.AgentApply{Config: &g.action}
	c := command("apply", "Apply the agent's ServiceAccount, read-only Roles, opt-in remediation Role and APF objects (idempotent)", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	c.Flags().BoolVar(&o.Serve, "serve", false, "also run `lab agent serve` in the cluster: its Deployment, Service, ServiceMonitor, AlertmanagerConfig (needs the Prometheus stack's CRDs), NetworkPolicy and the webhook's token Secret")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "server-side dry run: change nothing")
	outputFlag(c, &o.Output, "", "print the rendered manifests instead of applying", ui.YAML)
	return c
}

func newRBACCheck(g *globals) *cobra.Command {
	o := action.RBACCheck{Config: &g.action}
	c := command("rbac-check", "Prove the agent's permissions with real access reviews (as the agent); fail if it can do more than declared", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	outputFlag(c, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	return c
}

func newAPF(g *globals) *cobra.Command {
	o := action.APF{Config: &g.action}
	c := command("apf", "Apply the agent's FlowSchema and PriorityLevelConfiguration (API Priority and Fairness)", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "server-side dry run: change nothing")
	outputFlag(c, &o.Output, "", "print the objects instead of applying", ui.YAML)
	st := action.APFStatus{Config: &g.action}
	status := command("status", "Show the agent's priority level: seats, queued and rejected requests (API server metrics)", cobra.NoArgs, func([]string) error { return g.run(st.Run) })
	outputFlag(status, &st.Output, ui.Text, "", ui.Text, ui.JSON)
	c.AddCommand(status)
	return c
}

func newAgentImage(g *globals) *cobra.Command {
	o := action.AgentImage{Config: &g.action}
	return command("image", "Load the agent's image ("+action.AgentImageRef()+", from `make image`) from the local engine into the lab's kind or k3s nodes",
		cobra.NoArgs, func([]string) error { return g.run(o.Run) })
}
