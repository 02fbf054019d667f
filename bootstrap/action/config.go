// Package action is what each lab command does beyond `up`: one options
// struct per command with a Run method, composed over the capabilities
// (agent, stacks, gitops, bootstrap/cluster) the way helm's pkg/action is.
// cmd/ turns flags into one of these and calls Run; nothing else.
//
// Every action starts from a Config: the lab, the terminal, and the one
// resolution of which cluster and which model to talk to.
package action

import (
	"context"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/agent/llm"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/telemetry"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks"
)

// Config is what every action starts from.
type Config struct {
	Lab *config.Lab
	UI  *ui.UI
	// Kubeconfig is --kubeconfig; empty: the lab's own cluster when it runs
	// on this host, else the default loading rules ($KUBECONFIG, ~/.kube).
	Kubeconfig string
	// Context is --context within that kubeconfig.
	Context string
	// InPod: use the pod's ServiceAccount (the agent in the cluster).
	InPod bool
	// Kubectl: lab runs as a kubectl plugin (`kubectl lab …`, the binary
	// named kubectl-lab), so the cluster is kubectl's — $KUBECONFIG or
	// ~/.kube/config, --kubeconfig, --context — never the lab's own, and a
	// command's namespace defaults to the context's, as kubectl's do.
	Kubectl bool
}

// Dir is the lab's state folder on this host.
func (c *Config) Dir() string { return state.LabDir(c.Lab.Metadata.Name) }

// RESTConfig is the one answer to "which cluster": the pod's ServiceAccount,
// --kubeconfig, the lab's cluster, else the default kubeconfig.
//
// The client-side rate limiter is off (client-go's default is 5 QPS, burst
// 10, which made a triage of 56 pods wait most of its 17 s). The control
// plane is protected server-side instead, by API Priority and Fairness: the
// agent's own FlowSchema and priority level (`lab agent apf`), whose 429s
// the client waits out with Retry-After.
func (c *Config) RESTConfig() (*rest.Config, error) {
	cfg, err := c.restConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	return cfg, nil
}

func (c *Config) restConfig() (*rest.Config, error) {
	if c.InPod {
		return rest.InClusterConfig()
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
	} else if c.Context == "" && !c.Kubectl {
		if p, err := cluster.New(c.Lab, c.Dir()); err == nil {
			if ok, _ := p.Exists(context.Background()); ok {
				return p.RESTConfig()
			}
		}
		c.UI.Debug(1, "no lab %s on this host: using the default kubeconfig", c.Lab.Metadata.Name)
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context}).ClientConfig()
}

// APIWarnings sends the API server's warnings (a deprecated API, a
// finalizer name it does not like) to u's debug output (-v) instead of
// client-go's default, which prints each as a klog line into lab's own
// output.
func APIWarnings(u *ui.UI) {
	rest.SetDefaultWarningHandler(apiWarnings{u})
}

type apiWarnings struct{ u *ui.UI }

func (w apiWarnings) HandleWarningHeader(_ int, _ string, text string) {
	w.u.Debug(1, "API server warning: %s", text)
}

// KubectlPlugin tells whether lab was started as a kubectl plugin: kubectl
// runs `kubectl lab …` as kubectl-lab (krew's name for it) from PATH.
func KubectlPlugin(argv0 string) bool {
	return filepath.Base(argv0) == "kubectl-lab"
}

// Tracing exports this process's traces over OTLP when the OpenTelemetry
// variables (OTEL_EXPORTER_OTLP_ENDPOINT, …) or lab.yaml's
// agent.tracing.endpoint name a collector; the function it returns flushes
// them (call it before exiting). Without one, nothing is installed and it
// costs nothing.
func (c *Config) Tracing(service string) (func(), error) {
	configured := ""
	if c.Lab != nil {
		configured = c.Lab.Agent.Tracing.Endpoint
	}
	stop, err := telemetry.Setup(context.Background(), configured, service)
	if err != nil {
		return nil, err
	}
	if ep := telemetry.Endpoint(configured); ep != "" {
		c.UI.Debug(1, "traces to %s (OTLP/HTTP)", ep)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil {
			c.UI.Progress("traces not all exported: %v", err)
		}
	}, nil
}

// KubeNamespace is the namespace of the kubeconfig's context (kubectl's
// default for -n), "default" when it names none.
func (c *Config) KubeNamespace() string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.Kubeconfig
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context}).Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

// Clients returns the REST config and a clientset for it.
func (c *Config) Clients() (*rest.Config, kubernetes.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	return cfg, cs, err
}

// Model is the one answer to "which model": the flag, else agent.llm.model,
// else the model the lab was brought up with (recorded by `lab up`), else
// the one this host's GPU fits.
func (c *Config) Model(flag string) string {
	switch {
	case flag != "":
		return flag
	case c.Lab.Agent.LLM.Model != "":
		return c.Lab.Agent.LLM.Model
	}
	return pipeline.LabModel(c.Lab)
}

// LLM is the model client for endpoint (default agent.llm.endpoint) and the
// model Model resolves, with lab.yaml's retry and circuit breaker.
func (c *Config) LLM(endpoint, model string) (*llm.Client, error) {
	a := c.Lab.Agent.LLM
	if endpoint == "" {
		endpoint = a.Endpoint
	}
	return llm.New(endpoint, c.Model(model), a.Timeout,
		llm.Retry{Attempts: a.Retry.Attempts, Base: a.Retry.BaseDelay, Multiplier: a.Retry.Multiplier, Jitter: a.Retry.Jitter},
		&llm.Breaker{Ratio: a.Breaker.FailureRatio, Window: a.Breaker.Window, MinRequests: a.Breaker.MinRequests, Cooldown: a.Breaker.Cooldown})
}

// AgentImageRef is the agent's image reference (what `make image` builds).
func AgentImageRef() string { return deploy.AgentImage() }

// DefaultModelRegistry is where `lab bundle` fetches the model by default.
const DefaultModelRegistry = stacks.DefaultModelRegistry

// Whitelist is the remediations the agent may propose: none unless enabled.
func (c *Config) Whitelist() []string {
	if !c.Lab.Agent.Remediation.Enabled {
		return nil
	}
	return c.Lab.Agent.Remediation.Allowed
}
