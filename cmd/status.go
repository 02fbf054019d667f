package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/gitops"
	"lab.dev/lab/nvidia"
	"lab.dev/lab/stacks"
)

// labStatus is `lab status -o json`.
type labStatus struct {
	Name        string                 `json:"name"`
	Provider    string                 `json:"provider"`
	Healthy     bool                   `json:"healthy"`
	Cluster     string                 `json:"cluster"`
	ClusterUp   bool                   `json:"clusterUp"`
	Nodes       []cluster.Node         `json:"nodes"`
	NodesReady  int                    `json:"nodesReady"`
	SpecChanges []pipeline.Change      `json:"specChanges"`
	Releases    []stacks.ReleaseStatus `json:"releases"`
	Apps        []gitops.AppStatus     `json:"applications,omitempty"`
	Agent       *component             `json:"agent,omitempty"`
	Model       *component             `json:"model,omitempty"` // checked where Ollama really runs (not kwok)
	LastUp      pipeline.Journal       `json:"lastUp"`
	Kubeconfig  string                 `json:"kubeconfig"`
}

// component is a part of the lab that is ready or says why not.
type component struct {
	Ready  bool   `json:"ready"`
	Detail string `json:"detail"`
}

func newStatus(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the lab: cluster, nodes, drift from lab.yaml, last `lab up`; exit 1 when unhealthy",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			pc, err := g.labContext(l)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st := labStatus{Name: l.Metadata.Name, Provider: l.Cluster.Provider, Kubeconfig: pc.Provider.Kubeconfig()}
			st.ClusterUp, st.Cluster = pc.Provider.Healthy(ctx)
			if st.ClusterUp {
				if cfg, err := pc.Provider.RESTConfig(); err == nil {
					if cs, err := kubernetes.NewForConfig(cfg); err == nil {
						st.Nodes, _ = cluster.Nodes(ctx, cs)
						st.Agent = &component{}
						st.Agent.Ready, st.Agent.Detail = deploy.Ready(ctx, cs, l)
						if l.Stacks.Ollama.IsEnabled() && !l.Cluster.Capabilities().SimulatedNodes {
							gpu, _ := nvidia.NVML().Inspect()
							st.Model = &component{}
							st.Model.Ready, st.Model.Detail = stacks.ModelLoaded(ctx, cfg, cs, doctor.ResolveModel(l, gpu.LargestVRAM()))
						}
					}
					if dyn, err := dynamic.NewForConfig(cfg); err == nil {
						st.Apps, _ = gitops.List(ctx, dyn, gitops.Namespace) // none without Argo CD
					}
				}
				rels, err := stacks.Helm{Kubeconfig: pc.Provider.Kubeconfig(), Context: l.Cluster.Context}.Releases()
				if err != nil {
					g.ui.Debug(1, "%v", err)
				}
				st.Releases = rels
			}
			for _, n := range st.Nodes {
				if n.Ready {
					st.NodesReady++
				}
			}
			if old, err := pipeline.ReadApplied(pc.Dir); err == nil {
				st.SpecChanges = pipeline.Diff(old, l)
			}
			st.LastUp, _ = pipeline.ReadJournal(pc.Dir)
			want := len(cluster.KwokNodes(l))
			if !l.Cluster.Capabilities().OwnsCluster {
				want = len(st.Nodes)
			}
			st.Healthy = st.ClusterUp && st.NodesReady == len(st.Nodes) && len(st.Nodes) >= want
			for _, r := range st.Releases {
				st.Healthy = st.Healthy && r.Deployed()
			}
			for _, c := range []*component{st.Agent, st.Model} {
				st.Healthy = st.Healthy && (c == nil || c.Ready)
			}
			for _, a := range st.Apps {
				st.Healthy = st.Healthy && a.Ready()
			}
			if output == "json" {
				e := json.NewEncoder(g.ui.Out)
				e.SetIndent("", "  ")
				if err := e.Encode(st); err != nil {
					return err
				}
			} else {
				printStatus(g.ui, st)
			}
			if !st.Healthy {
				return errSilent
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func printStatus(u *ui.UI, st labStatus) {
	mark := func(ok bool) string {
		if ok {
			return u.Mark(ui.MarkOK)
		}
		return u.Mark(ui.MarkFail)
	}
	fmt.Fprintf(u.Out, "lab %s (provider %s)\n", st.Name, st.Provider)
	fmt.Fprintf(u.Out, "%s cluster: %s\n", mark(st.ClusterUp), st.Cluster)
	fmt.Fprintf(u.Out, "%s nodes: %d/%d Ready\n", mark(st.ClusterUp && st.NodesReady == len(st.Nodes) && len(st.Nodes) > 0), st.NodesReady, len(st.Nodes))
	for _, n := range st.Nodes {
		gpu := ""
		if n.GPUs > 0 {
			gpu = fmt.Sprintf(", %d GPU", n.GPUs)
		}
		fmt.Fprintf(u.Out, "    %-28s %-14s ready=%v%s\n", n.Name, n.Role, n.Ready, gpu)
	}
	for _, r := range st.Releases {
		fmt.Fprintf(u.Out, "%s release %s/%s: %s-%s rev %d %s\n", mark(r.Deployed()), r.Namespace, r.Name, r.Chart, r.Version, r.Revision, r.Status)
	}
	for _, a := range st.Apps {
		fmt.Fprintf(u.Out, "%s application %s\n", mark(a.Ready()), a.Explain())
	}
	if st.Agent != nil {
		fmt.Fprintf(u.Out, "%s agent: %s\n", mark(st.Agent.Ready), st.Agent.Detail)
	}
	if st.Model != nil {
		fmt.Fprintf(u.Out, "%s model: %s\n", mark(st.Model.Ready), st.Model.Detail)
	}
	if len(st.SpecChanges) == 0 {
		fmt.Fprintf(u.Out, "%s spec: lab.yaml matches what was applied\n", u.Mark(ui.MarkOK))
	} else {
		fmt.Fprintf(u.Out, "%s spec: lab.yaml changed since the last `lab up`:\n", u.Mark(ui.MarkWarn))
		for _, c := range st.SpecChanges {
			fmt.Fprintf(u.Out, "    %s\n", c)
		}
	}
	switch j := st.LastUp; {
	case j.Started.IsZero():
		fmt.Fprintf(u.Out, "- last up: never\n")
	case !j.Finished.IsZero():
		fmt.Fprintf(u.Out, "%s last up: finished %s\n", u.Mark(ui.MarkOK), j.Finished.Format(time.RFC3339))
	case j.Failed != "":
		fmt.Fprintf(u.Out, "%s last up: failed at step %s: %s\n", u.Mark(ui.MarkFail), j.Failed, j.Error)
	default:
		fmt.Fprintf(u.Out, "%s last up: interrupted after %v (re-run `lab up`)\n", u.Mark(ui.MarkWarn), j.Completed)
	}
}
