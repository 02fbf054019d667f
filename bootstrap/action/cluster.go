package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks/certs"
)

// Up is `lab up`: pipeline.Up with the command line's overrides.
type Up struct {
	*Config
	pipeline.Up
	DryRun   bool
	Provider string    // overrides cluster.provider
	Output   ui.Format // with DryRun: yaml renders every manifest
}

var bundleDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Run plans, renders or runs the pipeline (SIGINT/SIGTERM stop it at a
// resumable point) and prints the kubeconfig line.
func (u *Up) Run() error {
	if d := u.BundleDigest; d != "" && !bundleDigest.MatchString(d) {
		return fmt.Errorf("--bundle-digest %q: want sha256: and 64 lower-case hex digits, as `lab bundle` prints it", d)
	}
	if u.BundleDigest != "" && u.Bundle == "" {
		return errors.New("--bundle-digest pins the archive --bundle names: give both")
	}
	l, out := u.Config.Lab, u.Config.UI.Out
	if u.Provider != "" {
		l.Cluster.Provider = u.Provider
		if errs := config.Validate(l); len(errs) > 0 {
			return fmt.Errorf("--provider %s: %v", u.Provider, errs[0])
		}
	}
	u.Up.Lab, u.Up.UI = l, u.Config.UI
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case u.DryRun && u.Output == ui.YAML:
		return u.Render(out)
	case u.DryRun:
		return u.Plan(ctx, out)
	}
	res, err := u.Up.Run(ctx)
	if err == nil {
		fmt.Fprintf(out, "export KUBECONFIG=%s\n", res.Kubeconfig)
	}
	return err
}

// Down is `lab down`.
type Down struct {
	*Config
	pipeline.Down
}

// Run deletes the lab (or, with All, every lab on the host).
func (d *Down) Run() error {
	d.Log = d.Config.UI
	if !d.All {
		d.Down.Lab = d.Config.Lab
	}
	return d.Down.Run(context.Background())
}

// ClusterOnly is the hidden `lab cluster create|delete|config`: the cluster
// alone, as the Terraform module lab renders runs it.
type ClusterOnly struct{ *Config }

// Run creates or deletes the cluster, ignoring cluster.provisioner.
func (c *ClusterOnly) Run(verb string) error {
	c.Lab.Cluster.Provisioner = ""
	p, err := cluster.New(c.Lab, c.Dir())
	if err != nil {
		return err
	}
	if verb == "delete" {
		return p.Delete(context.Background())
	}
	c.UI.Progress("creating the %s cluster of lab %s", p.Name(), c.Lab.Metadata.Name)
	return p.Create(context.Background())
}

// Native prints the provider's own cluster config for this host.
func (c *ClusterOnly) Native() error {
	out, err := cluster.NativeConfig(c.Lab, engine.ReadNodeHost())
	if err != nil {
		return err
	}
	_, err = c.UI.Out.Write(out)
	return err
}

// Break is `lab break`: a failure scenario applied to a kwok lab.
type Break struct {
	*Config
	Namespace string
}

// Run lists the scenarios (name "") or applies one.
func (b *Break) Run(name string) error {
	all, err := kwok.EmbeddedScenarios()
	if err != nil {
		return err
	}
	if name == "" {
		names := make([]string, 0, len(all))
		for n := range all {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(b.UI.Out, "%-30s %s\n", n, all[n].Expect.Category)
		}
		return nil
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("no scenario %q; `lab break` lists them", name)
	}
	if !b.Lab.Cluster.Capabilities().SimulatedNodes {
		return fmt.Errorf("lab break drives pods through kwok's stages: it needs cluster.provider kwok (this lab is %s)", b.Lab.Cluster.Provider)
	}
	p, err := cluster.New(b.Lab, b.Dir())
	if err != nil {
		return err
	}
	cfg, err := p.RESTConfig()
	if err != nil {
		return fmt.Errorf("no running lab %s: run `lab up` first: %w", b.Lab.Metadata.Name, err)
	}
	cl, err := kwok.Attach(filepath.Join(b.Dir(), "kwok"), cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := cl.Apply(ctx, s, b.Namespace)
	if err != nil {
		return err
	}
	b.UI.Progress("broke %s: %s", s.Name, s.Description)
	for _, p := range pods {
		fmt.Fprintf(b.UI.Out, "lab diagnose %s -n %s\n", p.Name, b.Namespace)
	}
	return nil
}

// Certs is `lab certs status|rotate`: Linkerd's trust anchor and issuer.
type Certs struct {
	*Config
	Output ui.Format
}

func (c *Certs) dir() string { return filepath.Join(c.Dir(), "certs") }

// Status prints the anchor's and issuer's expiry (creating them if absent).
func (c *Certs) Status() error {
	set, err := certs.Ensure(c.dir())
	if err != nil {
		return err
	}
	st := set.Statuses(time.Now())
	if c.Output == ui.JSON {
		return ui.Encode(c.UI.Out, c.Output, st)
	}
	for _, s := range st {
		m := ui.MarkOK
		if s.Warn {
			m = ui.MarkWarn
		}
		fmt.Fprintf(c.UI.Out, "%s %-12s %s expires %s (%d days)\n", c.UI.Mark(m), s.Name, s.Subject, s.NotAfter.Format("2006-01-02"), int(s.Remaining.Hours()/24))
	}
	fmt.Fprintf(c.UI.Out, "files: %s (the anchor key never leaves this folder)\n", c.dir())
	return nil
}

// Rotate issues a new issuer under the same anchor.
func (c *Certs) Rotate() error {
	if _, err := certs.Ensure(c.dir()); err != nil {
		return err
	}
	if err := certs.Rotate(c.dir()); err != nil {
		return err
	}
	set, err := certs.Load(c.dir())
	if err != nil {
		return err
	}
	c.UI.Progress("%s new issuer valid until %s; run `lab up` to roll it out to Linkerd", c.UI.Mark(ui.MarkOK), set.Issuer.NotAfter.Format("2006-01-02"))
	return nil
}
