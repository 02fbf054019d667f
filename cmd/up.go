package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newUp(g *globals) *cobra.Command {
	o := action.Up{Config: &g.action}
	c := command("up", "Create or converge the lab: preflight, cluster, nodes, stacks, GitOps, agent (idempotent, resumable)", cobra.NoArgs, func([]string) error {
		return g.run(func() error { o.ConfigPath = g.configPath; return o.Run() })
	})
	c.Long = "Runs lab's steps in order. Each inspects what exists and acts only on the difference, so re-running\n" +
		"on a healthy lab changes nothing, and an interrupted run resumes where it stopped. A lab.yaml that\n" +
		"changes the cluster shows the diff and needs --force. --dry-run only reads: the host and the cluster\n" +
		"are left exactly as they were."
	f := c.Flags()
	f.BoolVar(&o.Force, "force", false, "apply cluster changes that alter or recreate the cluster")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the plan: what each step would do, change nothing")
	f.BoolVar(&o.Retain, "retain", false, "keep a cluster whose creation failed, for inspection (kwok labs are always kept)")
	f.BoolVar(&o.Offline, "offline", false, "air-gapped host: do not probe chart repositories")
	f.StringVar(&o.Bundle, "bundle", "", "install the stacks from this `lab bundle` archive (digests verified; nothing is fetched)")
	f.StringVar(&o.BundleDigest, "bundle-digest", "", "refuse any bundle but this one (sha256:…, as `lab bundle` printed it)")
	f.StringVar(&o.Provider, "provider", "", "override cluster.provider (kind, k3s, kwok, existing)")
	outputFlag(c, &o.Output, "", "with --dry-run, yaml renders every manifest that would be applied", ui.YAML)
	return c
}
