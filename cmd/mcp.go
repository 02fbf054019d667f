package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newMCP(g *globals) *cobra.Command {
	o := action.MCP{Config: &g.action}
	c := command("mcp", "Serve the agent to assistants over the Model Context Protocol: stdio (default) or streamable HTTP (--listen); read-only tools diagnose, triage, search_runbooks, incidents", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	f := c.Flags()
	f.StringVar(&o.Listen, "listen", "", "serve streamable HTTP at this address (POST/GET /mcp) instead of stdio; needs the bearer token")
	f.StringVar(&o.TokenFile, "token-file", "", "with --listen: file holding the bearer token (else $LAB_AGENT_WEBHOOK_TOKEN, as the webhook)")
	f.BoolVar(&o.NoAuth, "insecure-no-auth", false, "with --listen: accept anyone (local experiments only)")
	f.BoolVar(&o.NoLLM, "no-llm", false, "rules only: no model call")
	f.StringVar(&o.Endpoint, "llm-endpoint", "", "Ollama URL (default agent.llm.endpoint)")
	f.StringVar(&o.Model, "model", "", "model (default agent.llm.model, else the lab's)")
	kubeFlags(f, &g.action)
	return c
}
