package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
)

func newUp(g *globals) *cobra.Command {
	var o pipeline.Up
	var dryRun bool
	var provider, output string
	c := &cobra.Command{
		Use:   "up",
		Short: "Create or converge the lab: preflight, cluster, nodes, stacks, GitOps, agent (idempotent, resumable)",
		Long: "Runs lab's steps in order. Each inspects what exists and acts only on the difference, so re-running\n" +
			"on a healthy lab changes nothing, and an interrupted run resumes where it stopped. A lab.yaml that\n" +
			"changes the cluster shows the diff and needs --force. --dry-run only reads: the host and the cluster\n" +
			"are left exactly as they were.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			if provider != "" {
				l.Cluster.Provider = provider
				if errs := config.Validate(l); len(errs) > 0 {
					return fmt.Errorf("--provider %s: %v", provider, errs[0])
				}
			}
			o.Lab, o.ConfigPath, o.UI = l, g.configPath, g.ui
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			switch {
			case dryRun && output == "yaml":
				return o.Render(g.ui.Out)
			case dryRun:
				return o.Plan(ctx, g.ui.Out)
			}
			res, err := o.Run(ctx)
			if err == nil {
				fmt.Fprintf(g.ui.Out, "export KUBECONFIG=%s\n", res.Kubeconfig)
			}
			return err
		},
	}
	f := c.Flags()
	f.BoolVar(&o.Force, "force", false, "apply cluster changes that alter or recreate the cluster")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan: what each step would do, change nothing")
	f.BoolVar(&o.Retain, "retain", false, "keep a cluster whose creation failed, for inspection (kwok labs are always kept)")
	f.BoolVar(&o.Offline, "offline", false, "air-gapped host: do not probe chart repositories")
	f.StringVar(&o.Bundle, "bundle", "", "install the stacks from this `lab bundle` archive (digests verified; nothing is fetched)")
	f.StringVar(&provider, "provider", "", "override cluster.provider (kind, k3s, kwok, existing)")
	f.StringVarP(&output, "output", "o", "", "with --dry-run: yaml renders every manifest that would be applied")
	return c
}
