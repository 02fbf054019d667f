// Package v1alpha1 is lab.yaml's wire format, apiVersion lab.dev/v1alpha1:
// its types, strict loading that reports every problem at once with
// file:line and field path, the defaults (applied in one place, only to
// fields the file does not give), validation, the JSON Schema (lab schema)
// and the commented template (lab init). The rest of lab reads the internal
// type in package config, converted from this one; a v1alpha2 is a sibling
// package plus a conversion, as kind does it.
//
// Field documentation lives in `doc` struct tags so the schema, the template
// and the reference stay in step with the types.
package v1alpha1

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// APIVersion and Kind identify a lab.yaml document.
const (
	APIVersion = "lab.dev/v1alpha1"
	Kind       = "Lab"
)

// Lab is the root of lab.yaml.
type Lab struct {
	APIVersion string   `json:"apiVersion" doc:"schema version of this file; must be lab.dev/v1alpha1"`
	Kind       string   `json:"kind" doc:"must be Lab"`
	Metadata   Metadata `json:"metadata"`
	Cluster    Cluster  `json:"cluster" doc:"the Kubernetes cluster the lab runs on"`
	Stacks     Stacks   `json:"stacks" doc:"the platform stacks lab installs with the Helm SDK"`
	GitOps     GitOps   `json:"gitops" doc:"the ArgoCD root Application (app-of-apps) lab hands the lab to"`
	Policies   Policies `json:"policies" doc:"policy as code, delivered through GitOps: Kyverno admission policies, default-deny NetworkPolicies, Linkerd authorization for Ollama"`
	Agent      Agent    `json:"agent" doc:"the SRE agent: lab diagnose, lab agent serve"`
}

// Policies is lab's policy set: one switch turns it on.
type Policies struct {
	Enabled    *bool    `json:"enabled,omitempty" doc:"install Kyverno (stacks.kyverno) and deliver lab's policy set through the GitOps repository as Application lab-policies, synced after the workloads' namespaces exist (wave 20)"`
	Enforce    bool     `json:"enforce" doc:"Enforce: the API server rejects a violating pod; default Audit: Kyverno reports it in PolicyReports and admits it"`
	Namespaces []string `json:"namespaces,omitempty" doc:"workload namespaces given a default-deny NetworkPolicy plus the allows lab's stacks need (DNS, Prometheus scraping); lab's own stack namespaces are never policed"`
}

// Metadata names the lab.
type Metadata struct {
	Name string `json:"name" doc:"lab name: a DNS label, used for the cluster, the kubeconfig context and host state" pattern:"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$"`
}

// Cluster describes the cluster lab creates or adopts.
type Cluster struct {
	Provider          string        `json:"provider" doc:"kind (containers via Docker/Podman), k3s, kwok (real control plane, simulated nodes), or existing (any kubeconfig)" enum:"kind,k3s,kwok,existing"`
	Provisioner       string        `json:"provisioner,omitempty" doc:"leave empty for lab to create the cluster itself, or terraform to keep it in Terraform state: lab renders a root module and drives init/plan/apply/destroy (kind, k3s, kwok)" enum:",terraform"`
	KubernetesVersion string        `json:"kubernetesVersion" doc:"Kubernetes version of the nodes, e.g. v1.34.0" pattern:"^v1\\.[0-9]+\\.[0-9]+$"`
	NodeImage         string        `json:"nodeImage,omitempty" doc:"node image: kind (empty = the pinned kindest/node image for kubernetesVersion) or k3s (empty = rancher/k3s:<kubernetesVersion>-k3s1)"`
	ControlPlanes     int           `json:"controlPlanes" doc:"number of control-plane nodes (1 or 3)" min:"1" max:"3"`
	Workers           int           `json:"workers" doc:"number of CPU worker nodes" min:"0" max:"50"`
	GPUWorkers        int           `json:"gpuWorkers" doc:"number of worker nodes given an NVIDIA GPU (needs the NVIDIA driver and nvidia-container-toolkit on the host)" min:"0" max:"16"`
	RegistryMirrors   []Mirror      `json:"registryMirrors,omitempty" doc:"pull-through mirrors for image registries (kind: containerd config patches)"`
	PortMappings      []PortMapping `json:"portMappings,omitempty" doc:"extra host ports mapped into the first control-plane node (kind)"`
	Kubeconfig        string        `json:"kubeconfig,omitempty" doc:"existing: kubeconfig file; other providers: where lab writes the lab's kubeconfig (empty = lab's state dir)"`
	Context           string        `json:"context,omitempty" doc:"existing: the kubeconfig context to use (empty = current context)"`
	Kwok              Kwok          `json:"kwok,omitempty" doc:"kwok provider settings"`
}

// Mirror maps a registry to a mirror endpoint.
type Mirror struct {
	Registry string `json:"registry" doc:"registry host to mirror, e.g. docker.io" required:"true"`
	Endpoint string `json:"endpoint" doc:"mirror URL, e.g. http://registry.local:5000" required:"true" pattern:"^https?://"`
}

// PortMapping exposes a node port on the host.
type PortMapping struct {
	ContainerPort int    `json:"containerPort" doc:"port inside the node" min:"1" max:"65535" required:"true"`
	HostPort      int    `json:"hostPort" doc:"port on the host" min:"1" max:"65535" required:"true"`
	ListenAddress string `json:"listenAddress,omitempty" doc:"host address to listen on (default 127.0.0.1)"`
	Protocol      string `json:"protocol,omitempty" doc:"TCP, UDP or SCTP" enum:",TCP,UDP,SCTP"`
}

// Kwok configures the kwok provider: a real control plane whose nodes are simulated.
type Kwok struct {
	BinDir     string `json:"binDir,omitempty" doc:"folder holding kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok (empty = the test-harness cache, see make testbin)"`
	NodeCPU    string `json:"nodeCPU,omitempty" doc:"CPU capacity of each simulated node" pattern:"^[0-9]+m?$"`
	NodeMemory string `json:"nodeMemory,omitempty" doc:"memory capacity of each simulated node" pattern:"^[0-9]+(Ki|Mi|Gi|Ti)?$"`
	NodeGPUs   int    `json:"nodeGPUs,omitempty" doc:"nvidia.com/gpu capacity of each simulated GPU worker" min:"0" max:"16"`
}

// Stacks are the platform components.
type Stacks struct {
	ArgoCD     Stack       `json:"argocd" doc:"Argo CD (argo-cd chart)"`
	Linkerd    Stack       `json:"linkerd" doc:"Linkerd (linkerd-crds + linkerd-control-plane charts, with lab's own ECDSA trust anchor)"`
	Prometheus Stack       `json:"prometheus" doc:"kube-prometheus-stack"`
	Ollama     OllamaStack `json:"ollama" doc:"Ollama (otwld ollama chart) and the model it serves"`
	Kyverno    Stack       `json:"kyverno" doc:"Kyverno (kyverno chart), the admission controller of lab's policy set; installed whenever policies.enabled is true, whatever enabled says here"`
}

// Stack is one Helm-installed component.
type Stack struct {
	Enabled *bool          `json:"enabled,omitempty" doc:"install this stack"`
	Version string         `json:"version,omitempty" doc:"chart version; empty = the version pinned in this lab release"`
	Values  map[string]any `json:"values,omitempty" doc:"extra Helm values merged over lab's own"`
	Timeout Duration       `json:"timeout,omitempty" doc:"how long to wait for the stack to become ready, e.g. 10m"`
}

// OllamaStack is the Ollama stack plus the model it pulls.
type OllamaStack struct {
	Stack `json:",inline"`
	Model string `json:"model,omitempty" doc:"Ollama model to pull; auto = chosen from the GPU's VRAM (phi3:mini under 12 GB, llama3:8b from 12 GB)" pattern:"^(auto|([a-zA-Z0-9][a-zA-Z0-9._-]*(:[0-9]{1,5})?/)?([a-zA-Z0-9][a-zA-Z0-9._-]*/)?[a-zA-Z0-9][a-zA-Z0-9._-]{0,79}(:[a-zA-Z0-9_][a-zA-Z0-9._-]{0,79})?)$"`
}

// IsEnabled reports whether the stack is on (defaults have been applied).
func (s Stack) IsEnabled() bool { return s.Enabled != nil && *s.Enabled }

// GitOps points ArgoCD's root Application at a repository.
type GitOps struct {
	Enabled  *bool  `json:"enabled,omitempty" doc:"create the root Application once ArgoCD is up"`
	Repo     string `json:"repo,omitempty" doc:"git URL, or a local directory that lab serves to the cluster itself (offline labs); empty = lab's embedded manifests"`
	Revision string `json:"revision,omitempty" doc:"branch, tag or commit"`
	Path     string `json:"path,omitempty" doc:"folder in the repo holding the child Applications"`
}

// Agent configures lab's SRE agent.
type Agent struct {
	Namespace   string      `json:"namespace" doc:"namespace the agent runs in" pattern:"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"`
	Namespaces  []string    `json:"namespaces,omitempty" doc:"namespaces the agent may read (and remediate in, if enabled)" pattern:"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"`
	LLM         LLM         `json:"llm" doc:"the local model that explains findings"`
	Remediation Remediation `json:"remediation" doc:"safe, whitelisted remediations"`
	APF         APF         `json:"apf" doc:"API Priority and Fairness objects that keep agent traffic from starving the control plane"`
	Runbooks    []string    `json:"runbooks,omitempty" doc:"folders of Markdown runbooks the agent retrieves from, besides the GitOps repository's runbooks/"`
	Incidents   int         `json:"incidents,omitempty" doc:"incidents the agent remembers (fingerprints of past diagnoses; the oldest dropped)" min:"0" max:"100000"`
	Tracing     Tracing     `json:"tracing,omitzero" doc:"OpenTelemetry traces of the agent's work"`
	Prediction  Prediction  `json:"prediction" doc:"saturation predictions: lab's PrometheusRule lab-saturation and lab agent serve's predictor"`
}

// Prediction tunes what is predicted to run out, and when it pages.
type Prediction struct {
	Window     Duration `json:"window,omitempty" doc:"history each trend is fitted on (predict_linear's range; the agent's window), at least 1m"`
	Horizon    Duration `json:"horizon,omitempty" doc:"page on what runs out within this time"`
	For        Duration `json:"for,omitempty" doc:"how long a prediction must hold before its alert fires"`
	MinHistory Duration `json:"minHistory,omitempty" doc:"a series younger than this pages nothing: a startup ramp is not a leak (at most window)"`
}

// Tracing says where the agent's traces go.
type Tracing struct {
	Endpoint string `json:"endpoint,omitempty" doc:"OTLP/HTTP base URL of a collector (e.g. http://otel-collector.monitoring:4318) that diagnoses, alerts and tool calls are exported to, from the host and from the in-cluster agent; empty: none (OTEL_EXPORTER_OTLP_ENDPOINT, when set, wins)" pattern:"^https?://[^\\s]+$"`
}

// LLM is the agent's model endpoint and resilience settings.
type LLM struct {
	Endpoint    string   `json:"endpoint" doc:"Ollama base URL" pattern:"^https?://"`
	Model       string   `json:"model,omitempty" doc:"model name; empty = stacks.ollama.model" pattern:"^([a-zA-Z0-9][a-zA-Z0-9._-]*(:[0-9]{1,5})?/)?([a-zA-Z0-9][a-zA-Z0-9._-]*/)?[a-zA-Z0-9][a-zA-Z0-9._-]{0,79}(:[a-zA-Z0-9_][a-zA-Z0-9._-]{0,79})?$"`
	Timeout     Duration `json:"timeout,omitempty" doc:"timeout of one model call"`
	TokenBudget int      `json:"tokenBudget" doc:"maximum prompt size in tokens" min:"256" max:"131072"`
	Retry       Retry    `json:"retry" doc:"retries with jittered exponential backoff on 429, 5xx and timeouts"`
	Breaker     Breaker  `json:"breaker" doc:"circuit breaker: above the failure ratio the agent answers from rules alone"`
}

// Retry is a jittered exponential backoff.
type Retry struct {
	Attempts   int      `json:"attempts" doc:"total tries, first one included" min:"1" max:"20"`
	BaseDelay  Duration `json:"baseDelay,omitempty" doc:"delay before the first retry"`
	Multiplier float64  `json:"multiplier" doc:"delay growth per retry" minf:"1" maxf:"10"`
	Jitter     float64  `json:"jitter" doc:"random fraction added or removed from each delay, 0 to 1" minf:"0" maxf:"1"`
}

// Breaker opens when too many calls failed in a window.
type Breaker struct {
	FailureRatio float64  `json:"failureRatio" doc:"open when more than this fraction of calls in the window failed" minf:"0" maxf:"1"`
	Window       Duration `json:"window,omitempty" doc:"sliding window the ratio is measured over"`
	MinRequests  int      `json:"minRequests" doc:"calls needed in the window before the breaker may open" min:"1"`
	Cooldown     Duration `json:"cooldown,omitempty" doc:"how long the breaker stays open before a trial call"`
}

// Remediation is the whitelist of actions the agent may take.
type Remediation struct {
	Enabled     bool     `json:"enabled" doc:"allow remediation at all; also creates the agent's remediation Role"`
	Allowed     []string `json:"allowed,omitempty" doc:"actions the agent may run" enum:"rollout-restart,scale,delete-failed-pod"`
	MaxReplicas int      `json:"maxReplicas" doc:"upper bound for scale" min:"0" max:"100"`
}

// APF is the agent's FlowSchema and PriorityLevelConfiguration.
type APF struct {
	Enabled                  *bool `json:"enabled,omitempty" doc:"create the agent's FlowSchema and PriorityLevelConfiguration"`
	NominalConcurrencyShares int   `json:"nominalConcurrencyShares" doc:"share of the API server's concurrency for agent traffic" min:"1" max:"1000"`
	Queues                   int   `json:"queues" doc:"number of queues" min:"1" max:"128"`
	HandSize                 int   `json:"handSize" doc:"queues each flow is shuffle-sharded over (<= queues)" min:"1" max:"128"`
	QueueLengthLimit         int   `json:"queueLengthLimit" doc:"requests waiting per queue before 429" min:"1" max:"10000"`
	MatchingPrecedence       int   `json:"matchingPrecedence" doc:"FlowSchema precedence (lower wins; system schemas use < 1000)" min:"1" max:"10000"`
}

// Duration is a time.Duration written as "30s", "2m" in YAML and JSON.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// String renders whole minutes and hours without trailing zero units ("10m", not "10m0s").
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalJSON reads "30s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// IsZero lets omitempty drop unset durations.
func (d Duration) IsZero() bool { return d.Duration == 0 }
