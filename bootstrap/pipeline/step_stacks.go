package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

// stacksReadyTimeout bounds the wait for the stacks' pods after the
// releases are in place (each release's own --wait has its own timeout).
const stacksReadyTimeout = 5 * time.Minute

// stacks installs or upgrades the enabled stacks' Helm releases (parallel by
// dependency), loads a bundle's images first and imports its model after.
var stacksStep = Step{Name: "stacks", Inspect: inspectStacks, Apply: applyStacks}

func inspectStacks(ctx context.Context, c *Context) (bool, string, error) {
	in, plans, m, pending, err := c.stackPlans(false)
	if err != nil || pending != "" {
		return false, pending, err
	}
	if len(plans) == 0 {
		return true, "no stacks enabled", nil
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
	if why := c.stacksNotReady(ctx, plans); why != "" {
		return false, why, nil
	}
	if pending, why := c.modelPending(m); pending {
		return false, why, nil
	}
	return true, fmt.Sprintf("%d releases deployed as specified", n), nil
}

// stacksNotReady names the first unready pod of the stacks' namespaces where
// pods really run (after a host restart a release is deployed, its pods are
// not back yet); "" when all are Ready.
func (c *Context) stacksNotReady(ctx context.Context, plans []stacks.Plan) string {
	if c.Provider.Capabilities().SimulatedNodes {
		return ""
	}
	cs, err := c.client()
	if err != nil {
		return err.Error()
	}
	seen := map[string]bool{}
	for _, p := range plans {
		for _, r := range p.Releases {
			if seen[r.Namespace] {
				continue
			}
			seen[r.Namespace] = true
			if bad := stacks.NotReady(ctx, cs, r.Namespace); len(bad) > 0 {
				return fmt.Sprintf("%d pod(s) not Ready in %s: %s", len(bad), r.Namespace, bad[0])
			}
		}
	}
	return ""
}

func applyStacks(ctx context.Context, c *Context) (string, error) {
	in, plans, _, _, err := c.stackPlans(true)
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
		_, err = waitUntil(ctx, stacksReadyTimeout, "stacks", func(ctx context.Context) (bool, string, error) {
			why := c.stacksNotReady(ctx, plans)
			return why == "", why, nil
		})
	}
	if err == nil {
		err = c.importModel(ctx)
	}
	return fmt.Sprintf("%d stacks", len(results)), err
}

// stackPlans builds the Helm installer and the plans of the enabled stacks,
// and returns the bundle's manifest when installing from one. With write
// set (Apply) it makes what the plans need: Linkerd's trust anchor and
// issuer, the extracted and verified bundle. Without it (Inspect, the dry
// run) it creates nothing: pending says what is still to be made.
func (c *Context) stackPlans(write bool) (in *stacks.Installer, plans []stacks.Plan, m *stacks.BundleManifest, pending string, err error) {
	if len(stacks.Enabled(c.Lab)) == 0 {
		return nil, nil, nil, "", nil
	}
	cs, err := c.client()
	if err != nil {
		return nil, nil, nil, "", err
	}
	env := stacks.Env{Lab: c.Lab, Model: c.Model, GPU: c.Lab.Cluster.GPUWorkers > 0}
	if env.Model == "" {
		env.Model = Model(c.Lab, nil)
	}
	certDir := filepath.Join(c.Dir, "certs")
	if c.Lab.Stacks.Linkerd.IsEnabled() {
		if write {
			env.Certs, err = certs.Ensure(certDir)
		} else if env.Certs, err = certs.Load(certDir); errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, "Linkerd's trust anchor and issuer are not made yet", nil
		}
		if err != nil {
			return nil, nil, nil, "", err
		}
	}
	dir := filepath.Join(c.Dir, "bundle")
	if c.Bundle != "" {
		switch {
		case c.bundle != nil:
		case write: // extract and verify once per run: a model is gigabytes
			if c.bundle, err = stacks.OpenBundle(c.Bundle, dir, c.BundleDigest); err != nil {
				return nil, nil, nil, "", err
			}
		default:
			if m, err = readExtracted(dir); err != nil {
				return nil, nil, nil, "bundle " + c.Bundle + " not opened yet", nil
			}
		}
		if c.bundle != nil {
			m = c.bundle
		}
	} else if prev, err := readExtracted(dir); err == nil {
		// A lab made with `up --bundle` stays offline: a later plain `up`
		// (after a restart, say) installs from the bundle it extracted,
		// never from the network.
		m = prev
		if write {
			c.UI.Progress("  stacks from the bundle an earlier `lab up --bundle` extracted (%s); pass --bundle to use another", dir)
		}
	}
	env.ModelBundled = m != nil && m.Model != nil
	plans, err = stacks.Plans(c.Lab, env)
	if err == nil && m != nil {
		err = stacks.Offline(plans, m, dir)
	}
	in = &stacks.Installer{Helm: stacks.Helm{Kubeconfig: c.Provider.Kubeconfig(), Context: c.Lab.Cluster.Context},
		CacheDir: filepath.Join(c.Dir, "helm"), Client: cs, Log: c.UI}
	return in, plans, m, "", err
}

// readExtracted reads the manifest of a bundle an earlier run extracted and
// verified, without touching it.
func readExtracted(dir string) (*stacks.BundleManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
	if err != nil {
		return nil, err
	}
	var m stacks.BundleManifest
	return &m, json.Unmarshal(b, &m)
}
