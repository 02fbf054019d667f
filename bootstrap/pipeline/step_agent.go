package pipeline

import (
	"context"
	"fmt"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/kube"
)

// agent applies the agent's least-privilege RBAC and APF objects and loads
// its image into the nodes.
var agentStep = Step{Name: "agent",
	Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
		res, err := c.agentApply(ctx, true)
		if err != nil {
			return false, "", err
		}
		for _, r := range res {
			if r.Action != "unchanged" {
				return false, r.Object + " " + r.Action, nil
			}
		}
		if why := c.agentImagePending(ctx); why != "" {
			return false, why, nil
		}
		return true, fmt.Sprintf("%d agent objects up to date", len(res)), nil
	},
	Apply: func(ctx context.Context, c *Context) (string, error) {
		res, err := c.agentApply(ctx, false)
		if err == nil {
			if ierr := c.LoadAgentImage(ctx); ierr != nil {
				c.UI.Progress("  agent image not loaded: %v", ierr) // the in-cluster modes are optional
			}
		}
		changed := 0
		for _, r := range res {
			if r.Action != "unchanged" {
				changed++
			}
		}
		return fmt.Sprintf("%d of %d agent objects applied (RBAC, APF)", changed, len(res)), err
	}}

// agentApply server-side applies (or dry-runs) the agent's RBAC and APF objects.
func (c *Context) agentApply(ctx context.Context, dryRun bool) ([]kube.Result, error) {
	a, err := c.applier(dryRun)
	if err != nil {
		return nil, err
	}
	if dryRun {
		objs, err := deploy.Render(c.Lab, deploy.Parts(c.Lab)...)
		if err != nil {
			return nil, err
		}
		return a.Apply(ctx, objs)
	}
	return deploy.Install(ctx, a, c.Lab)
}
