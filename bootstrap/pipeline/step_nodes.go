package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"lab.dev/lab/bootstrap/cluster"
)

// nodes makes the nodes match lab.yaml and waits for them to be Ready.
var nodesStep = Step{Name: "nodes", Inspect: inspectNodes,
	Apply: func(ctx context.Context, c *Context) (string, error) {
		if err := c.Provider.EnsureNodes(ctx); err != nil {
			return "", err
		}
		return waitUntil(ctx, nodesReadyTimeout, "nodes", func(ctx context.Context) (bool, string, error) { return inspectNodes(ctx, c) })
	}}

// nodesReadyTimeout bounds the wait for new nodes (a kind worker's kubelet
// joins after the control plane is Ready and needs its pod network).
const nodesReadyTimeout = 3 * time.Minute

func inspectNodes(ctx context.Context, c *Context) (bool, string, error) {
	caps := c.Provider.Capabilities()
	if !caps.OwnsCluster {
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
	if caps.ContainerNodes {
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
