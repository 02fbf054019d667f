package pipeline

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/gitops"
	"lab.dev/lab/stacks"
)

// LabStatus is `lab status`, as JSON and as the text Write prints.
type LabStatus struct {
	Name        string                 `json:"name"`
	Provider    string                 `json:"provider"`
	Healthy     bool                   `json:"healthy"`
	Cluster     string                 `json:"cluster"`
	ClusterUp   bool                   `json:"clusterUp"`
	Nodes       []cluster.Node         `json:"nodes"`
	NodesReady  int                    `json:"nodesReady"`
	SpecChanges []Change               `json:"specChanges"`
	Releases    []stacks.ReleaseStatus `json:"releases"`
	Apps        []gitops.AppStatus     `json:"applications,omitempty"`
	Agent       *Component             `json:"agent,omitempty"`
	Model       *Component             `json:"model,omitempty"` // checked where Ollama really runs (not simulated nodes)
	LastUp      Journal                `json:"lastUp"`
	Kubeconfig  string                 `json:"kubeconfig"`
}

// Component is a part of the lab that is ready or says why not.
type Component struct {
	Ready  bool   `json:"ready"`
	Detail string `json:"detail"`
}

// Status is `lab status`: it reads the lab and judges its health.
type Status struct {
	Lab *config.Lab
	Log ui.Logger
}

// Run reads the lab's state; it changes nothing.
func (s *Status) Run(ctx context.Context) (LabStatus, error) {
	l := s.Lab
	dir := state.LabDir(l.Metadata.Name)
	p, err := cluster.New(l, dir)
	if err != nil {
		return LabStatus{}, err
	}
	caps := p.Capabilities()
	st := LabStatus{Name: l.Metadata.Name, Provider: l.Cluster.Provider, Kubeconfig: p.Kubeconfig()}
	st.ClusterUp, st.Cluster = p.Healthy(ctx)
	if st.ClusterUp {
		if cfg, err := p.RESTConfig(); err == nil {
			if cs, err := kubernetes.NewForConfig(cfg); err == nil {
				st.Nodes, _ = cluster.Nodes(ctx, cs)
				st.Agent = &Component{}
				st.Agent.Ready, st.Agent.Detail = deploy.Ready(ctx, cs, l)
				if l.Stacks.Ollama.IsEnabled() && !caps.SimulatedNodes {
					st.Model = &Component{}
					st.Model.Ready, st.Model.Detail = stacks.ModelLoaded(ctx, cfg, cs, LabModel(l))
				}
			}
			if dyn, err := dynamic.NewForConfig(cfg); err == nil {
				st.Apps, _ = gitops.List(ctx, dyn, gitops.Namespace) // none without Argo CD
			}
		}
		rels, err := stacks.Helm{Kubeconfig: p.Kubeconfig(), Context: l.Cluster.Context}.Releases()
		if err != nil {
			ui.Or(s.Log).Debug(1, "%v", err)
		}
		st.Releases = rels
	}
	for _, n := range st.Nodes {
		if n.Ready {
			st.NodesReady++
		}
	}
	if old, err := ReadApplied(dir); err == nil {
		st.SpecChanges = Diff(old, l)
	}
	st.LastUp, _ = ReadJournal(dir)
	want := len(cluster.KwokNodes(l))
	if !caps.OwnsCluster {
		want = len(st.Nodes)
	}
	st.Healthy = st.ClusterUp && st.NodesReady == len(st.Nodes) && len(st.Nodes) >= want
	for _, r := range st.Releases {
		st.Healthy = st.Healthy && r.Deployed()
	}
	for _, c := range []*Component{st.Agent, st.Model} {
		st.Healthy = st.Healthy && (c == nil || c.Ready)
	}
	for _, a := range st.Apps {
		st.Healthy = st.Healthy && a.Ready()
	}
	return st, nil
}

// Write prints the status for a person.
func (st LabStatus) Write(w io.Writer, u *ui.UI) {
	mark := func(ok bool) string {
		if ok {
			return u.Mark(ui.MarkOK)
		}
		return u.Mark(ui.MarkFail)
	}
	fmt.Fprintf(w, "lab %s (provider %s)\n", st.Name, st.Provider)
	fmt.Fprintf(w, "%s cluster: %s\n", mark(st.ClusterUp), st.Cluster)
	fmt.Fprintf(w, "%s nodes: %d/%d Ready\n", mark(st.ClusterUp && st.NodesReady == len(st.Nodes) && len(st.Nodes) > 0), st.NodesReady, len(st.Nodes))
	for _, n := range st.Nodes {
		gpu := ""
		if n.GPUs > 0 {
			gpu = fmt.Sprintf(", %d GPU", n.GPUs)
		}
		fmt.Fprintf(w, "    %-28s %-14s ready=%v%s\n", n.Name, n.Role, n.Ready, gpu)
	}
	for _, r := range st.Releases {
		fmt.Fprintf(w, "%s release %s/%s: %s-%s rev %d %s\n", mark(r.Deployed()), r.Namespace, r.Name, r.Chart, r.Version, r.Revision, r.Status)
	}
	for _, a := range st.Apps {
		fmt.Fprintf(w, "%s application %s\n", mark(a.Ready()), a.Explain())
	}
	if st.Agent != nil {
		fmt.Fprintf(w, "%s agent: %s\n", mark(st.Agent.Ready), st.Agent.Detail)
	}
	if st.Model != nil {
		fmt.Fprintf(w, "%s model: %s\n", mark(st.Model.Ready), st.Model.Detail)
	}
	if len(st.SpecChanges) == 0 {
		fmt.Fprintf(w, "%s spec: lab.yaml matches what was applied\n", u.Mark(ui.MarkOK))
	} else {
		fmt.Fprintf(w, "%s spec: lab.yaml changed since the last `lab up`:\n", u.Mark(ui.MarkWarn))
		for _, c := range st.SpecChanges {
			fmt.Fprintf(w, "    %s\n", c)
		}
	}
	switch j := st.LastUp; {
	case j.Started.IsZero():
		fmt.Fprintf(w, "- last up: never\n")
	case !j.Finished.IsZero():
		fmt.Fprintf(w, "%s last up: finished %s\n", u.Mark(ui.MarkOK), j.Finished.Format(time.RFC3339))
	case j.Failed != "":
		fmt.Fprintf(w, "%s last up: failed at step %s: %s\n", u.Mark(ui.MarkFail), j.Failed, j.Error)
	default:
		fmt.Fprintf(w, "%s last up: interrupted after %v (re-run `lab up`)\n", u.Mark(ui.MarkWarn), j.Completed)
	}
}
