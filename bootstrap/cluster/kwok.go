package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/core/config"
)

var listAll = metav1.ListOptions{}

type kwokProvider struct {
	lab *config.Lab
	dir string
}

func (p *kwokProvider) Name() string       { return "kwok" }
func (p *kwokProvider) Kubeconfig() string { return p.dir + "/admin.kubeconfig" }

func (p *kwokProvider) Exists(context.Context) (bool, error) {
	_, err := kwok.LoadState(p.dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (p *kwokProvider) Healthy(ctx context.Context) (bool, string) {
	st, err := kwok.LoadState(p.dir)
	if err != nil {
		return false, "not created"
	}
	if _, dead := st.Running(); len(dead) > 0 {
		return false, "not running: " + strings.Join(dead, ", ")
	}
	// Every component, not only those recorded: an up killed after the API
	// server started but before kwok was launched left kwok unrecorded, and
	// without it no node ever becomes Ready.
	var missing []string
	for _, name := range kwok.Binaries {
		if _, ok := st.PIDs[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return false, "not started yet: " + strings.Join(missing, ", ")
	}
	cfg, err := p.RESTConfig()
	if err != nil {
		return false, err.Error()
	}
	if err := APIReady(ctx, cfg); err != nil {
		return false, err.Error()
	}
	return true, "control plane running"
}

func (p *kwokProvider) options() kwok.Options {
	return kwok.Options{Dir: p.dir, BinDir: p.lab.Cluster.Kwok.BinDir, Detached: true, Nodes: KwokNodes(p.lab)}
}

// Create starts (or resumes) the control plane; nodes are the nodes step's.
func (p *kwokProvider) Create(ctx context.Context) error {
	o := p.options()
	o.Nodes = []kwok.NodeSpec{}
	_, err := kwok.Start(ctx, o)
	return err
}

func (p *kwokProvider) EnsureNodes(ctx context.Context) error {
	cfg, err := p.RESTConfig()
	if err != nil {
		return err
	}
	c, err := kwok.Attach(p.dir, cfg)
	if err != nil {
		return err
	}
	return c.EnsureNodes(ctx, KwokNodes(p.lab))
}

func (p *kwokProvider) Delete(context.Context) error {
	st, err := kwok.LoadState(p.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err == nil {
		kwok.StopState(p.dir, st, 10*time.Second)
	}
	kwok.StopDir(p.dir, 10*time.Second)
	return os.RemoveAll(p.dir)
}

func (p *kwokProvider) RESTConfig() (*rest.Config, error) {
	return withRate(clientcmd.BuildConfigFromFlags("", p.Kubeconfig()))
}

// KwokNodes are the fake nodes of a kwok lab: tainted control-plane nodes (as
// kind has), CPU workers, and GPU workers with nvidia.com/gpu capacity.
func KwokNodes(l *config.Lab) []kwok.NodeSpec {
	c := l.Cluster
	var nodes []kwok.NodeSpec
	for i := 1; i <= c.ControlPlanes; i++ {
		nodes = append(nodes, kwok.NodeSpec{Name: fmt.Sprintf("%s-control-plane-%d", l.Metadata.Name, i), CPU: c.Kwok.NodeCPU, Memory: c.Kwok.NodeMemory,
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""},
			Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}})
	}
	for i := 1; i <= c.Workers; i++ {
		nodes = append(nodes, kwok.NodeSpec{Name: fmt.Sprintf("%s-worker-%d", l.Metadata.Name, i), CPU: c.Kwok.NodeCPU, Memory: c.Kwok.NodeMemory})
	}
	for i := 1; i <= c.GPUWorkers; i++ {
		nodes = append(nodes, kwok.NodeSpec{Name: fmt.Sprintf("%s-gpu-%d", l.Metadata.Name, i), CPU: c.Kwok.NodeCPU, Memory: c.Kwok.NodeMemory, GPUs: c.Kwok.NodeGPUs,
			Labels: map[string]string{"nvidia.com/gpu.present": "true"}})
	}
	return nodes
}

// Capabilities of the kwok provider (see config.Capabilities).
func (p *kwokProvider) Capabilities() config.Capabilities { return p.lab.Cluster.Capabilities() }
