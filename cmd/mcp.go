package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newMCP(g *globals) *cobra.Command {
	o := action.MCP{Config: &g.action}
	c := command("mcp", "Serve the agent to assistants over the Model Context Protocol: stdio (default) or streamable HTTP (--listen); read-only tools diagnose, triage, predict, lab_status, search_runbooks, incidents; resources runbook:// and postmortem://; remediate (plan, then confirm) only with --allow-remediation", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	f := c.Flags()
	f.StringVar(&o.Listen, "listen", "", "serve streamable HTTP at this address (POST/GET /mcp) instead of stdio; needs the bearer token")
	f.StringVar(&o.TokenFile, "token-file", "", "with --listen: file holding the bearer token (else $LAB_AGENT_WEBHOOK_TOKEN, as the webhook)")
	f.BoolVar(&o.NoAuth, "insecure-no-auth", false, "with --listen: accept anyone (local experiments only)")
	f.BoolVar(&o.NoLLM, "no-llm", false, "rules only: no model call")
	f.StringVar(&o.Endpoint, "llm-endpoint", "", "Ollama URL (default agent.llm.endpoint)")
	f.StringVar(&o.Model, "model", "", "model (default agent.llm.model, else the lab's)")
	f.BoolVar(&o.AllowRemediation, "allow-remediation", false, "add the remediate tool: a first call plans (server dry run) and returns a one-time confirmation id, a second call with it acts; lab.yaml's agent.remediation policy still applies")
	f.DurationVar(&o.VerifyTimeout, "verify-timeout", 2*time.Minute, "with --allow-remediation: how long to wait for the rollout before diagnosing the new pod")
	f.StringVar(&o.Prometheus, "prometheus", "", "Prometheus URL for predict (default: the lab's, through the API server)")
	f.StringVar(&o.LogFormat, "log-format", "", "events on stderr (a tool call, a resource read, a client; each tool call with its trace id): text (logfmt) or json (default $"+ui.LogFormatEnv+", else text)")
	kubeFlags(f, &g.action)
	return c
}
