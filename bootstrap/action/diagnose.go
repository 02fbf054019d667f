package action

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/remediate"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/ui"
)

// Diagnose is `lab diagnose`: one pod's report, or a triage of a namespace.
type Diagnose struct {
	*Config
	Namespace     string
	All           bool // triage every namespace
	Output        ui.Format
	Endpoint      string // Ollama URL; default agent.llm.endpoint
	Model         string
	Prometheus    string // add the pod's series as evidence
	NoLLM         bool
	Remediate     bool
	Yes           bool // run the remediation without asking
	Replicas      int  // a scale's replica count, from a person; < 0: none given
	ScaleDown     bool // a person allows fewer replicas than run now
	InCluster     bool // run as a Job with the agent's ServiceAccount
	Timeout       time.Duration
	VerifyTimeout time.Duration
}

// Run diagnoses pod, or triages when pod is empty.
func (d *Diagnose) Run(pod string) error {
	switch {
	case pod == "" && (d.Remediate || d.InCluster):
		return errors.New("--remediate and --in-cluster need a POD: a triage only reads")
	case pod != "" && d.All:
		return errors.New("-A triages every namespace: give no POD, or -n NAMESPACE with it")
	case pod == "" && d.Output == ui.Markdown:
		return errors.New("--output: a triage is text or json")
	}
	if d.Namespace == "" {
		d.Namespace = d.KubeNamespace()
	}
	flush, err := d.Tracing("lab")
	if err != nil {
		return err
	}
	defer flush()
	_, cs, err := d.Clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	if d.InCluster {
		return d.runJob(ctx, cs, pod)
	}
	if pod == "" {
		return d.triage(ctx, cs)
	}
	ao, err := d.agentOptions()
	if err != nil {
		return err
	}
	r, err := agent.Diagnose(ctx, cs, d.Namespace, pod, ao)
	if err != nil {
		return err
	}
	if ao.OnToken != nil {
		fmt.Fprintln(d.UI.Err)
	}
	d.UI.Debug(1, "trace id %s", r.TraceID)
	if d.Remediate {
		if err := d.remediate(ctx, cs, r); err != nil {
			return err
		}
	}
	switch d.Output {
	case ui.JSON:
		return r.JSON(d.UI.Out)
	case ui.Markdown:
		r.Markdown(d.UI.Out)
	default:
		r.Text(d.UI.Out)
	}
	return nil
}

// agentOptions is one diagnosis's options from lab.yaml and the flags.
func (d *Diagnose) agentOptions() (agent.Options, error) {
	l := d.Lab
	ao := agent.Options{NoLLM: d.NoLLM, Budget: l.Agent.LLM.TokenBudget, Whitelist: d.Whitelist(), LogBytes: 256 << 10, Log: d.UI}
	var err error
	if ao.Runbooks, err = agent.LoadRunbooks(l); err != nil {
		return ao, err
	}
	if !d.InPod { // a pod has no lab state to keep it in
		ao.Memory = memory.Open(memory.LabPath(l.Metadata.Name), l.Agent.Incidents)
		ao.GitOpsRepo, _ = l.GitOpsRepo()
	}
	if d.Prometheus != "" {
		if ao.Metrics, err = collect.NewPrometheus(d.Prometheus); err != nil {
			return ao, err
		}
	}
	if !d.NoLLM {
		if ao.LLM, err = d.LLM(d.Endpoint, d.Model); err != nil {
			return ao, err
		}
		if d.UI.TTY && !d.UI.Quiet && d.Output == ui.Text {
			ao.OnToken = func(string) { fmt.Fprint(d.UI.Err, ".") }
		}
	}
	return ao, nil
}

func (d *Diagnose) triage(ctx context.Context, cs kubernetes.Interface) error {
	ns := d.Namespace
	if d.All {
		ns = ""
	}
	t, err := agent.TriageNamespace(ctx, cs, ns, agent.TriageOptions{})
	if err != nil {
		return err
	}
	if d.Output == ui.JSON {
		return t.JSON(d.UI.Out)
	}
	t.Text(d.UI.Out)
	return nil
}

// remediate runs the report's whitelisted action after a server-side dry run
// and a person's yes (or --yes), then verifies it by diagnosing again.
func (d *Diagnose) remediate(ctx context.Context, cs kubernetes.Interface, r *report.Report) error {
	a, refused := planRemediation(d.Lab, r, d.Replicas, d.ScaleDown)
	if refused != "" {
		r.Actions = append(r.Actions, refused)
		return nil
	}
	msg, err := remediate.Run(ctx, cs, a, true)
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	d.UI.Progress("%s", msg)
	if !d.Yes {
		yes, asked := d.UI.Confirm(fmt.Sprintf("run %s?", a))
		switch {
		case !asked:
			r.Actions = append(r.Actions, "dry run only (no terminal to confirm; pass --yes): "+a.String())
			return nil
		case !yes:
			r.Actions = append(r.Actions, "declined: "+a.String())
			return nil
		}
	}
	if msg, err = remediate.Run(ctx, cs, a, false); err != nil {
		return err
	}
	r.Actions = append(r.Actions, msg)
	d.UI.Progress("verifying: waiting for the rollout, then diagnosing again")
	v, err := agent.Verify(ctx, cs, r, a, agent.Options{NoLLM: true}, d.VerifyTimeout)
	if err != nil {
		r.Actions = append(r.Actions, "not verified: "+err.Error())
		return nil
	}
	r.Actions = append(r.Actions, v)
	return nil
}

// planRemediation is the one way from a report to a live action (the CLI's
// --remediate and the MCP remediate tool): nothing on a workload Argo CD
// manages (it would revert it: the fix is a commit), only what the report
// proposes, within lab.yaml's agent.remediation policy. replicas ≥ 0
// overrides a scale's count (a person's number, never a model's). It
// returns the action, or why there is none.
func planRemediation(l *config.Lab, r *report.Report, replicas int, scaleDown bool) (remediate.Action, string) {
	kind, proposed := r.ProposedAction()
	if gp := r.GitOps; gp != nil && gp.Managed != nil {
		return remediate.Action{}, fmt.Sprintf("not run: %s manages %s and would revert a live change; commit the change in git instead", gp.Managed.By, gp.Workload)
	}
	if kind == "" {
		return remediate.Action{}, "nothing to remediate automatically"
	}
	if replicas >= 0 {
		proposed = replicas
	}
	pol := remediate.Policy{Enabled: l.Agent.Remediation.Enabled, Allowed: l.Agent.Remediation.Allowed, Namespaces: l.Agent.Namespaces, MaxReplicas: l.Agent.Remediation.MaxReplicas, ScaleDown: scaleDown}
	a, err := remediate.Plan(kind, proposed, r.Source, pol)
	if err != nil {
		return remediate.Action{}, "refused: " + err.Error()
	}
	return a, ""
}

// runJob runs the diagnosis as a Job with the agent's ServiceAccount and
// streams its report back.
func (d *Diagnose) runJob(ctx context.Context, cs kubernetes.Interface, pod string) error {
	out := d.Output
	if out == ui.Text {
		out = ui.Markdown
	}
	model := ""
	if !d.NoLLM { // resolved here: the pod cannot look up the lab's model
		model = d.Config.Model(d.Model)
	}
	j, err := deploy.DiagnoseJob(d.Lab, deploy.JobSpec{Pod: pod, PodNamespace: d.Namespace, Output: string(out), NoLLM: d.NoLLM, Model: model})
	if err != nil {
		return err
	}
	d.UI.Progress("running the diagnosis as a Job in %s (ServiceAccount %s)", d.Lab.Agent.Namespace, deploy.ServiceAccount)
	created, err := deploy.RunJob(ctx, cs, j, d.UI.Out)
	if created != nil {
		d.UI.Debug(1, "Job %s/%s", created.Namespace, created.Name)
	}
	return err
}
