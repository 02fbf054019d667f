package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newGitOps(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "gitops", Short: "Argo CD: the lab's GitOps repository, Applications, drift"}
	kubeFlags(c.PersistentFlags(), &g.action)
	in := action.GitOpsInit{Config: &g.action}
	initCmd := command("init DIR", "Write the lab's GitOps content (child Applications, demo app, agent objects) as a ready-to-push repository", cobra.ExactArgs(1), func(args []string) error { return g.run(func() error { return in.Run(args[0]) }) })
	initCmd.Flags().StringVar(&in.RepoURL, "repo-url", "", "URL Argo CD clones this repository from")
	df := action.GitOpsDiff{Config: &g.action}
	diff := command("diff", "Show what is out of sync with git (and not healthy), per Application; exit 1 on drift", cobra.NoArgs, func([]string) error { return g.run(df.Run) })
	outputFlag(diff, &df.Output, ui.Text, "", ui.Text, ui.JSON)
	sy := action.GitOpsSync{Config: &g.action}
	sync := command("sync APP", "Ask Argo CD to refresh and sync an Application now", cobra.ExactArgs(1), func(args []string) error { return g.run(func() error { return sy.Run(args[0]) }) })
	sync.Flags().BoolVar(&sy.Hard, "hard", false, "hard refresh (bypass Argo CD's manifest cache)")
	sv := action.GitOpsServe{Config: &g.action}
	serve := command("serve REPO", "Serve the git repository REPO (that one only) read-only over HTTP for an offline lab's Argo CD", cobra.ExactArgs(1), func(args []string) error { return g.bare(func() error { return sv.Run(args[0]) }) })
	serve.Flags().StringVar(&sv.Listen, "listen", "127.0.0.1:8418", "address; use the container bridge address for kind nodes (lab up does this itself for a local gitops.repo)")
	serve.Flags().StringVar(&sv.URLFile, "url-file", "", "write the served URL into this file once listening")
	c.AddCommand(initCmd, diff, sync, serve)
	return c
}
