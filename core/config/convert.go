package config

import (
	"time"

	v1 "lab.dev/lab/core/config/v1alpha1"
)

// FromV1alpha1 converts a defaulted v1alpha1 Lab to the internal type.
func FromV1alpha1(in *v1.Lab) *Lab {
	c, s, g, a := in.Cluster, in.Stacks, in.GitOps, in.Agent
	out := &Lab{
		Metadata: Metadata{Name: in.Metadata.Name},
		Cluster: Cluster{Provider: c.Provider, Provisioner: c.Provisioner, KubernetesVersion: c.KubernetesVersion,
			NodeImage: c.NodeImage, ControlPlanes: c.ControlPlanes, Workers: c.Workers, GPUWorkers: c.GPUWorkers,
			Kubeconfig: c.Kubeconfig, Context: c.Context,
			Kwok: Kwok{BinDir: c.Kwok.BinDir, NodeCPU: c.Kwok.NodeCPU, NodeMemory: c.Kwok.NodeMemory, NodeGPUs: c.Kwok.NodeGPUs}},
		Stacks: Stacks{ArgoCD: stackFrom(s.ArgoCD), Linkerd: stackFrom(s.Linkerd), Prometheus: stackFrom(s.Prometheus),
			Ollama: OllamaStack{Stack: stackFrom(s.Ollama.Stack), Model: s.Ollama.Model}, Kyverno: stackFrom(s.Kyverno)},
		GitOps:   GitOps{Enabled: isTrue(g.Enabled), Repo: g.Repo, Revision: g.Revision, Path: g.Path},
		Policies: Policies{Enabled: isTrue(in.Policies.Enabled), Enforce: in.Policies.Enforce, Namespaces: append([]string(nil), in.Policies.Namespaces...)},
		Agent: Agent{Namespace: a.Namespace, Namespaces: append([]string(nil), a.Namespaces...), Runbooks: append([]string(nil), a.Runbooks...), Incidents: a.Incidents,
			LLM: LLM{Endpoint: a.LLM.Endpoint, Model: a.LLM.Model, Timeout: a.LLM.Timeout.Duration, TokenBudget: a.LLM.TokenBudget,
				Retry:   Retry{Attempts: a.LLM.Retry.Attempts, BaseDelay: a.LLM.Retry.BaseDelay.Duration, Multiplier: a.LLM.Retry.Multiplier, Jitter: a.LLM.Retry.Jitter},
				Breaker: Breaker{FailureRatio: a.LLM.Breaker.FailureRatio, Window: a.LLM.Breaker.Window.Duration, Cooldown: a.LLM.Breaker.Cooldown.Duration, MinRequests: a.LLM.Breaker.MinRequests}},
			Remediation: Remediation{Enabled: a.Remediation.Enabled, Allowed: append([]string(nil), a.Remediation.Allowed...), MaxReplicas: a.Remediation.MaxReplicas},
			APF: APF{Enabled: isTrue(a.APF.Enabled), NominalConcurrencyShares: a.APF.NominalConcurrencyShares, Queues: a.APF.Queues,
				HandSize: a.APF.HandSize, QueueLengthLimit: a.APF.QueueLengthLimit, MatchingPrecedence: a.APF.MatchingPrecedence}},
	}
	out.Agent.Tracing.Endpoint = a.Tracing.Endpoint
	out.Agent.Prediction = Prediction{Window: a.Prediction.Window.Duration, Horizon: a.Prediction.Horizon.Duration,
		For: a.Prediction.For.Duration, MinHistory: a.Prediction.MinHistory.Duration}
	for _, m := range c.RegistryMirrors {
		out.Cluster.RegistryMirrors = append(out.Cluster.RegistryMirrors, Mirror{Registry: m.Registry, Endpoint: m.Endpoint})
	}
	for _, p := range c.PortMappings {
		out.Cluster.PortMappings = append(out.Cluster.PortMappings, PortMapping{ContainerPort: p.ContainerPort, HostPort: p.HostPort, ListenAddress: p.ListenAddress, Protocol: p.Protocol})
	}
	return out
}

// ToV1alpha1 converts the internal type back to the wire format (lab config
// view, the applied spec lab records, its diffs).
func ToV1alpha1(in *Lab) *v1.Lab {
	c, s, g, a := in.Cluster, in.Stacks, in.GitOps, in.Agent
	out := &v1.Lab{APIVersion: v1.APIVersion, Kind: v1.Kind,
		Metadata: v1.Metadata{Name: in.Metadata.Name},
		Cluster: v1.Cluster{Provider: c.Provider, Provisioner: c.Provisioner, KubernetesVersion: c.KubernetesVersion,
			NodeImage: c.NodeImage, ControlPlanes: c.ControlPlanes, Workers: c.Workers, GPUWorkers: c.GPUWorkers,
			Kubeconfig: c.Kubeconfig, Context: c.Context,
			Kwok: v1.Kwok{BinDir: c.Kwok.BinDir, NodeCPU: c.Kwok.NodeCPU, NodeMemory: c.Kwok.NodeMemory, NodeGPUs: c.Kwok.NodeGPUs}},
		Stacks: v1.Stacks{ArgoCD: stackTo(s.ArgoCD), Linkerd: stackTo(s.Linkerd), Prometheus: stackTo(s.Prometheus),
			Ollama: v1.OllamaStack{Stack: stackTo(s.Ollama.Stack), Model: s.Ollama.Model}, Kyverno: stackTo(s.Kyverno)},
		GitOps:   v1.GitOps{Enabled: ptr(g.Enabled), Repo: g.Repo, Revision: g.Revision, Path: g.Path},
		Policies: v1.Policies{Enabled: ptr(in.Policies.Enabled), Enforce: in.Policies.Enforce, Namespaces: append([]string(nil), in.Policies.Namespaces...)},
		Agent: v1.Agent{Namespace: a.Namespace, Namespaces: append([]string(nil), a.Namespaces...), Runbooks: append([]string(nil), a.Runbooks...), Incidents: a.Incidents,
			LLM: v1.LLM{Endpoint: a.LLM.Endpoint, Model: a.LLM.Model, Timeout: dur(a.LLM.Timeout), TokenBudget: a.LLM.TokenBudget,
				Retry:   v1.Retry{Attempts: a.LLM.Retry.Attempts, BaseDelay: dur(a.LLM.Retry.BaseDelay), Multiplier: a.LLM.Retry.Multiplier, Jitter: a.LLM.Retry.Jitter},
				Breaker: v1.Breaker{FailureRatio: a.LLM.Breaker.FailureRatio, Window: dur(a.LLM.Breaker.Window), Cooldown: dur(a.LLM.Breaker.Cooldown), MinRequests: a.LLM.Breaker.MinRequests}},
			Remediation: v1.Remediation{Enabled: a.Remediation.Enabled, Allowed: append([]string(nil), a.Remediation.Allowed...), MaxReplicas: a.Remediation.MaxReplicas},
			APF: v1.APF{Enabled: ptr(a.APF.Enabled), NominalConcurrencyShares: a.APF.NominalConcurrencyShares, Queues: a.APF.Queues,
				HandSize: a.APF.HandSize, QueueLengthLimit: a.APF.QueueLengthLimit, MatchingPrecedence: a.APF.MatchingPrecedence},
			Tracing: v1.Tracing{Endpoint: a.Tracing.Endpoint},
			Prediction: v1.Prediction{Window: dur(a.Prediction.Window), Horizon: dur(a.Prediction.Horizon),
				For: dur(a.Prediction.For), MinHistory: dur(a.Prediction.MinHistory)}},
	}
	for _, m := range c.RegistryMirrors {
		out.Cluster.RegistryMirrors = append(out.Cluster.RegistryMirrors, v1.Mirror{Registry: m.Registry, Endpoint: m.Endpoint})
	}
	for _, p := range c.PortMappings {
		out.Cluster.PortMappings = append(out.Cluster.PortMappings, v1.PortMapping{ContainerPort: p.ContainerPort, HostPort: p.HostPort, ListenAddress: p.ListenAddress, Protocol: p.Protocol})
	}
	return out
}

func stackFrom(s v1.Stack) Stack {
	return Stack{Enabled: isTrue(s.Enabled), Version: s.Version, Values: s.Values, Timeout: s.Timeout.Duration}
}

func stackTo(s Stack) v1.Stack {
	return v1.Stack{Enabled: ptr(s.Enabled), Version: s.Version, Values: s.Values, Timeout: dur(s.Timeout)}
}

func isTrue(b *bool) bool             { return b != nil && *b }
func ptr(b bool) *bool                { return &b }
func dur(d time.Duration) v1.Duration { return v1.Duration{Duration: d} }
