package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
)

// The node side of nvkind's recipe, run in every kind GPU worker once the
// cluster is up: the host's nvidia-container-runtime has injected the GPU
// through the /var/run/nvidia-container-devices/<i> mount (KindConfig); in
// the node, the driver's /proc entry the injection leaves mounted is
// removed, nvidia-container-toolkit is installed when the node image lacks
// it, containerd gets the nvidia runtime as its default, and containerd
// restarts, and a marker says it is done (the script runs once per node;
// Healthy reads the marker). A node image with the toolkit baked in
// (cluster.nodeImage) skips the install — the way for air-gapped hosts.
const gpuNodeMarker = "/etc/lab-nvidia-runtime"

var gpuNodeScript = `set -eu
[ -e ` + gpuNodeMarker + ` ] && exit 0
umount -R /proc/driver/nvidia 2>/dev/null || true
if ! command -v nvidia-ctk >/dev/null 2>&1; then
  if ! getent hosts nvidia.github.io >/dev/null 2>&1; then
    echo "no nvidia-ctk in the node image and nvidia.github.io is unreachable: use a node image with nvidia-container-toolkit (cluster.nodeImage)" >&2
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq curl gnupg ca-certificates >/dev/null
  curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --dearmor --yes -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list |
    sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' >/etc/apt/sources.list.d/nvidia-container-toolkit.list
  apt-get update -qq && apt-get install -y -qq nvidia-container-toolkit >/dev/null
fi
nvidia-ctk runtime configure --runtime=containerd --set-as-default --config-source=command
systemctl restart containerd
touch ` + gpuNodeMarker + `
`

// gpuNodeNames are the cluster's nodes carrying the GPU label.
func gpuNodeNames(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: GPUNodeLabel + "=true"})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	return names, nil
}

// patchGPUNodes runs gpuNodeScript in each kind node named in gpu.
func patchGPUNodes(all []nodes.Node, gpu []string) error {
	for _, n := range all {
		if !slices.Contains(gpu, n.String()) {
			continue
		}
		var out strings.Builder
		cmd := n.Command("sh", "-c", gpuNodeScript)
		cmd.SetStdout(&out)
		cmd.SetStderr(&out)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("configuring the nvidia runtime in GPU node %s: %w\n%s", n.String(), err, out.String())
		}
	}
	return nil
}

// configureGPUNodes is the kind provider's post-create GPU step.
func (p *kindProvider) configureGPUNodes(ctx context.Context) error {
	if p.lab.Cluster.GPUWorkers == 0 {
		return nil
	}
	all, gpu, err := p.gpuNodes(ctx)
	if err != nil {
		return err
	}
	return patchGPUNodes(all, gpu)
}

// gpuNodesPending names the GPU nodes whose runtime is not configured yet.
func (p *kindProvider) gpuNodesPending(ctx context.Context) ([]string, error) {
	if p.lab.Cluster.GPUWorkers == 0 {
		return nil, nil
	}
	all, gpu, err := p.gpuNodes(ctx)
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, n := range all {
		if slices.Contains(gpu, n.String()) && n.Command("test", "-e", gpuNodeMarker).Run() != nil {
			pending = append(pending, n.String())
		}
	}
	return pending, nil
}

func (p *kindProvider) gpuNodes(ctx context.Context) ([]nodes.Node, []string, error) {
	cfg, err := p.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	gpu, err := gpuNodeNames(ctx, cs)
	if err != nil {
		return nil, nil, err
	}
	if len(gpu) != p.lab.Cluster.GPUWorkers {
		return nil, nil, fmt.Errorf("expected %d GPU workers labelled %s, found %v", p.lab.Cluster.GPUWorkers, GPUNodeLabel, gpu)
	}
	all, err := p.kind.ListNodes(p.lab.Metadata.Name)
	return all, gpu, err
}
