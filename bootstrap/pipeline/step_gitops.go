package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
		root, err := c.rootApp()
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
		root, err := c.rootApp()
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

// rootApp renders the root Application; with no gitops.repo the lab's own
// content must be pushed somewhere first (lab gitops init).
func (c *Context) rootApp() (*unstructured.Unstructured, error) {
	repo := c.Lab.GitOps.Repo
	if repo == "" {
		return nil, fmt.Errorf("gitops.repo is empty: write the lab's repository with `lab gitops init DIR`, push it (or serve it with `lab gitops serve`) and set gitops.repo")
	}
	if fi, err := os.Stat(repo); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("gitops.repo %s is a local directory: serve it with `lab gitops serve %s` and set gitops.repo to the URL it prints", repo, filepath.Dir(repo))
	}
	return gitops.Root(gitops.ParamsFor(c.Lab, repo))
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
