package pipeline

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"lab.dev/lab/core/kube"
	"lab.dev/lab/gitops"
)

// gitops hands the lab to Argo CD: the root Application (app-of-apps), then
// waits for it to be Synced and Healthy where pods really run.
var gitopsStep = Step{Name: "gitops",
	Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
		if !c.gitopsOn() {
			return true, "gitops off (needs stacks.argocd and gitops.enabled)", nil
		}
		url := c.Lab.GitOps.Repo
		if repo, own := c.clusterRepo(); repo != "" {
			if url = c.servedRepoURL(ctx, repo); url == "" {
				if own {
					return false, "the lab's own GitOps repository not written and served yet", nil
				}
				return false, "local repository " + repo + " not served to the cluster yet", nil
			}
		}
		root, err := c.rootApp(url)
		if err != nil {
			return false, "", err
		}
		res, err := c.applyObjects(ctx, true, root)
		if err != nil || res[0].Action != "unchanged" {
			return false, "root Application out of date", err
		}
		return true, "root Application " + gitops.RootName + " up to date", nil
	},
	Apply: func(ctx context.Context, c *Context) (string, error) {
		url := c.Lab.GitOps.Repo
		if repo, own := c.clusterRepo(); repo != "" {
			if own {
				if err := ensureOwnRepo(repo); err != nil {
					return "", fmt.Errorf("the lab's own GitOps repository: %w", err)
				}
			}
			var err error
			if url, err = c.serveRepo(ctx, repo); err != nil {
				return "", err
			}
			if own {
				msg, err := c.writeOwnRepo(repo, url)
				if err != nil {
					return "", fmt.Errorf("the lab's own GitOps repository: %w", err)
				}
				if msg != "" {
					c.UI.Progress("  gitops: %s (%s)", msg, repo)
				}
			}
			c.UI.Progress("  gitops: %s served read-only to the cluster at %s", repo, url)
		}
		root, err := c.rootApp(url)
		if err != nil {
			return "", err
		}
		if _, err := c.applyObjects(ctx, false, root); err != nil {
			return "", err
		}
		if c.Provider.Capabilities().SimulatedNodes {
			return "root Application created (simulated nodes: Argo CD does not reconcile, not waiting)", nil
		}
		cfg, err := c.Provider.RESTConfig()
		if err != nil {
			return "", err
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return "", err
		}
		wctx, cancel := context.WithTimeout(ctx, c.Lab.Stacks.ArgoCD.Timeout)
		defer cancel()
		if _, err := gitops.Wait(wctx, dyn, gitops.Namespace, []string{gitops.RootName}, 3*time.Second); err != nil {
			return "", err
		}
		return "root Application Synced and Healthy", nil
	}}

func (c *Context) gitopsOn() bool {
	return c.Lab.Stacks.ArgoCD.IsEnabled() && c.Lab.GitOps.Enabled
}

// rootApp renders the root Application for the repository at url; with no
// gitops.repo the lab's own content must be written somewhere first (lab
// gitops init).
func (c *Context) rootApp(url string) (*unstructured.Unstructured, error) {
	if url == "" {
		return nil, fmt.Errorf("no GitOps repository URL (gitops.repo is empty and the lab's own repository is not served)")
	}
	if fi, err := os.Stat(url); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("gitops.repo %s is a local directory, which the %s provider's cluster cannot reach: push it and set gitops.repo to its URL", url, c.Provider.Name())
	}
	return gitops.Root(gitops.ParamsFor(c.Lab, url))
}

func (c *Context) applyObjects(ctx context.Context, dryRun bool, objs ...*unstructured.Unstructured) ([]kube.Result, error) {
	a, err := c.applier(dryRun)
	if err != nil {
		return nil, err
	}
	return a.Apply(ctx, objs)
}

// applier server-side applies to the lab's cluster (or only dry-runs).
func (c *Context) applier(dryRun bool) (*kube.Applier, error) {
	cfg, err := c.Provider.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kube.NewApplier(cfg, dryRun)
}
