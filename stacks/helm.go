package stacks

import (
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"lab.dev/lab/core/ui"
)

// Helm builds Helm SDK action configurations for the lab's kubeconfig: the one
// way lab talks to Helm (install, upgrade, rollback, list).
type Helm struct {
	Kubeconfig string
	Context    string
	Log        ui.Logger // Helm's own messages, at -vv
}

// Config returns an action.Configuration for namespace ("" = all, for list)
// using Helm's default Secret storage driver.
func (h Helm) Config(namespace string) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &h.Kubeconfig
	if h.Context != "" {
		flags.Context = &h.Context
	}
	flags.Namespace = &namespace
	l := ui.Or(h.Log)
	log := func(format string, v ...any) { l.Debug(2, format, v...) }
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", log); err != nil {
		return nil, fmt.Errorf("initialising Helm for %s: %w", h.Kubeconfig, err)
	}
	return cfg, nil
}

// ReleaseStatus is one Helm release as `lab status` shows it.
type ReleaseStatus struct {
	Name      string    `json:"name"`
	Namespace string    `json:"namespace"`
	Chart     string    `json:"chart"`
	Version   string    `json:"version"`
	Revision  int       `json:"revision"`
	Status    string    `json:"status"`
	Updated   time.Time `json:"updated"`
}

// Deployed reports whether the release is in a healthy terminal state.
func (r ReleaseStatus) Deployed() bool { return r.Status == release.StatusDeployed.String() }

// Releases lists every release in every namespace (all states, pending and
// failed included, so status can show a stuck install).
func (h Helm) Releases() ([]ReleaseStatus, error) {
	cfg, err := h.Config("")
	if err != nil {
		return nil, err
	}
	list := action.NewList(cfg)
	list.AllNamespaces = true
	list.All = true
	list.StateMask = action.ListAll
	rels, err := list.Run()
	if err != nil {
		return nil, fmt.Errorf("listing Helm releases: %w", err)
	}
	out := make([]ReleaseStatus, 0, len(rels))
	for _, r := range rels {
		rel := ReleaseStatus{Name: r.Name, Namespace: r.Namespace, Revision: r.Version}
		if r.Chart != nil && r.Chart.Metadata != nil {
			rel.Chart, rel.Version = r.Chart.Metadata.Name, r.Chart.Metadata.Version
		}
		if r.Info != nil {
			rel.Status, rel.Updated = r.Info.Status.String(), r.Info.LastDeployed.Time
		}
		out = append(out, rel)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out, nil
}
