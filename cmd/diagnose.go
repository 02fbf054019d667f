package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newDiagnose(g *globals) *cobra.Command {
	o := action.Diagnose{Config: &g.action}
	c := command("diagnose [POD]", "Diagnose a failing pod (evidence, rule-based findings, a grounded local-model explanation, post-mortem, runbook), or triage a namespace", cobra.MaximumNArgs(1), func(args []string) error {
		return g.run(func() error { return o.Run(first(args)) })
	})
	c.Long = "Collects the pod's status, owners, events, current and previous logs and node; detects the failure with rules;\n" +
		"asks the local model (Ollama) to explain it citing evidence ids; prints a root cause, a runbook and, with\n" +
		"-o markdown, a post-mortem. With --no-llm, or when the model is down, the report comes from the rules alone.\n\n" +
		"Without POD: a triage of every pod of -n NAMESPACE (or -A, every namespace) with the rules — one line per pod\n" +
		"with a finding (the decisive fact), worst first; healthy pods are counted, not listed."
	c.PreRun = func(c *cobra.Command, _ []string) {
		if g.action.Kubectl && !c.Flags().Changed("namespace") {
			o.Namespace = "" // kubectl's: the context's namespace
		}
	}
	f := c.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of the pod (or of the triage; as kubectl lab: the context's)")
	f.BoolVarP(&o.All, "all-namespaces", "A", false, "without POD: triage every namespace")
	outputFlag(c, &o.Output, ui.Text, "markdown is the post-mortem; a triage is text or json", ui.Text, ui.Markdown, ui.JSON)
	f.BoolVar(&o.NoLLM, "no-llm", false, "do not ask the model: rules only (human-operator mode)")
	kubeFlags(f, &g.action)
	f.StringVar(&o.Endpoint, "llm-endpoint", "", "Ollama URL (default agent.llm.endpoint)")
	f.StringVar(&o.Model, "model", "", "model (default agent.llm.model, else the lab's)")
	f.StringVar(&o.Prometheus, "prometheus", "", "Prometheus URL: add the pod's memory, CPU and restart series as evidence")
	f.BoolVar(&o.Remediate, "remediate", false, "run the proposed whitelisted remediation (after a server-side dry run)")
	f.BoolVar(&o.Yes, "yes", false, "with --remediate: do not ask for confirmation")
	f.IntVar(&o.Replicas, "replicas", -1, "with --remediate and a scale action: the replica count (≥ 1; a model's number is never taken)")
	f.BoolVar(&o.ScaleDown, "allow-scale-down", false, "with --replicas: allow fewer replicas than the workload runs now")
	f.DurationVar(&o.VerifyTimeout, "verify-timeout", 2*time.Minute, "with --remediate: how long to wait for the rollout before diagnosing again")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "overall timeout")
	f.BoolVar(&o.InCluster, "in-cluster", false, "run the diagnosis as a Job with the agent's ServiceAccount and stream its report back")
	f.BoolVar(&g.action.InPod, "in-cluster-run", false, "used by that Job: read the cluster with the pod's ServiceAccount")
	_ = f.MarkHidden("in-cluster-run")
	return c
}
