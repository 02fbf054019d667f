package config

import "time"

// Default returns the documented default lab; SetDefaults fills the same values
// into a loaded file. This is the one place defaults live.
func Default() *Lab {
	l := &Lab{APIVersion: APIVersion, Kind: Kind}
	SetDefaults(l)
	return l
}

func boolp(b bool) *bool { return &b }

func orStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func orInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func orFloat(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

func orDur(p *Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}

func orBool(p **bool, v bool) {
	if *p == nil {
		*p = boolp(v)
	}
}

// SetDefaults fills every unset field of l. Zero counts are taken as "unset"
// only where zero is not a meaningful value (workers: 0 is a valid lab).
func SetDefaults(l *Lab) {
	orStr(&l.Metadata.Name, "lab")
	c := &l.Cluster
	orStr(&c.Provider, "kind")
	orStr(&c.KubernetesVersion, "v1.37.0")
	orInt(&c.ControlPlanes, 1)
	orStr(&c.Kwok.NodeCPU, "8")
	orStr(&c.Kwok.NodeMemory, "32Gi")
	if c.GPUWorkers > 0 && c.Kwok.NodeGPUs == 0 {
		c.Kwok.NodeGPUs = 1
	}
	for i := range c.PortMappings {
		orStr(&c.PortMappings[i].ListenAddress, "127.0.0.1")
		orStr(&c.PortMappings[i].Protocol, "TCP")
	}

	s := &l.Stacks
	for _, st := range []*Stack{&s.ArgoCD, &s.Linkerd, &s.Prometheus, &s.Ollama.Stack} {
		orBool(&st.Enabled, true)
		orDur(&st.Timeout, 10*time.Minute)
	}
	orStr(&s.Ollama.Model, "auto")

	g := &l.GitOps
	orBool(&g.Enabled, s.ArgoCD.IsEnabled())
	orStr(&g.Revision, "HEAD")
	orStr(&g.Path, "apps")

	a := &l.Agent
	orStr(&a.Namespace, "lab-agent")
	if len(a.Namespaces) == 0 {
		a.Namespaces = []string{"default", "demo"}
	}
	orStr(&a.LLM.Endpoint, "http://127.0.0.1:11434")
	orDur(&a.LLM.Timeout, 120*time.Second)
	orInt(&a.LLM.TokenBudget, 1500)
	orInt(&a.LLM.Retry.Attempts, 5)
	orDur(&a.LLM.Retry.BaseDelay, 2*time.Second)
	orFloat(&a.LLM.Retry.Multiplier, 2)
	orFloat(&a.LLM.Retry.Jitter, 0.1)
	orFloat(&a.LLM.Breaker.FailureRatio, 0.2)
	orDur(&a.LLM.Breaker.Window, 60*time.Second)
	orInt(&a.LLM.Breaker.MinRequests, 5)
	orDur(&a.LLM.Breaker.Cooldown, 30*time.Second)
	if len(a.Remediation.Allowed) == 0 {
		a.Remediation.Allowed = []string{"rollout-restart", "scale", "delete-failed-pod"}
	}
	orInt(&a.Remediation.MaxReplicas, 5)
	orBool(&a.APF.Enabled, true)
	orInt(&a.APF.NominalConcurrencyShares, 10)
	orInt(&a.APF.Queues, 16)
	orInt(&a.APF.HandSize, 4)
	orInt(&a.APF.QueueLengthLimit, 50)
	orInt(&a.APF.MatchingPrecedence, 1000)
}
