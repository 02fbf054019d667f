package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"

	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/gitops"
)

// GitOpsInit is `lab gitops init DIR`: the lab's GitOps repository layout.
type GitOpsInit struct {
	*Config
	RepoURL string // the URL Argo CD clones; default gitops.repo
}

// Run writes the repository into dir and lists the files.
func (g *GitOpsInit) Run(dir string) error {
	url := g.RepoURL
	if url == "" {
		url = g.Lab.GitOps.Repo
	}
	if url == "" {
		return errors.New("--repo-url (or gitops.repo in lab.yaml) is required: the URL Argo CD will clone")
	}
	written, err := pipeline.InitGitOpsRepo(dir, g.Lab, url)
	for _, f := range written {
		fmt.Fprintln(g.UI.Out, filepath.Join(dir, f))
	}
	return err
}

// apps reads Argo CD's Applications and hands them to do.
func (c *Config) apps(do func(ctx context.Context, dyn dynamic.Interface, sts []gitops.AppStatus) error) error {
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sts, err := gitops.List(ctx, dyn, gitops.Namespace)
	if err != nil {
		return fmt.Errorf("reading Argo CD Applications: %w", err)
	}
	return do(ctx, dyn, sts)
}

// GitOpsDiff is `lab gitops diff`: what is out of sync, per Application.
type GitOpsDiff struct {
	*Config
	Output ui.Format
}

// Run prints each Application; ui.ErrReported on drift.
func (g *GitOpsDiff) Run() error {
	return g.apps(func(_ context.Context, _ dynamic.Interface, sts []gitops.AppStatus) error {
		drift := false
		for _, s := range sts {
			drift = drift || !s.Ready()
		}
		if g.Output == ui.JSON {
			if sts == nil {
				sts = []gitops.AppStatus{}
			}
			if err := ui.Encode(g.UI.Out, g.Output, sts); err != nil {
				return err
			}
		} else {
			for _, s := range sts {
				m := ui.MarkOK
				if !s.Ready() {
					m = ui.MarkFail
				}
				fmt.Fprintf(g.UI.Out, "%s %s\n", g.UI.Mark(m), s.Explain())
			}
		}
		if drift {
			return ui.ErrReported
		}
		return nil
	})
}

// GitOpsSync is `lab gitops sync APP`: refresh and sync now.
type GitOpsSync struct {
	*Config
	Hard bool // bypass Argo CD's manifest cache
}

// Run refreshes and syncs app.
func (g *GitOpsSync) Run(app string) error {
	return g.apps(func(ctx context.Context, dyn dynamic.Interface, _ []gitops.AppStatus) error {
		if err := gitops.Refresh(ctx, dyn, gitops.Namespace, app, g.Hard); err != nil {
			return err
		}
		return gitops.Sync(ctx, dyn, gitops.Namespace, app, "", true)
	})
}

// GitOpsServe is `lab gitops serve REPO`: the read-only git server of one
// repository.
type GitOpsServe struct {
	*Config
	Listen, URLFile string
}

// Run serves dir until SIGINT/SIGTERM.
func (g *GitOpsServe) Run(dir string) error {
	srv, err := gitops.ServeGit(dir, g.Listen)
	if err != nil {
		return err
	}
	if g.URLFile != "" { // how `lab up` learns the port it got
		if err := state.WriteFile(g.URLFile, []byte(srv.URL+"\n"), 0o600); err != nil {
			return err
		}
	}
	g.UI.Progress("serving %s at %s (clone %s)", dir, srv.URL, srv.RepoURL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return srv.Close()
}
