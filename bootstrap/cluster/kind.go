package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
	"lab.dev/lab/core/state"
)

// kindProvider drives kind through its Go library (sigs.k8s.io/kind/pkg/cluster).
type kindProvider struct {
	lab    *config.Lab
	dir    string
	kind   *kindcluster.Provider
	Retain bool
	note   string // what Create had to do beyond the plain path (Note)
}

// Note says what the last Create did beyond the plain path ("" when
// nothing): the cluster step prints it beside its result.
func (p *kindProvider) Note() string { return p.note }

func newKind(l *config.Lab, dir string) *kindProvider {
	return &kindProvider{lab: l, dir: dir, kind: kindcluster.NewProvider()}
}

func (p *kindProvider) Name() string { return "kind" }

// SetRetain keeps a cluster whose creation failed (kind create --retain).
func (p *kindProvider) SetRetain(r bool) { p.Retain = r }

func (p *kindProvider) Kubeconfig() string {
	if k := p.lab.Cluster.Kubeconfig; k != "" {
		return k
	}
	return filepath.Join(p.dir, "kubeconfig")
}

func (p *kindProvider) Exists(context.Context) (bool, error) {
	names, err := p.kind.List()
	if err != nil {
		return false, fmt.Errorf("listing kind clusters: %w", err)
	}
	return slices.Contains(names, p.lab.Metadata.Name), nil
}

// Healthy: the cluster answers and its GPU workers have the nvidia runtime.
func (p *kindProvider) Healthy(ctx context.Context) (bool, string) {
	ok, why := containerHealth(ctx, p, "kind", p.lab.Metadata.Name)
	if !ok {
		return ok, why
	}
	if settling, why := p.settling(ctx); settling {
		return false, why
	}
	if pending, err := p.gpuNodesPending(ctx); err != nil {
		return false, err.Error()
	} else if len(pending) > 0 {
		return false, fmt.Sprintf("GPU nodes without the nvidia runtime yet: %s", strings.Join(pending, ", "))
	}
	return ok, why
}

// Create creates the cluster (or, when it exists, only refreshes the
// kubeconfig). On failure kind deletes it unless Retain (like kind --retain);
// the nodes' logs are exported into the lab dir first.
func (p *kindProvider) Create(ctx context.Context) error {
	p.note = "" // this Create's, not an earlier one's
	if ok, err := p.Exists(ctx); err != nil {
		return err
	} else if ok {
		if _, err := p.startStopped(ctx); err != nil {
			return err
		}
		if err := p.writeKubeconfig(); err != nil {
			return err
		}
		return p.configureGPUNodes(ctx)
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	create := func() error {
		return p.kind.Create(p.lab.Metadata.Name,
			kindcluster.CreateWithV1Alpha4Config(KindConfig(p.lab, engine.ReadNodeHost())),
			kindcluster.CreateWithRetain(true), // logs first, then delete below
			kindcluster.CreateWithWaitForReady(3*time.Minute),
			kindcluster.CreateWithKubeconfigPath(p.Kubeconfig()),
			kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false))
	}
	err := create()
	if err != nil && nodeContainerRefused(err) {
		// The engine refused to start a node container. Seen on a two-core
		// CI runner while another lab's three nodes were copying their
		// images into their volumes (exit 125 after 40 s): a busy host's
		// moment, so the nodes are removed and made once more, and the
		// step says so.
		p.note = "the engine refused a node container once (" + printed(err) + "); made again"
		_ = p.kind.Delete(p.lab.Metadata.Name, p.Kubeconfig())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
		err = create()
	}
	if err != nil {
		logs := filepath.Join(p.dir, "logs-"+time.Now().UTC().Format("20060102T150405"))
		_ = p.kind.CollectLogs(p.lab.Metadata.Name, logs)
		if !p.Retain {
			_ = p.kind.Delete(p.lab.Metadata.Name, p.Kubeconfig())
		}
		if out := printed(err); out != "" {
			err = fmt.Errorf("%w; it printed: %s", err, out)
		}
		return fmt.Errorf("creating kind cluster %s (node logs in %s): %w", p.lab.Metadata.Name, logs, err)
	}
	if err := p.writeMirrors(); err != nil {
		return err
	}
	return p.configureGPUNodes(ctx)
}

func (p *kindProvider) writeKubeconfig() error {
	kc, err := p.kind.KubeConfig(p.lab.Metadata.Name, false)
	if err != nil {
		return err
	}
	return state.WriteFile(p.Kubeconfig(), []byte(kc), 0o600)
}

// writeMirrors puts containerd's hosts.toml for each mirror into every node.
func (p *kindProvider) writeMirrors() error {
	hosts := MirrorHosts(p.lab)
	if len(hosts) == 0 {
		return nil
	}
	nodes, err := p.kind.ListNodes(p.lab.Metadata.Name)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		for path, content := range hosts {
			cmd := n.Command("sh", "-c", "mkdir -p "+filepath.Dir(path)+" && cat > "+path)
			cmd.SetStdin(strings.NewReader(content))
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("writing %s on %s: %w", path, n.String(), err)
			}
		}
	}
	return nil
}

// Delete deletes the cluster's nodes (and their volumes) and kind's network
// when no other cluster uses it.
func (p *kindProvider) Delete(ctx context.Context) error {
	ok, err := p.Exists(ctx)
	if err != nil {
		return err
	}
	if ok {
		return DeleteKind(ctx, p.lab.Metadata.Name, p.Kubeconfig())
	}
	if kindEngine() == "docker" {
		removeNetworkIfUnused(ctx)
	}
	return nil
}

// EnsureNodes: kind cannot add or remove nodes of a running cluster; a
// changed node count is a recreate (the spec step asks for --force).
func (p *kindProvider) EnsureNodes(context.Context) error { return nil }

func (p *kindProvider) RESTConfig() (*rest.Config, error) {
	return withRate(clientcmd.BuildConfigFromFlags("", p.Kubeconfig()))
}

// Capabilities of the kind provider (see config.Capabilities).
func (p *kindProvider) Capabilities() config.Capabilities { return p.lab.Cluster.Capabilities() }

// KindClusters lists the kind clusters of this host's container engine.
func KindClusters() ([]string, error) { return kindcluster.NewProvider().List() }

// KindRESTConfig is a client config for kind cluster name, read from its
// control-plane container: no kubeconfig file of lab's is needed (what a
// lab whose state folder is gone still has).
func KindRESTConfig(name string) (*rest.Config, error) {
	kc, err := kindcluster.NewProvider().KubeConfig(name, false)
	if err != nil {
		return nil, err
	}
	return withRate(clientcmd.RESTConfigFromKubeConfig([]byte(kc)))
}

// DeleteKind deletes kind cluster name (its nodes and their volumes; its
// entry in kubeconfig, "" for the default one) and kind's network when no
// other cluster uses it.
func DeleteKind(ctx context.Context, name, kubeconfig string) error {
	if err := kindcluster.NewProvider().Delete(name, kubeconfig); err != nil {
		return err
	}
	if kindEngine() == "docker" {
		removeNetworkIfUnused(ctx)
	}
	return nil
}

// nodeContainerRefused: kind's error is the engine's `run` of a node
// container exiting with an error (docker's 125: the daemon's own).
func nodeContainerRefused(err error) bool {
	re := kindexec.RunErrorForError(err)
	return re != nil && len(re.Command) > 1 && slices.Contains([]string{"docker", "podman", "nerdctl"}, filepath.Base(re.Command[0])) && re.Command[1] == "run"
}

// printed is what the command behind a kind error printed (kind's error
// names only the command and its exit status: `docker run` exiting 125
// says why on its stderr), its last 1 KiB, or "".
func printed(err error) string {
	re := kindexec.RunErrorForError(err)
	if re == nil {
		return ""
	}
	out := strings.TrimSpace(string(re.Output))
	if len(out) > 1024 {
		out = "…" + out[len(out)-1024:]
	}
	return out
}
