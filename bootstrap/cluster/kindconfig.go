package cluster

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
)

// GPUNodeLabel marks kind GPU workers (what the device plugin and the Ollama
// stack select on).
const GPUNodeLabel = "nvidia.com/gpu.present"

// NodeImage is the kind node image for lab.yaml: cluster.nodeImage, else the
// pinned image (with digest) when the version matches it, else the tag.
func NodeImage(l *config.Lab) string {
	if l.Cluster.NodeImage != "" {
		return l.Cluster.NodeImage
	}
	pinned := config.Pinned().Components["kindNodeImage"]
	if strings.HasPrefix(pinned, "kindest/node:"+l.Cluster.KubernetesVersion+"@") {
		return pinned
	}
	return "kindest/node:" + l.Cluster.KubernetesVersion
}

// KindConfig translates lab.yaml into kind's v1alpha4 cluster config:
// control planes and workers with the pinned image, the host port mappings
// on the first control plane, registry mirrors through containerd's
// config_path (hosts.toml files are written into the nodes after creation),
// and GPU workers wired the way NVIDIA's nvkind does it — one
// /var/run/nvidia-container-devices/<index> mount per GPU worker, which
// nvidia-container-runtime (accept-nvidia-visible-devices-as-volume-mounts)
// turns into that GPU inside the node. On a restricted host (see
// engine.NodeHost) the nodes are set up for it: containerd stops asking for
// oom_score_adj it may not lower; on cgroup v1 the kubelet and containerd use
// the cgroupfs driver, and a v1.35+ kubelet accepts cgroup v1.
func KindConfig(l *config.Lab, host engine.NodeHost) *v1alpha4.Cluster {
	c := l.Cluster
	img := NodeImage(l)
	kc := &v1alpha4.Cluster{TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"}, Name: l.Metadata.Name}
	for i := 0; i < c.ControlPlanes; i++ {
		n := v1alpha4.Node{Role: v1alpha4.ControlPlaneRole, Image: img}
		if i == 0 {
			for _, p := range c.PortMappings {
				n.ExtraPortMappings = append(n.ExtraPortMappings, v1alpha4.PortMapping{
					ContainerPort: int32(p.ContainerPort), HostPort: int32(p.HostPort), ListenAddress: p.ListenAddress,
					Protocol: v1alpha4.PortMappingProtocol(strings.ToUpper(p.Protocol))})
			}
		}
		kc.Nodes = append(kc.Nodes, n)
	}
	for i := 0; i < c.Workers; i++ {
		kc.Nodes = append(kc.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: img})
	}
	for i := 0; i < c.GPUWorkers; i++ {
		kc.Nodes = append(kc.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: img,
			Labels:      map[string]string{GPUNodeLabel: "true"},
			ExtraMounts: []v1alpha4.Mount{{HostPath: "/dev/null", ContainerPath: fmt.Sprintf("/var/run/nvidia-container-devices/%d", i)}}})
	}
	if len(c.RegistryMirrors) > 0 {
		kc.ContainerdConfigPatches = append(kc.ContainerdConfigPatches, `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"`)
	}
	if !host.CapSysResource {
		// The kubelet lowers each sandbox's oom_score_adj, which needs
		// CAP_SYS_RESOURCE; without it every sandbox fails ("can't get final
		// child's PID from pipe: EOF"). containerd then keeps the adjustment
		// within what it may set.
		kc.ContainerdConfigPatches = append(kc.ContainerdConfigPatches, `[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true`)
	}
	if l.Stacks.Prometheus.IsEnabled() {
		kc.KubeadmConfigPatches = append(kc.KubeadmConfigPatches, metricsPatches...)
	}
	if host.CgroupV1 {
		// On cgroup v1 the systemd cgroup driver makes runc freeze a
		// container while systemd updates its device rules; a runc killed in
		// between (a busy node, a node restart) leaves the freezer FROZEN, and
		// then neither the pod nor the node container can be killed (seen
		// with runc 1.1.5 and 1.4.3). The cgroupfs driver writes the rules
		// itself and never freezes.
		kc.ContainerdConfigPatches = append(kc.ContainerdConfigPatches, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false`)
		patch := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs"
		if host.KubeletNeedsCgroupV1Override(c.KubernetesVersion) {
			// KEP-5573: from 1.35 the kubelet refuses cgroup v1 unless told not to.
			patch += "\nfailCgroupV1: false"
		}
		kc.KubeadmConfigPatches = append(kc.KubeadmConfigPatches, patch)
	}
	return kc
}

// metricsPatches make the control plane's metrics reachable by the
// Prometheus of kube-prometheus-stack, whose ServiceMonitors scrape them at
// the node's address: kubeadm binds the controller manager's and the
// scheduler's secure ports, etcd's metrics and kube-proxy's to loopback, so
// on a kind lab those four targets are down and their alerts
// (KubeControllerManagerDown, KubeSchedulerDown, etcdMembersDown,
// KubeProxyDown) fire from the first minute and page the agent. The secure
// ports still authenticate and authorize every scrape; etcd's and kube-
// proxy's metrics listeners serve metrics only, on the nodes' own network.
// Map-form extraArgs: kind merges them into kubeadm v1beta4's list.
var metricsPatches = []string{`kind: ClusterConfiguration
controllerManager:
  extraArgs:
    bind-address: 0.0.0.0
scheduler:
  extraArgs:
    bind-address: 0.0.0.0
etcd:
  local:
    extraArgs:
      listen-metrics-urls: http://0.0.0.0:2381`, `kind: KubeProxyConfiguration
metricsBindAddress: 0.0.0.0:10249`}

// NativeConfig renders the config lab hands the provider for lab.yaml on
// this host as YAML: kind's v1alpha4 Cluster or k3d's SimpleConfig (what
// `kind create cluster --config` / `k3d cluster create --config` would take).
func NativeConfig(l *config.Lab, host engine.NodeHost) ([]byte, error) {
	switch l.Cluster.Provider {
	case "kind":
		return yaml.Marshal(KindConfig(l, host))
	case "k3s":
		return yaml.Marshal(K3dConfig(l, host))
	}
	return nil, fmt.Errorf("cluster.provider %s has no native config file (kind and k3s do)", l.Cluster.Provider)
}

// MirrorHosts renders containerd's hosts.toml for each mirrored registry,
// keyed by the file path inside a node.
func MirrorHosts(l *config.Lab) map[string]string {
	out := map[string]string{}
	for _, m := range l.Cluster.RegistryMirrors {
		server := "https://" + m.Registry
		if m.Registry == "docker.io" {
			server = "https://registry-1.docker.io"
		}
		out["/etc/containerd/certs.d/"+m.Registry+"/hosts.toml"] = fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", server, m.Endpoint)
	}
	return out
}
