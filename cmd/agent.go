package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/core/ui"
)

func newAgent(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "agent", Short: "The agent in the cluster: RBAC, API Priority and Fairness, alert webhook"}
	var kubeconfig string
	c.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig to use instead of the lab's")
	c.AddCommand(newAgentApply(g, &kubeconfig), newRBACCheck(g, &kubeconfig), newAPF(g, &kubeconfig), newServe(g, &kubeconfig), newAgentImage(g), newIncidents(g), newPredict(g, &kubeconfig))
	return c
}

func applyParts(g *globals, kubeconfig string, dryRun bool, output string, parts func(*deployCtx) []deploy.Part) error {
	d, err := g.deployCtx(kubeconfig, dryRun)
	if err != nil {
		return err
	}
	objs, err := deploy.Render(d.lab, parts(d)...)
	if err != nil {
		return err
	}
	if output == "yaml" {
		fmt.Fprint(g.ui.Out, deploy.YAML(objs))
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := d.applier.Apply(ctx, objs)
	for _, r := range res {
		suffix := ""
		if dryRun {
			suffix = " (server dry run)"
		}
		fmt.Fprintf(g.ui.Out, "%s %s%s\n", r.Object, r.Action, suffix)
	}
	return err
}

func newAgentApply(g *globals, kubeconfig *string) *cobra.Command {
	var dryRun, serve bool
	var output string
	c := &cobra.Command{
		Use:   "apply",
		Short: "Apply the agent's ServiceAccount, read-only Roles, opt-in remediation Role and APF objects (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output == "yaml" {
				return applyParts(g, *kubeconfig, true, output, func(d *deployCtx) []deploy.Part {
					if serve {
						return append(deploy.Parts(d.lab), deploy.Serve)
					}
					return deploy.Parts(d.lab)
				})
			}
			d, err := g.deployCtx(*kubeconfig, dryRun)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := deploy.Install(ctx, d.applier, d.lab)
			if err == nil && serve {
				var cs kubernetes.Interface
				if cs, err = kubernetes.NewForConfig(d.cfg); err == nil {
					var more []kube.Result
					more, err = deploy.InstallServe(ctx, d.applier, cs, d.lab, dryRun)
					res = append(res, more...)
				}
			}
			for _, r := range res {
				fmt.Fprintf(g.ui.Out, "%s %s\n", r.Object, r.Action)
			}
			return err
		},
	}
	c.Flags().BoolVar(&serve, "serve", false, "also run `lab agent serve` in the cluster: its Deployment, Service, ServiceMonitor, AlertmanagerConfig (needs the Prometheus stack's CRDs), NetworkPolicy and the webhook's token Secret")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "server-side dry run: change nothing")
	c.Flags().StringVarP(&output, "output", "o", "", "yaml: print the rendered manifests instead of applying")
	return c
}

func newRBACCheck(g *globals, kubeconfig *string) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "rbac-check",
		Short: "Prove the agent's permissions with real access reviews (as the agent); fail if it can do more than declared",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := g.deployCtx(*kubeconfig, false)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := deploy.RBACCheck(ctx, d.cfg, d.lab)
			if err != nil {
				return err
			}
			if output == "json" {
				e := json.NewEncoder(g.ui.Out)
				e.SetIndent("", "  ")
				if err := e.Encode(rep); err != nil {
					return err
				}
			} else {
				printRBAC(g.ui, rep)
			}
			if !rep.Passed {
				return errSilent
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func printRBAC(u *ui.UI, rep deploy.Report) {
	fmt.Fprintf(u.Out, "permissions of %s\n", rep.User)
	for _, p := range rep.Probes {
		m, can := ui.MarkOK, "can"
		if !p.Allowed {
			can = "cannot"
		}
		if !p.OK {
			m = ui.MarkFail
		}
		note := ""
		if !p.OK {
			note = " — NOT as declared"
		}
		fmt.Fprintf(u.Out, "%s %s %s%s\n", u.Mark(m), can, p.Probe, note)
	}
	for _, r := range rep.Undeclared {
		fmt.Fprintf(u.Out, "%s undeclared permission: %s\n", u.Mark(ui.MarkFail), r)
	}
	if rep.Passed {
		fmt.Fprintf(u.Out, "\n%s the agent can do exactly what lab declares\n", u.Mark(ui.MarkOK))
	} else {
		fmt.Fprintf(u.Out, "\n%s the agent's permissions differ from what lab declares (look for bindings to %s)\n", u.Mark(ui.MarkFail), rep.User)
	}
}

func newAPF(g *globals, kubeconfig *string) *cobra.Command {
	var dryRun bool
	var output string
	c := &cobra.Command{
		Use:   "apf",
		Short: "Apply the agent's FlowSchema and PriorityLevelConfiguration (API Priority and Fairness)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return applyParts(g, *kubeconfig, dryRun || output == "yaml", output, func(*deployCtx) []deploy.Part { return []deploy.Part{deploy.APF} })
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "server-side dry run: change nothing")
	c.Flags().StringVarP(&output, "output", "o", "", "yaml: print the objects instead of applying")
	var statusOut string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's priority level: seats, queued and rejected requests (API server metrics)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := g.deployCtx(*kubeconfig, false)
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(d.cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := deploy.ReadAPF(ctx, cs)
			if err != nil {
				return err
			}
			if statusOut == "json" {
				return json.NewEncoder(g.ui.Out).Encode(st)
			}
			fmt.Fprintf(g.ui.Out, "FlowSchema %s: Dangling=%s\n", st.FlowSchema, st.Dangling)
			fmt.Fprintf(g.ui.Out, "seats: nominal %.0f, current limit %.0f, executing %.0f\n", st.NominalSeats, st.CurrentSeats, st.ExecutingSeats)
			fmt.Fprintf(g.ui.Out, "requests: %.0f in queue, %.0f dispatched, %.0f rejected %v\n", st.InQueue, st.Dispatched, st.Rejected, st.RejectedByReason)
			if st.Dangling != "False" {
				return fmt.Errorf("the agent's FlowSchema is not in effect (Dangling=%s); run `lab agent apf`", st.Dangling)
			}
			return nil
		},
	}
	status.Flags().StringVarP(&statusOut, "output", "o", "text", "text or json")
	c.AddCommand(status)
	return c
}
