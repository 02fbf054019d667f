// Package cluster puts every way lab gets a cluster behind one interface:
// kind (kind's Go library), k3s (k3d's Go library), kwok (real control
// plane, simulated nodes) and existing (any kubeconfig).
package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"lab.dev/lab/core/config"
)

// Node is one node as status shows it.
type Node struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Ready bool   `json:"ready"`
	GPUs  int64  `json:"gpus,omitempty"`
}

// Provider creates, finds and deletes a lab's cluster.
type Provider interface {
	Name() string
	// Capabilities says what this provider can do (simulated nodes, GPU
	// workers, which changes need a new cluster), as data.
	Capabilities() config.Capabilities
	// Exists reports whether the cluster was created (it may be stopped).
	Exists(ctx context.Context) (bool, error)
	// Healthy reports whether the cluster answers and why not.
	Healthy(ctx context.Context) (bool, string)
	// Create creates the cluster, or resumes a stopped or half-created one.
	Create(ctx context.Context) error
	// Delete removes the cluster; deleting a missing cluster succeeds.
	Delete(ctx context.Context) error
	// EnsureNodes makes the nodes match lab.yaml (providers that can).
	EnsureNodes(ctx context.Context) error
	// RESTConfig is how to reach the cluster as its admin.
	RESTConfig() (*rest.Config, error)
	// Kubeconfig is the path of the lab's kubeconfig file.
	Kubeconfig() string
}

// Retainer is a provider that can keep a cluster whose creation failed.
type Retainer interface{ SetRetain(bool) }

// New returns the provider lab.yaml asks for; dir is the lab's state folder.
func New(l *config.Lab, dir string) (Provider, error) {
	p, err := newProvider(l, dir)
	if err != nil || l.Cluster.Provisioner != "terraform" || !l.Cluster.Capabilities().OwnsCluster {
		return p, err
	}
	return newTerraform(l, dir, p), nil
}

func newProvider(l *config.Lab, dir string) (Provider, error) {
	switch l.Cluster.Provider {
	case "kwok":
		return &kwokProvider{lab: l, dir: filepath.Join(dir, "kwok")}, nil
	case "existing":
		return &existingProvider{lab: l}, nil
	case "kind":
		return newKind(l, dir), nil
	case "k3s":
		return newK3s(l, dir), nil
	}
	return nil, fmt.Errorf("unknown cluster.provider %q", l.Cluster.Provider)
}

// withRate lifts client-go's default 5 QPS client-side throttle: lab's
// steps make bursts of small requests and the API server has its own flow
// control (the agent's traffic is shaped by its APF objects, not here).
func withRate(cfg *rest.Config, err error) (*rest.Config, error) {
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// APIReady asks the API server at cfg for /readyz (5 s at most).
func APIReady(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(cctx)
	if err == nil && string(body) != "ok" {
		err = fmt.Errorf("/readyz answered %q", body)
	}
	if err != nil {
		return fmt.Errorf("API server at %s not ready: %w", cfg.Host, err)
	}
	return nil
}

// containerHealth is Healthy for providers whose nodes are containers: the
// cluster exists and its API server answers /readyz.
func containerHealth(ctx context.Context, p Provider, kind, name string) (bool, string) {
	if ok, err := p.Exists(ctx); err != nil || !ok {
		return false, kind + " cluster " + name + " does not exist"
	}
	cfg, err := p.RESTConfig()
	if err != nil {
		return false, err.Error()
	}
	if err := APIReady(ctx, cfg); err != nil {
		return false, err.Error()
	}
	return true, kind + " cluster running"
}

// HostAddresser is a provider whose nodes reach the host at a known address
// (a container network's gateway), where lab serves what pods must fetch
// from the host (the local GitOps repository).
type HostAddresser interface {
	HostAddress(ctx context.Context) (string, error)
}

// Nodes lists a cluster's nodes for status.
func Nodes(ctx context.Context, cs kubernetes.Interface) ([]Node, error) {
	list, err := cs.CoreV1().Nodes().List(ctx, listAll)
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(list.Items))
	for _, n := range list.Items {
		node := Node{Name: n.Name, Role: "worker"}
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
			node.Role = "control-plane"
		}
		if g, ok := n.Status.Capacity["nvidia.com/gpu"]; ok {
			node.GPUs = g.Value()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				node.Ready = true
			}
		}
		out = append(out, node)
	}
	return out, nil
}
