package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/gitfix"
	"lab.dev/lab/agent/llm"
)

// The model's action is taken (the whitelist bounded it), its replica count
// never: "scale to 0" from free model text must not reach a Deployment.
func TestProposedActionIgnoresModelReplicas(t *testing.T) {
	r := &Report{Model: ModelPart{Mode: "model", Answer: &llm.Answer{RootCause: "load", Remediation: llm.Remediation{Action: "scale", Replicas: 0}}}}
	if kind, n := r.ProposedAction(); kind != "scale" || n != -1 {
		t.Fatalf("ProposedAction = %s, %d; want scale, -1 (no count from the model)", kind, n)
	}
	r = &Report{Findings: []analyze.Finding{{Category: "OOMKilled", Remediation: []string{"rollout-restart"}}}}
	if kind, n := r.ProposedAction(); kind != "rollout-restart" || n != -1 {
		t.Fatalf("from the rules: %s, %d", kind, n)
	}
	r.GitOps = &GitOpsPart{Managed: &gitfix.Managed{By: "Argo CD"}}
	if kind, _ := r.ProposedAction(); kind != "" {
		t.Fatalf("a workload Argo CD manages gets no live action, got %s", kind)
	}
}

// Every renderer carries the trace id and the primary cause.
func TestRenderers(t *testing.T) {
	r := &Report{TraceID: "abc123", Namespace: "shop", Pod: "web-1", Phase: "Running",
		Findings: []analyze.Finding{{Category: "OOMKilled", Severity: analyze.Critical, Cause: "container app was OOM-killed", Evidence: []string{"container:app:last"}}},
		Model:    ModelPart{Mode: "human-operator", Reason: "--no-llm"}}
	var text, md, js bytes.Buffer
	r.Text(&text)
	r.Markdown(&md)
	if err := r.JSON(&js); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String(), "json": js.String()} {
		if !strings.Contains(out, "abc123") || !strings.Contains(out, "OOM-killed") {
			t.Errorf("%s lacks the trace id or the cause:\n%s", name, out)
		}
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Errorf("JSON does not parse: %v", err)
	}
}
