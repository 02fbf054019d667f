package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

// Up is `lab up`: its options and Run (converge), Plan (the dry run) and
// Render (every manifest), testable without cobra.
type Up struct {
	Lab        *config.Lab
	ConfigPath string // the lab.yaml it came from, recorded in meta.json
	Force      bool   // apply cluster changes that alter or recreate the cluster
	Retain     bool   // keep a cluster whose creation failed
	Offline    bool   // do not probe chart repositories
	Bundle     string // install the stacks from this archive (implies Offline)
	// BundleDigest pins the bundle's identity (sha256:…, what `lab bundle`
	// printed): any other bundle is refused before it is extracted.
	BundleDigest string
	UI           *ui.UI
}

// context builds the steps' shared context; it writes nothing.
func (u *Up) context() (*Context, error) {
	dir := state.LabDir(u.Lab.Metadata.Name)
	p, err := cluster.New(u.Lab, dir)
	if err != nil {
		return nil, err
	}
	if r, ok := p.(cluster.Retainer); ok {
		r.SetRetain(u.Retain)
	}
	env := DoctorEnv(u.Lab, u.Offline || u.Bundle != "", 5*time.Second)
	if state.HasMeta(dir) { // (a lab not begun: refuseForeignCluster asks about its cluster)
		if ok, err := p.Exists(context.Background()); err == nil && ok {
			env.Made = true // a resume or a no-op: the lab's disk is spent already
		}
	}
	return &Context{Lab: u.Lab, Dir: dir, Provider: p, UI: u.UI, Force: u.Force, Bundle: u.Bundle, BundleDigest: u.BundleDigest,
		Doctor: env, Model: Model(u.Lab, env)}, nil
}

// Run converges the lab: every step inspects, then acts on the difference.
// A failed or killed run leaves the lab resumable; the next Run goes on.
func (u *Up) Run(ctx context.Context) (Result, error) {
	c, err := u.context()
	if err != nil {
		return Result{}, err
	}
	if err := u.refuseForeignCluster(ctx, c); err != nil {
		return Result{}, err
	}
	if err := state.EnsureMeta(c.Dir, state.Meta{Name: u.Lab.Metadata.Name, Provider: u.Lab.Cluster.Provider, Created: time.Now().UTC(), Config: u.ConfigPath}); err != nil {
		return Result{}, err
	}
	u.UI.Progress("lab %s (%s), state in %s", u.Lab.Metadata.Name, u.Lab.Cluster.Provider, c.Dir)
	res, err := Run(ctx, c, UpSteps())
	if err != nil {
		if logs, _ := filepath.Glob(filepath.Join(c.Dir, "*", "*.log")); len(logs) > 0 {
			u.UI.Progress("component logs: %s", filepath.Dir(logs[0]))
		}
		u.UI.Progress("the lab is kept as it is (re-run `lab up` to resume, `lab down` to remove it)")
		return res, err
	}
	if len(res.Changed) == 0 {
		u.UI.Progress("lab %s is up to date: nothing changed", u.Lab.Metadata.Name)
	} else {
		u.UI.Progress("lab %s is ready", u.Lab.Metadata.Name)
	}
	res.Kubeconfig = c.Provider.Kubeconfig()
	return res, nil
}

// refuseForeignCluster stops a first up whose cluster already exists: a
// kind or k3s cluster is named on the host's container engine, not in lab's
// state home, so a cluster left by another state home (another LAB_HOME, a
// CI job killed mid-test, `kind create cluster --name` by hand) would
// otherwise be adopted, with whatever runs in it, as if this lab had made
// it. The existing provider adopts by design; a lab that has begun (its
// meta.json is there) resumes its own cluster.
func (u *Up) refuseForeignCluster(ctx context.Context, c *Context) error {
	if u.Lab.Cluster.Provider == "existing" || state.HasMeta(c.Dir) {
		return nil
	}
	ok, err := c.Provider.Exists(ctx)
	if err != nil || !ok {
		return nil // the cluster step reports an engine that cannot be asked
	}
	name := u.Lab.Metadata.Name
	return fmt.Errorf("a %s cluster named %q already exists, and this lab's state (%s) did not make it: lab will not adopt it. "+
		"Delete it (%s), give this lab another metadata.name in lab.yaml, or use it as it is with cluster.provider: existing",
		c.Provider.Name(), name, c.Dir, deleteHint(c.Provider.Name(), name))
}

func deleteHint(provider, name string) string {
	switch provider {
	case "kind":
		return "kind delete cluster --name " + name
	case "k3s":
		return "k3d cluster delete " + name // lab's k3s nodes are k3d's
	}
	return "with the tool that made it"
}

// Plan writes what each step would do to w. Nothing on the host or in the
// cluster changes: every Inspect only reads.
func (u *Up) Plan(ctx context.Context, w io.Writer) error {
	c, err := u.context()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "plan for lab %s (%s):\n", u.Lab.Metadata.Name, u.Lab.Cluster.Provider)
	for _, s := range UpSteps() {
		done, why, err := s.Inspect(ctx, c)
		switch {
		case err != nil:
			fmt.Fprintf(w, "  %-10s would run (cannot inspect yet: %v)\n", s.Name, err)
		case done:
			fmt.Fprintf(w, "  %-10s nothing to do (%s)\n", s.Name, why)
		default:
			if why == "" {
				why = "out of date"
			}
			fmt.Fprintf(w, "  %-10s would run (%s)\n", s.Name, why)
		}
	}
	return nil
}

// Render writes every manifest `lab up` would apply: the stacks' charts
// rendered client-side, then the agent's objects. Linkerd's certificates
// are the lab's own when made, else throwaway ones (nothing is written).
func (u *Up) Render(w io.Writer) error {
	c, err := u.context()
	if err != nil {
		return err
	}
	env := stacks.Env{Lab: u.Lab, Model: c.Model, GPU: u.Lab.Cluster.GPUWorkers > 0}
	if u.Lab.Stacks.Linkerd.IsEnabled() {
		if env.Certs, err = certs.Load(filepath.Join(c.Dir, "certs")); err != nil {
			if env.Certs, err = certs.Ephemeral(); err != nil {
				return err
			}
		}
	}
	plans, err := stacks.Plans(u.Lab, env)
	if err != nil {
		return err
	}
	// The charts are fetched into a throwaway cache: a dry run writes nothing
	// into the lab's folder.
	cache, err := os.MkdirTemp("", "lab-render-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	in := &stacks.Installer{CacheDir: cache}
	for _, p := range plans {
		for _, r := range p.Releases {
			m, err := in.Render(r)
			if err != nil {
				return err
			}
			fmt.Fprint(w, m)
		}
	}
	objs, err := deploy.Render(u.Lab, deploy.Parts(u.Lab)...)
	if err != nil {
		return err
	}
	fmt.Fprint(w, "# the agent\n"+deploy.YAML(objs))
	return nil
}
