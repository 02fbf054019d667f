package doctor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
)

// checkGitOpsRepo: the gitops step will have a repository Argo CD can clone.
// With gitops.repo empty, lab writes and serves the lab's own; a local folder
// is served from this host; both need git and a cluster that reaches the
// host. Anything else would fail only after the cluster and every stack.
func checkGitOpsRepo(_ context.Context, e *Env) Result {
	l := e.Lab
	if !l.Stacks.ArgoCD.IsEnabled() || !l.GitOps.Enabled {
		return skip("gitops off (stacks.argocd and gitops.enabled)")
	}
	repo := l.GitOps.Repo
	if l.GitOps.RemoteRepo() {
		return ok("Argo CD clones %s", repo)
	}
	served := l.Cluster.Capabilities().ServesHostRepo
	what := "the lab's own repository (written and committed by lab up, in the lab's state folder)"
	if repo != "" {
		abs, _ := filepath.Abs(repo)
		if fi, err := os.Stat(repo); err != nil || !fi.IsDir() {
			return fail("gitops.repo %q is neither a URL nor a folder on this host", repo)
		}
		if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
			return fail("gitops.repo %s is a folder but not a git repository (git init, add, commit; or `lab gitops init`)", abs)
		}
		what = "the local repository " + abs
	}
	if !served {
		return fail("%s would be served from this host, which a %s cluster cannot reach: set gitops.repo to a URL it clones", what, l.Cluster.Provider)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return fail("%s needs git on this host (to commit and serve it): install git", what)
	}
	return ok("%s, served read-only to the cluster", what)
}
