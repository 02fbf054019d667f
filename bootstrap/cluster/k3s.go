package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	k3dconfig "github.com/k3d-io/k3d/v5/pkg/config"
	k3dlog "github.com/k3d-io/k3d/v5/pkg/logger"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3d "github.com/k3d-io/k3d/v5/pkg/types"
	"github.com/sirupsen/logrus"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
	"lab.dev/lab/core/state"
)

// k3sProvider runs k3s nodes as containers through k3d's Go library
// (github.com/k3d-io/k3d/v5): the same engine path as kind (Docker, or
// Podman's Docker API through DOCKER_HOST), no root or systemd units on the
// workstation, and several nodes on one host — which native k3s, one
// server per machine, does not give.
type k3sProvider struct {
	lab    *config.Lab
	dir    string
	rt     runtimes.Runtime
	Retain bool
}

func newK3s(l *config.Lab, dir string) *k3sProvider {
	// k3d logs every step through logrus; lab prints its own progress.
	k3dlog.Log().SetLevel(logrus.FatalLevel) // its errors come back as Go errors
	return &k3sProvider{lab: l, dir: dir, rt: runtimes.SelectedRuntime}
}

func (p *k3sProvider) Name() string { return "k3s" }

// SetRetain keeps a cluster whose creation failed.
func (p *k3sProvider) SetRetain(r bool) { p.Retain = r }

func (p *k3sProvider) Kubeconfig() string {
	if k := p.lab.Cluster.Kubeconfig; k != "" {
		return k
	}
	return filepath.Join(p.dir, "kubeconfig")
}

func (p *k3sProvider) nodes(ctx context.Context) ([]*k3d.Node, error) {
	nodes, err := p.rt.GetNodesByLabel(ctx, map[string]string{k3d.LabelClusterName: p.lab.Metadata.Name})
	if err != nil {
		return nil, fmt.Errorf("listing k3d nodes of %s: %w", p.lab.Metadata.Name, err)
	}
	return nodes, nil
}

func (p *k3sProvider) Exists(ctx context.Context) (bool, error) {
	nodes, err := p.nodes(ctx)
	return len(nodes) > 0, err
}

func (p *k3sProvider) Healthy(ctx context.Context) (bool, string) {
	return containerHealth(ctx, p, "k3s", p.lab.Metadata.Name)
}

// Create creates the cluster; when it exists it starts stopped nodes and
// refreshes the kubeconfig. A failed creation leaves the nodes' logs in the
// lab dir and deletes the cluster unless Retain.
func (p *k3sProvider) Create(ctx context.Context) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	cl := &k3d.Cluster{Name: p.lab.Metadata.Name}
	if ok, err := p.Exists(ctx); err != nil {
		return err
	} else if ok {
		got, err := k3dclient.ClusterGet(ctx, p.rt, cl)
		if err != nil {
			return err
		}
		if err := k3dclient.ClusterStart(ctx, p.rt, got, k3d.ClusterStartOpts{WaitForServer: true, Timeout: 3 * time.Minute}); err != nil {
			return fmt.Errorf("starting k3s cluster %s: %w", cl.Name, err)
		}
		return p.writeKubeconfig(ctx, got)
	}
	cc, err := k3dconfig.TransformSimpleToClusterConfig(ctx, p.rt, K3dConfig(p.lab, engine.ReadNodeHost()), "")
	if err == nil {
		cc, err = k3dconfig.ProcessClusterConfig(*cc)
	}
	if err == nil {
		err = k3dconfig.ValidateClusterConfig(ctx, p.rt, *cc)
	}
	if err != nil {
		return fmt.Errorf("k3d config for %s: %w", cl.Name, err)
	}
	if err := k3dclient.ClusterRun(ctx, p.rt, cc); err != nil {
		logs := p.collectLogs(ctx)
		if !p.Retain {
			_ = p.Delete(ctx)
		}
		return fmt.Errorf("creating k3s cluster %s (node logs in %s): %w", cl.Name, logs, err)
	}
	return p.writeKubeconfig(ctx, &cc.Cluster)
}

// collectLogs writes each node container's log into the lab dir.
func (p *k3sProvider) collectLogs(ctx context.Context) string {
	dir := filepath.Join(p.dir, "logs-"+time.Now().UTC().Format("20060102T150405"))
	nodes, _ := p.nodes(ctx)
	os.MkdirAll(dir, 0o700)
	for _, n := range nodes {
		r, err := p.rt.GetNodeLogs(ctx, n, time.Time{}, nil)
		if err != nil {
			continue
		}
		if f, err := os.OpenFile(filepath.Join(dir, n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
			io.Copy(f, r)
			f.Close()
		}
		r.Close()
	}
	return dir
}

func (p *k3sProvider) writeKubeconfig(ctx context.Context, cl *k3d.Cluster) error {
	kc, err := k3dclient.KubeconfigGet(ctx, p.rt, cl)
	if err != nil {
		return fmt.Errorf("kubeconfig of k3s cluster %s: %w", cl.Name, err)
	}
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	return state.WriteFile(p.Kubeconfig(), b, 0o600)
}

// Delete removes the cluster's nodes, network and volumes — also the
// network and image volume a failed creation left without nodes. An
// unreachable engine is an error, not "nothing to delete".
func (p *k3sProvider) Delete(ctx context.Context) error {
	if ok, err := p.Exists(ctx); err != nil {
		return err
	} else if !ok {
		return p.deleteLeftovers(ctx)
	}
	got, err := k3dclient.ClusterGet(ctx, p.rt, &k3d.Cluster{Name: p.lab.Metadata.Name})
	if errors.Is(err, k3dclient.ClusterGetNoNodesFoundError) {
		return nil
	} else if err != nil {
		return err
	}
	if err := k3dclient.ClusterDelete(ctx, p.rt, got, k3d.ClusterDeleteOpts{SkipRegistryCheck: true}); err != nil {
		return fmt.Errorf("deleting k3s cluster %s: %w", got.Name, err)
	}
	return p.deleteLeftovers(ctx)
}

// deleteLeftovers removes the cluster's network and image volume by the
// names k3d gives them, when they exist.
func (p *k3sProvider) deleteLeftovers(ctx context.Context) error {
	prefix := k3d.DefaultObjectNamePrefix + "-" + p.lab.Metadata.Name
	if vol, err := p.rt.GetVolume(prefix + "-images"); err == nil && vol != "" {
		if err := p.rt.DeleteVolume(ctx, vol); err != nil {
			return fmt.Errorf("deleting volume %s: %w", vol, err)
		}
	}
	if nw, err := p.rt.GetNetwork(ctx, &k3d.ClusterNetwork{Name: prefix}); err == nil && nw != nil {
		if err := p.rt.DeleteNetwork(ctx, prefix); err != nil {
			return fmt.Errorf("deleting network %s: %w", prefix, err)
		}
	}
	return nil
}

// EnsureNodes: like kind, a changed node count is a recreate (the spec step
// asks for --force); k3d could add agents, but not remove them cleanly.
func (p *k3sProvider) EnsureNodes(context.Context) error { return nil }

func (p *k3sProvider) RESTConfig() (*rest.Config, error) {
	return withRate(clientcmd.BuildConfigFromFlags("", p.Kubeconfig()))
}

// Capabilities of the k3s provider (see config.Capabilities).
func (p *k3sProvider) Capabilities() config.Capabilities { return p.lab.Cluster.Capabilities() }
