// Package config is the lab as the rest of lab reads it: the internal type,
// Go-native (time.Duration, plain bools, defaults applied), converted from
// the versioned wire format a lab.yaml is written in (package v1alpha1,
// the only version so far). Load reads a file of any known apiVersion,
// Encode writes the current one; the applied spec and its diffs use it.
package config

import (
	"lab.dev/lab/core/state"
	"regexp"

	"sort"

	v1 "lab.dev/lab/core/config/v1alpha1"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Lab is a whole lab.
type Lab struct {
	Metadata Metadata
	Cluster  Cluster
	Stacks   Stacks
	GitOps   GitOps
	Policies Policies
	Agent    Agent
}

// Policies is lab's policy set (Kyverno, NetworkPolicies, Linkerd
// authorization), delivered through GitOps.
type Policies struct {
	Enabled    bool
	Enforce    bool
	Namespaces []string // workload namespaces: default-deny NetworkPolicies
}

// PolicyExempt is the namespaces the policy set leaves alone, sorted: lab's own
// stacks' (their charts run what they need) and the agent's.
func (l *Lab) PolicyExempt() []string {
	set := map[string]bool{l.Agent.Namespace: true}
	for ns := range v1.LabNamespaces {
		set[ns] = true
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Action is the Kyverno failure action the policy set uses.
func (p Policies) Action() string {
	if p.Enforce {
		return "Enforce"
	}
	return "Audit"
}

// Metadata names the lab.
type Metadata struct{ Name string }

// Cluster is the cluster lab creates or adopts.
type Cluster struct {
	Provider          string // kind, k3s, kwok, existing
	Provisioner       string // "" or terraform
	KubernetesVersion string
	NodeImage         string
	ControlPlanes     int
	Workers           int
	GPUWorkers        int
	RegistryMirrors   []Mirror
	PortMappings      []PortMapping
	Kubeconfig        string
	Context           string
	Kwok              Kwok
}

// Mirror maps a registry to a mirror endpoint.
type Mirror struct{ Registry, Endpoint string }

// PortMapping exposes a node port on the host.
type PortMapping struct {
	ContainerPort, HostPort int
	ListenAddress, Protocol string
}

// Kwok configures the kwok provider.
type Kwok struct {
	BinDir, NodeCPU, NodeMemory string
	NodeGPUs                    int
}

// Stacks are the platform components.
type Stacks struct {
	ArgoCD, Linkerd, Prometheus Stack
	Ollama                      OllamaStack
	Kyverno                     Stack
}

// ByName is each stack's settings under its lab.yaml key (stacks.<name>).
func (s Stacks) ByName() map[string]Stack {
	return map[string]Stack{"argocd": s.ArgoCD, "linkerd": s.Linkerd, "prometheus": s.Prometheus, "ollama": s.Ollama.Stack, "kyverno": s.Kyverno}
}

// Stack is one Helm-installed component.
type Stack struct {
	Enabled bool
	Version string
	Values  map[string]any
	Timeout time.Duration
}

// IsEnabled reports whether the stack is on.
func (s Stack) IsEnabled() bool { return s.Enabled }

// OllamaStack is the Ollama stack plus the model it serves.
type OllamaStack struct {
	Stack
	Model string // "auto": chosen from the GPU's VRAM
}

// GitOps points Argo CD's root Application at a repository.
type GitOps struct {
	Enabled              bool
	Repo, Revision, Path string
}

// RemoteRepo: gitops.repo is a URL Argo CD clones itself (https://, ssh://,
// git@host:path), not a folder on this host.
func (g GitOps) RemoteRepo() bool {
	return strings.Contains(g.Repo, "://") || strings.HasPrefix(g.Repo, "git@")
}

// OwnGitOpsRepo is where `lab up` keeps the lab's own GitOps repository
// when gitops.repo is empty: in the lab's state folder, alone under gitops/.
func OwnGitOpsRepo(labName string) string {
	return filepath.Join(state.LabDir(labName), "gitops", "lab")
}

// GitOpsRepo is the lab's GitOps repository when it is a folder on this
// host: gitops.repo (LocalRepo), or, with gitops.repo empty, the lab's own
// once `lab up` wrote it. The agent reads its runbooks and proposes fixes as
// diffs of its files.
func (l *Lab) GitOpsRepo() (string, bool) {
	if r, ok := l.GitOps.LocalRepo(); ok {
		return r, true
	}
	if l.GitOps.Repo != "" || !l.GitOps.Enabled {
		return "", false
	}
	own := OwnGitOpsRepo(l.Metadata.Name)
	if _, err := os.Stat(filepath.Join(own, ".git")); err != nil {
		return "", false
	}
	return own, true
}

// LocalRepo is gitops.repo, absolute, when it names a folder on this host
// (not a git URL): lab serves it to the cluster, and the agent reads its
// runbooks and proposes fixes as diffs of its files.
func (g GitOps) LocalRepo() (string, bool) {
	r := g.Repo
	if r == "" || g.RemoteRepo() {
		return "", false
	}
	if fi, err := os.Stat(r); err != nil || !fi.IsDir() {
		return "", false
	}
	abs, err := filepath.Abs(r)
	return abs, err == nil
}

// Agent is lab's SRE agent.
type Agent struct {
	Namespace   string
	Namespaces  []string
	Runbooks    []string // folders of Markdown runbooks, besides the GitOps repo's runbooks/
	Incidents   int      // how many incident fingerprints are kept
	LLM         LLM
	Remediation Remediation
	APF         APF
	// Tracing is where the agent's traces go: an OTLP/HTTP endpoint, "" for
	// none (the OpenTelemetry variables win over it).
	Tracing    struct{ Endpoint string }
	Prediction Prediction
}

// Prediction tunes saturation predictions: the fit's window, the horizon
// that pages, how long a prediction holds before it fires, and the history
// a series needs first.
type Prediction struct {
	Window, Horizon, For, MinHistory time.Duration
}

// LLM is the agent's model endpoint and resilience settings.
type LLM struct {
	Endpoint, Model string
	Timeout         time.Duration
	TokenBudget     int
	Retry           Retry
	Breaker         Breaker
}

// OllamaService is the in-cluster URL of the lab's Ollama stack (release
// ollama in namespace ollama, the chart's Service on 11434).
const OllamaService = "http://ollama.ollama.svc.cluster.local:11434"

// InClusterLLMEndpoint is the model endpoint for the agent when it runs in
// a pod: agent.llm.endpoint, unless that is a loopback address (the default,
// meant for the host, where lab port-forwards) and the lab runs its own
// Ollama, which a pod reaches through its Service.
func (l *Lab) InClusterLLMEndpoint() string {
	e := l.Agent.LLM.Endpoint
	u, err := url.Parse(e)
	if err != nil || !l.Stacks.Ollama.IsEnabled() {
		return e
	}
	if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
		return OllamaService
	}
	return e
}

// Retry is a jittered exponential backoff.
type Retry struct {
	Attempts           int
	BaseDelay          time.Duration
	Multiplier, Jitter float64
}

// Breaker opens when too many calls failed in a window.
type Breaker struct {
	FailureRatio     float64
	Window, Cooldown time.Duration
	MinRequests      int
}

// Remediation is the whitelist of actions the agent may take.
type Remediation struct {
	Enabled     bool
	Allowed     []string
	MaxReplicas int
}

// APF is the agent's FlowSchema and PriorityLevelConfiguration.
type APF struct {
	Enabled                                    bool
	NominalConcurrencyShares, Queues, HandSize int
	QueueLengthLimit, MatchingPrecedence       int
}

// ModelName is an Ollama model name: [host[:port]/][namespace/]name[:tag]
// (Ollama's types/model grammar); lab.yaml's model fields are checked
// against it at load, and so is every model that enters a manifest.
var ModelName = regexp.MustCompile(`^([a-zA-Z0-9][a-zA-Z0-9._-]*(:[0-9]{1,5})?/)?([a-zA-Z0-9][a-zA-Z0-9._-]*/)?[a-zA-Z0-9][a-zA-Z0-9._-]{0,79}(:[a-zA-Z0-9_][a-zA-Z0-9._-]{0,79})?$`)
