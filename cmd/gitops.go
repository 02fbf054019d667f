package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/gitops"
)

func newGitOps(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "gitops", Short: "Argo CD: the lab's GitOps repository, Applications, drift"}
	var kubeconfig string
	c.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig to use instead of the lab's")
	var repoURL string
	initCmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Write the lab's GitOps content (child Applications, demo app, agent objects) as a ready-to-push repository",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			url := repoURL
			if url == "" {
				url = l.GitOps.Repo
			}
			if url == "" {
				return fmt.Errorf("--repo-url (or gitops.repo in lab.yaml) is required: the URL Argo CD will clone")
			}
			written, err := pipeline.InitGitOpsRepo(args[0], l, url)
			for _, f := range written {
				fmt.Fprintln(g.ui.Out, filepath.Join(args[0], f))
			}
			return err
		},
	}
	initCmd.Flags().StringVar(&repoURL, "repo-url", "", "URL Argo CD clones this repository from")
	var output string
	apps := func(do func(dyn dynamic.Interface, sts []gitops.AppStatus) error) error {
		d, err := g.deployCtx(kubeconfig, false)
		if err != nil {
			return err
		}
		dyn, err := dynamic.NewForConfig(d.cfg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sts, err := gitops.List(ctx, dyn, gitops.Namespace)
		if err != nil {
			return fmt.Errorf("reading Argo CD Applications: %w", err)
		}
		return do(dyn, sts)
	}
	diff := &cobra.Command{
		Use:   "diff",
		Short: "Show what is out of sync with git (and not healthy), per Application; exit 1 on drift",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return apps(func(_ dynamic.Interface, sts []gitops.AppStatus) error {
				drift := false
				if output == "json" {
					json.NewEncoder(g.ui.Out).Encode(sts)
				}
				for _, s := range sts {
					drift = drift || !s.Ready()
					if output != "json" {
						m := ui.MarkOK
						if !s.Ready() {
							m = ui.MarkFail
						}
						fmt.Fprintf(g.ui.Out, "%s %s\n", g.ui.Mark(m), s.Explain())
					}
				}
				if drift {
					return errSilent
				}
				return nil
			})
		},
	}
	diff.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	var hard bool
	sync := &cobra.Command{
		Use:   "sync APP",
		Short: "Ask Argo CD to refresh and sync an Application now",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return apps(func(dyn dynamic.Interface, _ []gitops.AppStatus) error {
				ctx := context.Background()
				if err := gitops.Refresh(ctx, dyn, gitops.Namespace, args[0], hard); err != nil {
					return err
				}
				return gitops.Sync(ctx, dyn, gitops.Namespace, args[0], "", true)
			})
		},
	}
	sync.Flags().BoolVar(&hard, "hard", false, "hard refresh (bypass Argo CD's manifest cache)")
	var listen, urlFile string
	serve := &cobra.Command{
		Use:   "serve DIR",
		Short: "Serve the git repositories under DIR read-only over HTTP for an offline lab's Argo CD",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			srv, err := gitops.ServeGit(args[0], listen)
			if err != nil {
				return err
			}
			if urlFile != "" { // how `lab up` learns the port it got
				if err := state.WriteFile(urlFile, []byte(srv.URL+"\n"), 0o600); err != nil {
					return err
				}
			}
			g.ui.Progress("serving %s at %s (clone %s)", args[0], srv.URL, srv.RepoURL("<name>"))
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return srv.Close()
		},
	}
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:8418", "address; use the container bridge address for kind nodes (lab up does this itself for a local gitops.repo)")
	serve.Flags().StringVar(&urlFile, "url-file", "", "write the served URL into this file once listening")
	c.AddCommand(initCmd, diff, sync, serve)
	return c
}
