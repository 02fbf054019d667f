// Package stacks owns the platform components lab installs: each stack as
// data (name, namespace, chart source, pinned version, dependencies), and
// the machinery that installs them.
package stacks

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
)

// Chart locates one Helm chart.
type Chart struct {
	Release   string // Helm release name
	Namespace string
	Repo      string // HTTP chart repository or oci:// registry
	Name      string // chart name in the repository
	Version   string // pinned version (manifests/versions.yaml)
}

// Stack is one platform component: one or more charts installed in order.
type Stack struct {
	Name      string   // key under lab.yaml stacks:
	Charts    []Chart  // installed in this order (CRDs first)
	DependsOn []string // stacks that must be ready first
}

// Catalog lists the stacks lab knows, with the versions pinned in this release.
func Catalog() []Stack {
	v := config.Pinned().Charts
	return []Stack{
		{Name: "prometheus", Charts: []Chart{
			{Release: promRelease, Namespace: promNamespace, Repo: "https://prometheus-community.github.io/helm-charts", Name: "kube-prometheus-stack", Version: v["kube-prometheus-stack"]},
		}},
		{Name: "linkerd", Charts: []Chart{
			{Release: "linkerd-crds", Namespace: "linkerd", Repo: "https://helm.linkerd.io/edge", Name: "linkerd-crds", Version: v["linkerd-crds"]},
			{Release: "linkerd-control-plane", Namespace: "linkerd", Repo: "https://helm.linkerd.io/edge", Name: "linkerd-control-plane", Version: v["linkerd-control-plane"]},
		}},
		{Name: "argocd", Charts: []Chart{
			{Release: "argocd", Namespace: "argocd", Repo: "https://argoproj.github.io/argo-helm", Name: "argo-cd", Version: v["argo-cd"]},
		}},
		{Name: "ollama", Charts: []Chart{
			{Release: "ollama", Namespace: "ollama", Repo: "https://helm.otwld.com/", Name: "ollama", Version: v["ollama"]},
		}},
		{Name: "kyverno", Charts: []Chart{
			{Release: "kyverno", Namespace: "kyverno", Repo: "https://kyverno.github.io/kyverno/", Name: "kyverno", Version: v["kyverno"]},
		}},
	}
}

// Enabled filters the catalog by lab.yaml.
func Enabled(l *config.Lab) []Stack {
	on := l.Stacks.ByName()
	var out []Stack
	for _, s := range Catalog() {
		if on[s.Name].IsEnabled() {
			out = append(out, s)
		}
	}
	return out
}

// GPUPlan wires GPU workers after the nodes got their GPUs (kind: nvkind's
// per-node device mounts, cluster.KindConfig; k3s: docker --gpus and an
// image whose containerd finds the nvidia runtime, cluster.K3dConfig): a
// RuntimeClass "nvidia", then the NVIDIA device plugin on the GPU nodes, so
// pods can ask for nvidia.com/gpu. Nil when the lab has no such workers.
func GPUPlan(l *config.Lab) *Plan {
	if !l.Cluster.Capabilities().GPUWorkers || l.Cluster.GPUWorkers == 0 {
		return nil
	}
	rc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
		"metadata": map[string]any{"name": "nvidia", "labels": map[string]any{kube.ManagedByLabel: kube.ManagedBy}},
		"handler":  "nvidia",
	}}
	return &Plan{Name: "gpu", Objects: []*unstructured.Unstructured{rc}, Releases: []Release{{
		Name: "nvidia-device-plugin", Namespace: "nvidia-device-plugin",
		Chart: Source{Repo: "https://nvidia.github.io/k8s-device-plugin", Name: "nvidia-device-plugin", Version: config.Pinned().Charts["nvidia-device-plugin"]},
		Values: map[string]any{
			"runtimeClassName": "nvidia",
			"nodeSelector":     map[string]any{"nvidia.com/gpu.present": "true"},
			"tolerations":      []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}},
		},
	}}}
}

// Plans turns the enabled stacks into install plans: lab's values for each
// release, the version from lab.yaml or the pinned one, the stack's timeout.
// Argo CD waits for the Prometheus stack when both are on (its ServiceMonitors
// need the Prometheus CRDs).
func Plans(l *config.Lab, e Env) ([]Plan, error) {
	settings := l.Stacks.ByName()
	var plans []Plan
	for _, s := range Enabled(l) {
		st := settings[s.Name]
		p := Plan{Name: s.Name}
		if s.Name == "argocd" && l.Stacks.Prometheus.IsEnabled() {
			p.DependsOn = []string{"prometheus"}
		}
		for _, c := range s.Charts {
			v, err := Values(c.Release, e)
			if err != nil {
				return nil, err
			}
			if c.Release == "argocd" && l.Stacks.Prometheus.IsEnabled() {
				v = Merge(v, map[string]any{"controller": map[string]any{"metrics": map[string]any{"enabled": true, "serviceMonitor": map[string]any{"enabled": true}}}})
			}
			version := c.Version
			if st.Version != "" && c.Release != "linkerd-crds" {
				version = st.Version
			}
			p.Releases = append(p.Releases, Release{Name: c.Release, Namespace: c.Namespace,
				Chart: Source{Repo: c.Repo, Name: c.Name, Version: version}, Values: v, Timeout: st.Timeout})
		}
		plans = append(plans, p)
	}
	if g := GPUPlan(l); g != nil {
		// Ollama's GPU pods need the device plugin first.
		for i := range plans {
			if plans[i].Name == "ollama" {
				plans[i].DependsOn = append(plans[i].DependsOn, "gpu")
			}
		}
		plans = append(plans, *g)
	}
	return plans, nil
}

// The prometheus stack's release and namespace (its catalog entry).
const promRelease, promNamespace = "kube-prometheus-stack", "monitoring"

// PrometheusService is where the prometheus stack's server answers:
// kube-prometheus-stack names its Service <release>-prometheus, port 9090.
func PrometheusService() (namespace, name string, port int) {
	return promNamespace, promRelease + "-prometheus", 9090
}
