package action

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/core/ui"
)

// AgentApply is `lab agent apply`: the agent's RBAC and APF objects, and
// with Serve its in-cluster webhook server.
type AgentApply struct {
	*Config
	Serve  bool
	DryRun bool      // server-side dry run
	Output ui.Format // yaml: print the manifests instead of applying
}

// Run applies (or renders) the agent's objects.
func (a *AgentApply) Run() error {
	if a.Serve && a.Lab.Agent.LLM.Model == "" {
		// The pod has no lab.yaml nor the lab's state: it is told the model
		// the lab's Ollama serves (the one lab up pulled or imported), else
		// it would ask for the model its own default resolves to.
		a.Lab.Agent.LLM.Model = a.Model("")
	}
	if a.Output == ui.YAML {
		parts := deploy.Parts(a.Lab)
		if a.Serve {
			parts = append(parts, deploy.Serve)
		}
		return renderParts(a.UI, a.Lab, parts)
	}
	ap, cs, err := a.applier(a.DryRun)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := deploy.Install(ctx, ap, a.Lab)
	if err == nil && a.Serve {
		var more []kube.Result
		more, err = deploy.InstallServe(ctx, ap, cs, a.Lab, a.DryRun)
		res = append(res, more...)
	}
	printResults(a.UI, res, false)
	return err
}

// applier server-side applies to the resolved cluster (or only dry-runs).
func (c *Config) applier(dryRun bool) (*kube.Applier, kubernetes.Interface, error) {
	cfg, cs, err := c.Clients()
	if err != nil {
		return nil, nil, err
	}
	ap, err := kube.NewApplier(cfg, dryRun)
	return ap, cs, err
}

// renderParts prints the parts' manifests as YAML.
func renderParts(u *ui.UI, l *config.Lab, parts []deploy.Part) error {
	objs, err := deploy.Render(l, parts...)
	if err != nil {
		return err
	}
	fmt.Fprint(u.Out, deploy.YAML(objs))
	return nil
}

// APF is `lab agent apf`: the agent's FlowSchema and priority level.
type APF struct {
	*Config
	DryRun bool
	Output ui.Format // yaml: print the objects instead of applying
}

// Run applies (or renders) the APF objects.
func (a *APF) Run() error {
	if a.Output == ui.YAML {
		return renderParts(a.UI, a.Lab, []deploy.Part{deploy.APF})
	}
	objs, err := deploy.Render(a.Lab, deploy.APF)
	if err != nil {
		return err
	}
	ap, _, err := a.applier(a.DryRun)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := ap.Apply(ctx, objs)
	printResults(a.UI, res, a.DryRun)
	return err
}

func printResults(u *ui.UI, res []kube.Result, dryRun bool) {
	suffix := ""
	if dryRun {
		suffix = " (server dry run)"
	}
	for _, r := range res {
		fmt.Fprintf(u.Out, "%s %s%s\n", r.Object, r.Action, suffix)
	}
}

// APFStatus is `lab agent apf status`: the agent's priority level, live.
type APFStatus struct {
	*Config
	Output ui.Format
}

// Run prints the level's seats and queues; an error when the FlowSchema is
// not in effect.
func (a *APFStatus) Run() error {
	_, cs, err := a.Clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := deploy.ReadAPF(ctx, cs)
	if err != nil {
		return err
	}
	if a.Output == ui.JSON {
		return ui.Encode(a.UI.Out, a.Output, st)
	}
	fmt.Fprintf(a.UI.Out, "FlowSchema %s: Dangling=%s\n", st.FlowSchema, st.Dangling)
	fmt.Fprintf(a.UI.Out, "seats: nominal %.0f, current limit %.0f, executing %.0f\n", st.NominalSeats, st.CurrentSeats, st.ExecutingSeats)
	fmt.Fprintf(a.UI.Out, "requests: %.0f in queue, %.0f dispatched, %.0f rejected %v\n", st.InQueue, st.Dispatched, st.Rejected, st.RejectedByReason)
	if st.Dangling != "False" {
		return fmt.Errorf("the agent's FlowSchema is not in effect (Dangling=%s); run `lab agent apf`", st.Dangling)
	}
	return nil
}

// RBACCheck is `lab agent rbac-check`: the agent's permissions proven with
// real access reviews; ui.ErrReported when they differ from what lab declares.
type RBACCheck struct {
	*Config
	Output ui.Format
}

// Run reviews and prints.
func (a *RBACCheck) Run() error {
	cfg, err := a.RESTConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := deploy.RBACCheck(ctx, cfg, a.Lab)
	if err != nil {
		return err
	}
	if a.Output == ui.JSON {
		err = ui.Encode(a.UI.Out, a.Output, rep)
	} else {
		printRBAC(a.UI, rep)
	}
	if err == nil && !rep.Passed {
		return ui.ErrReported
	}
	return err
}

func printRBAC(u *ui.UI, rep deploy.Report) {
	fmt.Fprintf(u.Out, "permissions of %s\n", rep.User)
	for _, p := range rep.Probes {
		m, can, note := ui.MarkOK, "can", ""
		if !p.Allowed {
			can = "cannot"
		}
		if !p.OK {
			m, note = ui.MarkFail, " — NOT as declared"
		}
		fmt.Fprintf(u.Out, "%s %s %s%s\n", u.Mark(m), can, p.Probe, note)
	}
	for _, r := range rep.Undeclared {
		fmt.Fprintf(u.Out, "%s undeclared permission: %s\n", u.Mark(ui.MarkFail), r)
	}
	if rep.Passed {
		fmt.Fprintf(u.Out, "\n%s the agent can do exactly what lab declares\n", u.Mark(ui.MarkOK))
	} else {
		fmt.Fprintf(u.Out, "\n%s the agent's permissions differ from what lab declares (look for bindings to %s)\n", u.Mark(ui.MarkFail), rep.User)
	}
}

// AgentImage is `lab agent image`: load the agent's image from the local
// engine into the lab's kind or k3s nodes.
type AgentImage struct{ *Config }

// Run loads the image.
func (a *AgentImage) Run() error {
	p, err := cluster.New(a.Lab, a.Dir())
	if err != nil {
		return err
	}
	if _, ok := p.(cluster.ImageLoader); !ok {
		return fmt.Errorf("the %s provider's nodes are not lab's containers: push %s to a registry the cluster pulls from", p.Name(), deploy.AgentImage())
	}
	c := &pipeline.Context{Lab: a.Lab, Dir: a.Dir(), Provider: p, UI: a.UI}
	return c.LoadAgentImage(context.Background())
}
