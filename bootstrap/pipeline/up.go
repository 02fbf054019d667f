package pipeline

import (
	"context"
	"errors"
	"fmt"
	"lab.dev/lab/core/kube"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/gitops"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

// Preflight supplies the doctor environment for the preflight step.
type Preflight func(c *Context) *doctor.Env

// UpSteps are the steps of `lab up`, in order. Stacks, GitOps and the agent
// join this list as they are built.
func UpSteps(preflight Preflight) []Step {
	return []Step{
		{Name: "preflight", Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
			rep := doctor.Run(ctx, preflight(c), doctor.Checks(), 10*time.Second)
			if !rep.Passed {
				return false, "", nil
			}
			return true, fmt.Sprintf("no fatal check failed, %d warning(s); see `lab doctor`", rep.Warnings), nil
		}, Apply: func(ctx context.Context, c *Context) (string, error) {
			rep := doctor.Run(ctx, preflight(c), doctor.Checks(), 10*time.Second)
			var failed []string
			for _, o := range rep.Outcomes {
				if o.Status == doctor.Fail {
					failed = append(failed, fmt.Sprintf("%s: %s (hint: %s)", o.Description, o.Message, o.Hint))
				}
			}
			if len(failed) > 0 {
				return "", fmt.Errorf("preflight failed (see `lab doctor`):\n  %s", strings.Join(failed, "\n  "))
			}
			return "passed", nil
		}},
		{Name: "spec", Inspect: inspectSpec, Apply: applySpec},
		{Name: "cluster", Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
			ok, why := c.Provider.Healthy(ctx)
			return ok, why, nil
		}, Apply: func(ctx context.Context, c *Context) (string, error) {
			existed, _ := c.Provider.Exists(ctx)
			if err := c.Provider.Create(ctx); err != nil {
				return "", err
			}
			if existed {
				return "resumed " + c.Provider.Name() + " cluster", nil
			}
			return "created " + c.Provider.Name() + " cluster", nil
		}},
		{Name: "nodes", Inspect: inspectNodes, Apply: func(ctx context.Context, c *Context) (string, error) {
			if err := c.Provider.EnsureNodes(ctx); err != nil {
				return "", err
			}
			return fmt.Sprintf("%d nodes Ready", c.Lab.Cluster.ControlPlanes+c.Lab.Cluster.Workers+c.Lab.Cluster.GPUWorkers), nil
		}},
		{Name: "stacks", Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
			in, plans, err := c.stackPlans()
			if err != nil || len(plans) == 0 {
				return err == nil, "no stacks enabled", err
			}
			n := 0
			for _, p := range plans {
				for _, r := range p.Releases {
					ok, why, err := in.UpToDate(r)
					if err != nil || !ok {
						return false, why, err
					}
					n++
				}
			}
			if pending, why := c.modelPending(); pending {
				return false, why, nil
			}
			return true, fmt.Sprintf("%d releases deployed as specified", n), nil
		}, Apply: func(ctx context.Context, c *Context) (string, error) {
			in, plans, err := c.stackPlans()
			if err == nil {
				err = c.loadImages(ctx)
			}
			if err != nil {
				return "", err
			}
			results, err := in.InstallAll(ctx, plans, true, func(r stacks.Result) {
				for _, o := range r.Outcomes {
					c.UI.Progress("  %s: %s (revision %d)", o.Release, o.Action, o.Revision)
					for _, d := range o.Diff {
						c.UI.Progress("    %s", d)
					}
				}
			})
			if err == nil {
				err = c.importModel(ctx)
			}
			return fmt.Sprintf("%d stacks", len(results)), err
		}},
		{Name: "gitops", Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
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
		}, Apply: func(ctx context.Context, c *Context) (string, error) {
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
			wctx, cancel := context.WithTimeout(ctx, c.Lab.Stacks.ArgoCD.Timeout.Duration)
			defer cancel()
			if _, err := gitops.Wait(wctx, dyn, gitops.Namespace, []string{gitops.RootName}, 3*time.Second); err != nil {
				return "", err
			}
			return "root Application Synced and Healthy", nil
		}},
		{Name: "agent", Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
			res, err := c.agentApply(ctx, true)
			if err != nil {
				return false, "", err
			}
			for _, r := range res {
				if r.Action != "unchanged" {
					return false, r.Object + " " + r.Action, nil
				}
			}
			return true, fmt.Sprintf("%d agent objects up to date", len(res)), nil
		}, Apply: func(ctx context.Context, c *Context) (string, error) {
			res, err := c.agentApply(ctx, false)
			if err == nil {
				if ierr := c.LoadAgentImage(ctx); ierr != nil {
					c.UI.Progress("  agent image not loaded: %v", ierr) // the in-cluster modes are optional
				}
			}
			changed := 0
			for _, r := range res {
				if r.Action != "unchanged" {
					changed++
				}
			}
			return fmt.Sprintf("%d of %d agent objects applied (RBAC, APF)", changed, len(res)), err
		}},
		{Name: "record", Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
			cs, err := c.client()
			if err != nil {
				return false, "", err
			}
			got, err := recordedSpec(ctx, cs)
			if err != nil {
				return false, "", err
			}
			host, herr := os.ReadFile(c.Dir + "/" + appliedFile)
			return got == specJSON(c.Lab) && herr == nil && string(host) == got, "applied spec already recorded", nil
		}, Apply: func(ctx context.Context, c *Context) (string, error) {
			cs, err := c.client()
			if err != nil {
				return "", err
			}
			return "ConfigMap " + SpecNamespace + "/" + SpecConfigMap, recordSpec(ctx, cs, c.Dir, c.Lab)
		}},
	}
}

// agentApply server-side applies (or dry-runs) the agent's RBAC and APF objects.
func (c *Context) agentApply(ctx context.Context, dryRun bool) ([]kube.Result, error) {
	cfg, err := c.Provider.RESTConfig()
	if err != nil {
		return nil, err
	}
	a, err := kube.NewApplier(cfg, dryRun)
	if err != nil {
		return nil, err
	}
	if dryRun {
		objs, err := deploy.Render(c.Lab, deploy.Parts(c.Lab)...)
		if err != nil {
			return nil, err
		}
		return a.Apply(ctx, objs)
	}
	return deploy.Install(ctx, a, c.Lab)
}

func (c *Context) gitopsOn() bool {
	return c.Lab.Stacks.ArgoCD.IsEnabled() && c.Lab.GitOps.Enabled != nil && *c.Lab.GitOps.Enabled
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
	cfg, err := c.Provider.RESTConfig()
	if err != nil {
		return nil, err
	}
	a, err := kube.NewApplier(cfg, dryRun)
	if err != nil {
		return nil, err
	}
	return a.Apply(ctx, objs)
}

// stackPlans builds the Helm installer and the plans of the enabled stacks.
func (c *Context) stackPlans() (*stacks.Installer, []stacks.Plan, error) {
	if len(stacks.Enabled(c.Lab)) == 0 {
		return nil, nil, nil
	}
	cs, err := c.client()
	if err != nil {
		return nil, nil, err
	}
	env := stacks.Env{Lab: c.Lab, Model: doctor.ResolveModel(c.Lab, 0), GPU: c.Lab.Cluster.GPUWorkers > 0}
	if c.Model != "" {
		env.Model = c.Model
	}
	if c.Lab.Stacks.Linkerd.IsEnabled() {
		if env.Certs, err = certs.Ensure(filepath.Join(c.Dir, "certs")); err != nil {
			return nil, nil, err
		}
	}
	dir := filepath.Join(c.Dir, "bundle")
	if c.Bundle != "" && c.bundle == nil { // extract and verify once per run: a model is gigabytes
		if c.bundle, err = stacks.OpenBundle(c.Bundle, dir); err != nil {
			return nil, nil, err
		}
	}
	env.ModelBundled = c.bundle != nil && c.bundle.Model != nil
	plans, err := stacks.Plans(c.Lab, env)
	if err == nil && c.bundle != nil {
		err = stacks.Offline(plans, c.bundle, dir)
	}
	in := &stacks.Installer{Helm: stacks.Helm{Kubeconfig: c.Provider.Kubeconfig(), Context: c.Lab.Cluster.Context},
		CacheDir: filepath.Join(c.Dir, "helm"), Client: cs, Log: c.UI}
	return in, plans, err
}

func (c *Context) client() (kubernetes.Interface, error) {
	if c.Client != nil {
		return c.Client, nil
	}
	cfg, err := c.Provider.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err == nil {
		c.Client = cs
	}
	return cs, err
}

func inspectSpec(_ context.Context, c *Context) (bool, string, error) {
	old, err := ReadApplied(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, "new lab", nil
	}
	if err != nil {
		return false, "", err
	}
	if len(ClusterChanges(Diff(old, c.Lab))) == 0 {
		return true, "cluster spec unchanged", nil
	}
	return false, "", nil
}

func applySpec(ctx context.Context, c *Context) (string, error) {
	old, err := ReadApplied(c.Dir)
	if err != nil {
		return "", err
	}
	changes := ClusterChanges(Diff(old, c.Lab))
	lines := make([]string, len(changes))
	for i, ch := range changes {
		lines[i] = "  " + ch.String()
	}
	diff := strings.Join(lines, "\n")
	if !c.Force {
		return "", fmt.Errorf("%w:\n%s", ErrSpecChanged, diff)
	}
	c.UI.Progress("applying with --force:\n%s", diff)
	if NeedsRecreate(c.Provider.Capabilities(), changes) {
		if err := c.Provider.Delete(ctx); err != nil {
			return "", fmt.Errorf("deleting the cluster to recreate it: %w", err)
		}
		_ = os.Remove(c.Dir + "/" + appliedFile)
		return "cluster will be recreated", nil
	}
	return fmt.Sprintf("%d change(s) accepted", len(changes)), nil
}

func inspectNodes(ctx context.Context, c *Context) (bool, string, error) {
	if !c.Provider.Capabilities().OwnsCluster {
		return true, "an existing cluster's nodes are its own", nil
	}
	cs, err := c.client()
	if err != nil {
		return false, "", err
	}
	nodes, err := cluster.Nodes(ctx, cs)
	if err != nil {
		return false, "", err
	}
	if c.Provider.Capabilities().ContainerNodes {
		want := c.Lab.Cluster.ControlPlanes + c.Lab.Cluster.Workers + c.Lab.Cluster.GPUWorkers
		ready := 0
		for _, n := range nodes {
			if n.Ready {
				ready++
			}
		}
		return ready == want && len(nodes) == want, fmt.Sprintf("%d/%d nodes Ready", ready, want), nil
	}
	var want []string
	for _, n := range cluster.KwokNodes(c.Lab) {
		want = append(want, n.Name)
	}
	var have []string
	for _, n := range nodes {
		if !n.Ready {
			return false, n.Name + " not Ready", nil
		}
		have = append(have, n.Name)
	}
	sort.Strings(want)
	sort.Strings(have)
	if strings.Join(want, ",") != strings.Join(have, ",") {
		return false, fmt.Sprintf("nodes %v, want %v", have, want), nil
	}
	return true, fmt.Sprintf("%d nodes Ready", len(have)), nil
}
