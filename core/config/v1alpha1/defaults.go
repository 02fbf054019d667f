package v1alpha1

import (
	"fmt"
	"time"
)

// Default returns the documented default lab; SetDefaults fills the same values
// into a loaded file. This is the one place defaults live.
func Default() *Lab {
	l := &Lab{APIVersion: APIVersion, Kind: Kind}
	SetDefaults(l)
	return l
}

func boolp(b bool) *bool { return &b }

// defaulter fills unset fields. given says whether the file set a field path
// (cluster.workers) to a value; nil treats every zero as unset. A field the
// file gave keeps its value, zero included (jitter: 0, maxReplicas: 0).
type defaulter struct{ given func(path string) bool }

func (d defaulter) keep(path string) bool { return d.given != nil && d.given(path) }

func (d defaulter) str(path string, p *string, v string) {
	if *p == "" && !d.keep(path) {
		*p = v
	}
}

func (d defaulter) int(path string, p *int, v int) {
	if *p == 0 && !d.keep(path) {
		*p = v
	}
}

func (d defaulter) float(path string, p *float64, v float64) {
	if *p == 0 && !d.keep(path) {
		*p = v
	}
}

func (d defaulter) dur(path string, p *Duration, v time.Duration) {
	if p.Duration == 0 && !d.keep(path) {
		p.Duration = v
	}
}

func orBool(p **bool, v bool) {
	if *p == nil {
		*p = boolp(v)
	}
}

// SetDefaults fills every unset field of l, taking every zero as unset. Load
// uses setDefaults with the paths the file gave, so a zero written in the
// file survives.
func SetDefaults(l *Lab) { setDefaults(l, defaulter{}) }

func setDefaults(l *Lab, d defaulter) {
	d.str("metadata.name", &l.Metadata.Name, "lab")
	c := &l.Cluster
	d.str("cluster.provider", &c.Provider, "kind")
	d.str("cluster.kubernetesVersion", &c.KubernetesVersion, "v1.37.0")
	d.int("cluster.controlPlanes", &c.ControlPlanes, 1)
	d.str("cluster.kwok.nodeCPU", &c.Kwok.NodeCPU, "8")
	d.str("cluster.kwok.nodeMemory", &c.Kwok.NodeMemory, "32Gi")
	if c.GPUWorkers > 0 && c.Kwok.NodeGPUs == 0 && !d.keep("cluster.kwok.nodeGPUs") {
		c.Kwok.NodeGPUs = 1
	}
	for i := range c.PortMappings {
		pm := fmt.Sprintf("cluster.portMappings[%d].", i)
		d.str(pm+"listenAddress", &c.PortMappings[i].ListenAddress, "127.0.0.1")
		d.str(pm+"protocol", &c.PortMappings[i].Protocol, "TCP")
	}

	s := &l.Stacks
	pol := &l.Policies
	orBool(&pol.Enabled, false)
	if len(pol.Namespaces) == 0 && !d.keep("policies.namespaces") {
		pol.Namespaces = []string{"demo"}
	}
	orBool(&s.Kyverno.Enabled, false)
	if *pol.Enabled { // one switch: the policy set brings its admission controller
		on := true
		s.Kyverno.Enabled = &on
	}
	for name, st := range map[string]*Stack{"argocd": &s.ArgoCD, "linkerd": &s.Linkerd, "prometheus": &s.Prometheus, "ollama": &s.Ollama.Stack, "kyverno": &s.Kyverno} {
		orBool(&st.Enabled, true)
		d.dur("stacks."+name+".timeout", &st.Timeout, 10*time.Minute)
	}
	d.str("stacks.ollama.model", &s.Ollama.Model, "auto")

	g := &l.GitOps
	orBool(&g.Enabled, s.ArgoCD.IsEnabled())
	d.str("gitops.revision", &g.Revision, "HEAD")
	d.str("gitops.path", &g.Path, "apps")

	a := &l.Agent
	d.str("agent.namespace", &a.Namespace, "lab-agent")
	if len(a.Namespaces) == 0 {
		a.Namespaces = []string{"default", "demo"}
	}
	d.str("agent.llm.endpoint", &a.LLM.Endpoint, "http://127.0.0.1:11434")
	d.dur("agent.llm.timeout", &a.LLM.Timeout, 120*time.Second)
	d.int("agent.llm.tokenBudget", &a.LLM.TokenBudget, 1500)
	d.int("agent.incidents", &a.Incidents, 500)
	d.dur("agent.prediction.window", &a.Prediction.Window, time.Hour)
	d.dur("agent.prediction.horizon", &a.Prediction.Horizon, 2*time.Hour)
	d.dur("agent.prediction.for", &a.Prediction.For, 10*time.Minute)
	d.dur("agent.prediction.minHistory", &a.Prediction.MinHistory, 30*time.Minute)
	d.int("agent.llm.retry.attempts", &a.LLM.Retry.Attempts, 5)
	d.dur("agent.llm.retry.baseDelay", &a.LLM.Retry.BaseDelay, 2*time.Second)
	d.float("agent.llm.retry.multiplier", &a.LLM.Retry.Multiplier, 2)
	d.float("agent.llm.retry.jitter", &a.LLM.Retry.Jitter, 0.1)
	d.float("agent.llm.breaker.failureRatio", &a.LLM.Breaker.FailureRatio, 0.2)
	d.dur("agent.llm.breaker.window", &a.LLM.Breaker.Window, 60*time.Second)
	d.int("agent.llm.breaker.minRequests", &a.LLM.Breaker.MinRequests, 5)
	d.dur("agent.llm.breaker.cooldown", &a.LLM.Breaker.Cooldown, 30*time.Second)
	if len(a.Remediation.Allowed) == 0 {
		a.Remediation.Allowed = []string{"rollout-restart", "scale", "delete-failed-pod"}
	}
	d.int("agent.remediation.maxReplicas", &a.Remediation.MaxReplicas, 5)
	orBool(&a.APF.Enabled, true)
	d.int("agent.apf.nominalConcurrencyShares", &a.APF.NominalConcurrencyShares, 10)
	d.int("agent.apf.queues", &a.APF.Queues, 16)
	d.int("agent.apf.handSize", &a.APF.HandSize, 4)
	d.int("agent.apf.queueLengthLimit", &a.APF.QueueLengthLimit, 50)
	d.int("agent.apf.matchingPrecedence", &a.APF.MatchingPrecedence, 1000)
}
