package cmd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/agent/llm"
	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/remediate"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
)

type diagnoseOpts struct {
	namespace, output, kubeconfig, endpoint, model, prometheus string
	noLLM, doRemediate, yes, inCluster, inPod, all             bool
	replicas                                                   int
	timeout, verifyTimeout                                     time.Duration
}

func newDiagnose(g *globals) *cobra.Command {
	var o diagnoseOpts
	c := &cobra.Command{
		Use:   "diagnose [POD]",
		Short: "Diagnose a failing pod (evidence, rule-based findings, a grounded local-model explanation, post-mortem, runbook), or triage a namespace",
		Long: "Collects the pod's status, owners, events, current and previous logs and node; detects the failure with rules;\n" +
			"asks the local model (Ollama) to explain it citing evidence ids; prints a root cause, a runbook and, with\n" +
			"-o markdown, a post-mortem. With --no-llm, or when the model is down, the report comes from the rules alone.\n\n" +
			"Without POD: a triage of every pod of -n NAMESPACE (or -A, every namespace) with the rules — one line per pod\n" +
			"with a finding (the decisive fact), worst first; healthy pods are counted, not listed.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && (o.doRemediate || o.inCluster) {
				return fmt.Errorf("--remediate and --in-cluster need a POD: a triage only reads")
			}
			if len(args) == 1 && o.all {
				return fmt.Errorf("-A triages every namespace: give no POD, or -n NAMESPACE with it")
			}
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			var cfg *rest.Config
			if o.inPod {
				cfg, err = rest.InClusterConfig()
			} else {
				cfg, err = diagnoseConfig(g, l, o.kubeconfig)
			}
			if err != nil {
				return err
			}
			if o.inCluster {
				return diagnoseInCluster(g, l, cfg, args[0], o)
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
			defer cancel()
			if len(args) == 0 {
				return triage(ctx, g, cs, o)
			}
			ao := agent.Options{NoLLM: o.noLLM, Budget: l.Agent.LLM.TokenBudget, Whitelist: whitelist(l), LogBytes: 256 << 10,
				Log: g.ui}
			if ao.Runbooks, err = agent.LoadRunbooks(l); err != nil {
				return err
			}
			if !o.inPod { // a pod has no lab state to keep it in
				ao.Memory = memory.Open(memory.LabPath(l.Metadata.Name), l.Agent.Incidents)
				ao.GitOpsRepo, _ = l.GitOps.LocalRepo()
			}
			if o.prometheus != "" {
				if ao.Metrics, err = collect.NewPrometheus(o.prometheus); err != nil {
					return err
				}
			}
			if !o.noLLM {
				if ao.LLM, err = llmClient(l, o.endpoint, o.model); err != nil {
					return err
				}
				if g.ui.TTY && !g.ui.Quiet && o.output == "text" {
					ao.OnToken = func(string) { fmt.Fprint(g.ui.Err, ".") }
				}
			}
			r, err := agent.Diagnose(ctx, cs, o.namespace, args[0], ao)
			if err != nil {
				return err
			}
			if ao.OnToken != nil {
				fmt.Fprintln(g.ui.Err)
			}
			g.ui.Debug(1, "trace id %s", r.TraceID)
			if o.doRemediate {
				if err := runRemediation(ctx, g, cs, l, r, o); err != nil {
					return err
				}
			}
			switch o.output {
			case "json":
				return r.JSON(g.ui.Out)
			case "markdown", "md":
				r.Markdown(g.ui.Out)
			case "text":
				r.Text(g.ui.Out)
			default:
				return fmt.Errorf("--output: want text, markdown or json, got %q", o.output)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the pod (or of the triage)")
	f.BoolVarP(&o.all, "all-namespaces", "A", false, "without POD: triage every namespace")
	f.StringVarP(&o.output, "output", "o", "text", "text, markdown (post-mortem) or json")
	f.BoolVar(&o.noLLM, "no-llm", false, "do not ask the model: rules only (human-operator mode)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig to use instead of the lab's")
	f.StringVar(&o.endpoint, "llm-endpoint", "", "Ollama URL (default agent.llm.endpoint)")
	f.StringVar(&o.model, "model", "", "model (default agent.llm.model, else stacks.ollama.model)")
	f.StringVar(&o.prometheus, "prometheus", "", "Prometheus URL: add the pod's memory, CPU and restart series as evidence")
	f.BoolVar(&o.doRemediate, "remediate", false, "run the proposed whitelisted remediation (after a server-side dry run)")
	f.BoolVar(&o.yes, "yes", false, "with --remediate: do not ask for confirmation")
	f.IntVar(&o.replicas, "replicas", -1, "with --remediate and a scale action: the replica count")
	f.DurationVar(&o.verifyTimeout, "verify-timeout", 2*time.Minute, "with --remediate: how long to wait for the rollout before diagnosing again")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "overall timeout")
	f.BoolVar(&o.inCluster, "in-cluster", false, "run the diagnosis as a Job with the agent's ServiceAccount and stream its report back")
	f.BoolVar(&o.inPod, "in-cluster-run", false, "used by that Job: read the cluster with the pod's ServiceAccount")
	_ = f.MarkHidden("in-cluster-run")
	return c
}

// triage lists every pod of the namespace (or all) with a finding.
func triage(ctx context.Context, g *globals, cs kubernetes.Interface, o diagnoseOpts) error {
	ns := o.namespace
	if o.all {
		ns = ""
	}
	t, err := agent.TriageNamespace(ctx, cs, ns, agent.TriageOptions{})
	if err != nil {
		return err
	}
	switch o.output {
	case "json":
		return t.JSON(g.ui.Out)
	case "text":
		t.Text(g.ui.Out)
	default:
		return fmt.Errorf("--output: a triage is text or json, got %q", o.output)
	}
	return nil
}

func whitelist(l *config.Lab) []string {
	if !l.Agent.Remediation.Enabled {
		return nil
	}
	return l.Agent.Remediation.Allowed
}

// diagnoseConfig: --kubeconfig, else the lab's cluster, else $KUBECONFIG.
func diagnoseConfig(g *globals, l *config.Lab, kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if p, err := cluster.New(l, state.LabDir(l.Metadata.Name)); err == nil {
		if ok, _ := p.Exists(context.Background()); ok {
			return p.RESTConfig()
		}
	}
	g.ui.Debug(1, "no lab %s on this host: using the default kubeconfig", l.Metadata.Name)
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
}

func llmClient(l *config.Lab, endpoint, model string) (*llm.Client, error) {
	a := l.Agent.LLM
	if endpoint == "" {
		endpoint = a.Endpoint
	}
	if model == "" {
		model = a.Model
	}
	if model == "" { // the model the lab was brought up with; the GPU decides only without a lab
		model = pipeline.LabModel(l)
	}
	return llm.New(endpoint, model, a.Timeout,
		llm.Retry{Attempts: a.Retry.Attempts, Base: a.Retry.BaseDelay, Multiplier: a.Retry.Multiplier, Jitter: a.Retry.Jitter},
		&llm.Breaker{Ratio: a.Breaker.FailureRatio, Window: a.Breaker.Window, MinRequests: a.Breaker.MinRequests, Cooldown: a.Breaker.Cooldown})
}

func runRemediation(ctx context.Context, g *globals, cs kubernetes.Interface, l *config.Lab, r *report.Report, o diagnoseOpts) error {
	kind, replicas := r.ProposedAction()
	if gp := r.GitOps; gp != nil && gp.Managed != nil {
		r.Actions = append(r.Actions, fmt.Sprintf("not run: %s manages %s and would revert a live change; commit the change in git instead", gp.Managed.By, gp.Workload))
		return nil
	}
	if kind == "" {
		r.Actions = append(r.Actions, "nothing to remediate automatically")
		return nil
	}
	if o.replicas >= 0 {
		replicas = o.replicas
	}
	pol := remediate.Policy{Enabled: l.Agent.Remediation.Enabled, Allowed: l.Agent.Remediation.Allowed, Namespaces: l.Agent.Namespaces, MaxReplicas: l.Agent.Remediation.MaxReplicas}
	a, err := remediate.Plan(kind, replicas, r.Source, pol)
	if err != nil {
		r.Actions = append(r.Actions, "refused: "+err.Error())
		return nil
	}
	msg, err := remediate.Run(ctx, cs, a, true)
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	g.ui.Progress("%s", msg)
	if !o.yes {
		if !g.ui.TTY {
			r.Actions = append(r.Actions, "dry run only (no terminal to confirm; pass --yes): "+a.String())
			return nil
		}
		fmt.Fprintf(g.ui.Err, "run %s? [y/N] ", a)
		ans, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if strings.ToLower(strings.TrimSpace(ans)) != "y" {
			r.Actions = append(r.Actions, "declined: "+a.String())
			return nil
		}
	}
	msg, err = remediate.Run(ctx, cs, a, false)
	if err != nil {
		return err
	}
	r.Actions = append(r.Actions, msg)
	g.ui.Progress("verifying: waiting for the rollout, then diagnosing again")
	v, err := agent.Verify(ctx, cs, r, a, agent.Options{NoLLM: true, Runbooks: nil}, o.verifyTimeout)
	if err != nil {
		r.Actions = append(r.Actions, "not verified: "+err.Error())
		return nil
	}
	r.Actions = append(r.Actions, v)
	return nil
}

func diagnoseInCluster(g *globals, l *config.Lab, cfg *rest.Config, pod string, o diagnoseOpts) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	out := o.output
	if out == "text" {
		out = "markdown"
	}
	model := o.model
	if model == "" {
		model = l.Agent.LLM.Model
	}
	if model == "" && !o.noLLM { // the model the lab was brought up with, which the pod cannot look up
		model = pipeline.LabModel(l)
	}
	j, err := deploy.DiagnoseJob(l, deploy.JobSpec{Pod: pod, PodNamespace: o.namespace, Output: out, NoLLM: o.noLLM, Model: model})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	g.ui.Progress("running the diagnosis as a Job in %s (ServiceAccount %s)", l.Agent.Namespace, deploy.ServiceAccount)
	created, err := deploy.RunJob(ctx, cs, j, g.ui.Out)
	if created != nil {
		g.ui.Debug(1, "Job %s/%s", created.Namespace, created.Name)
	}
	return err
}
