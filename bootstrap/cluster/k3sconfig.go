package cluster

import (
	"fmt"
	"strings"
	"time"

	k3dconf "github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
)

// K3sImage is the k3s node image for lab.yaml: cluster.nodeImage, else
// rancher/k3s at cluster.kubernetesVersion (k3s tags are <version>-k3s1).
func K3sImage(l *config.Lab) string {
	if l.Cluster.NodeImage != "" {
		return l.Cluster.NodeImage
	}
	return "docker.io/rancher/k3s:" + l.Cluster.KubernetesVersion + "-k3s1"
}

// K3dConfig translates lab.yaml into k3d's v1alpha5 SimpleConfig — the same
// file `k3d cluster create --config` reads:
//
//   - servers = cluster.controlPlanes (3 gives embedded etcd), agents =
//     workers + gpuWorkers, every node on the pinned/requested k3s image;
//   - host port mappings on the first server (server:0), like kind's first
//     control plane;
//   - registry mirrors as k3s's registries.yaml (k3s writes containerd's
//     hosts.toml from it);
//   - GPU workers: k3d can only request GPUs for every node (docker --gpus),
//     so with gpuWorkers > 0 all nodes see the GPUs and only the last
//     gpuWorkers agents carry the GPU label the device plugin and the Ollama
//     stack select on. The image must carry the NVIDIA container runtime
//     (see the k3s docs' CUDA image); config validation asks for nodeImage.
//   - lab's own kubeconfig only: the user's ~/.kube/config is left alone.
//   - on a cgroup v1 host with a v1.35+ k3s, every kubelet gets
//     fail-cgroupv1=false (KEP-5573), as kind nodes do.
func K3dConfig(l *config.Lab, host engine.NodeHost) k3dconf.SimpleConfig {
	c := l.Cluster
	sc := k3dconf.SimpleConfig{Servers: c.ControlPlanes, Agents: c.Workers + c.GPUWorkers, Image: K3sImage(l)}
	sc.APIVersion, sc.Kind, sc.Name = k3dconf.ApiVersion, "Simple", l.Metadata.Name
	sc.ExposeAPI.HostIP = "127.0.0.1"
	sc.Options.K3dOptions.Wait = true
	sc.Options.K3dOptions.Timeout = 3 * time.Minute
	sc.Options.K3dOptions.NoRollback = true // lab collects the nodes' logs, then deletes unless --retain
	for _, p := range c.PortMappings {
		addr := p.ListenAddress
		if addr == "" {
			addr = "127.0.0.1"
		}
		port := fmt.Sprintf("%s:%d:%d", addr, p.HostPort, p.ContainerPort)
		if p.Protocol != "" {
			port += "/" + strings.ToLower(p.Protocol)
		}
		sc.Ports = append(sc.Ports, k3dconf.PortWithNodeFilters{Port: port, NodeFilters: []string{"server:0"}})
	}
	if reg := K3sRegistries(l); reg != "" {
		sc.Registries.Config = reg
	}
	if c.GPUWorkers > 0 {
		sc.Options.Runtime.GPURequest = "all"
		for i := c.Workers; i < c.Workers+c.GPUWorkers; i++ {
			sc.Options.K3sOptions.NodeLabels = append(sc.Options.K3sOptions.NodeLabels,
				k3dconf.LabelWithNodeFilters{Label: GPUNodeLabel + "=true", NodeFilters: []string{fmt.Sprintf("agent:%d", i)}})
		}
	}
	if host.KubeletNeedsCgroupV1Override(c.KubernetesVersion) {
		sc.Options.K3sOptions.ExtraArgs = append(sc.Options.K3sOptions.ExtraArgs,
			k3dconf.K3sArgWithNodeFilters{Arg: "--kubelet-arg=fail-cgroupv1=false", NodeFilters: []string{"server:*", "agent:*"}})
	}
	return sc
}

// K3sRegistries renders k3s's registries.yaml for cluster.registryMirrors.
func K3sRegistries(l *config.Lab) string {
	if len(l.Cluster.RegistryMirrors) == 0 {
		return ""
	}
	type mirror struct {
		Endpoint []string `json:"endpoint"`
	}
	mirrors := map[string]mirror{}
	for _, m := range l.Cluster.RegistryMirrors {
		mirrors[m.Registry] = mirror{Endpoint: append(mirrors[m.Registry].Endpoint, m.Endpoint)}
	}
	b, _ := yaml.Marshal(map[string]any{"mirrors": mirrors})
	return string(b)
}
