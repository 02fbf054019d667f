// Package report renders a diagnosis: a terminal summary, a Markdown
// post-mortem (summary, impact, timeline with a Mermaid diagram, root cause
// with cited evidence, remediation, runbook, follow-ups) and JSON. Every
// report carries the trace id that was also sent with the model request.
package report

import (
	"time"

	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/gitfix"
	"lab.dev/lab/agent/llm"
	"lab.dev/lab/agent/runbook"
)

// Report is one diagnosis.
type Report struct {
	TraceID   string             `json:"traceId"`
	Namespace string             `json:"namespace"`
	Pod       string             `json:"pod"`
	Time      time.Time          `json:"time"`
	Phase     string             `json:"phase"`
	Owners    []collect.Owner    `json:"owners"`
	Findings  []analyze.Finding  `json:"findings"`
	Evidence  []collect.Evidence `json:"evidence"`
	Timeline  []Event            `json:"timeline"`
	Model     ModelPart          `json:"model"`
	Prompt    PromptStats        `json:"prompt"`
	Errors    []string           `json:"collectionErrors,omitempty"`
	Actions   []string           `json:"actions,omitempty"`  // remediation done or proposed
	Runbooks  []runbook.Hit      `json:"runbooks,omitempty"` // the team's runbook sections for the findings, best first
	History   *History           `json:"history,omitempty"`  // this failure seen before (incident memory)
	GitOps    *GitOpsPart        `json:"gitops,omitempty"`   // who manages the workload, and the change to make in git
	Source    *collect.Bundle    `json:"-"`
}

// GitOpsPart is the GitOps-aware remediation: a workload Argo CD manages
// gets the change to make in git, never a live patch.
type GitOpsPart struct {
	Workload string          `json:"workload"` // Deployment/cart
	Managed  *gitfix.Managed `json:"managed,omitempty"`
	Change   *gitfix.Change  `json:"change,omitempty"`
	Note     string          `json:"note,omitempty"` // why there is no diff, when there is none
}

// ProposedAction is the remediation to run: the model's (already checked
// against the whitelist) when it proposed one, else the primary finding's —
// none for a workload Argo CD manages (it would revert a live change).
func (r *Report) ProposedAction() (string, int) {
	if r.GitOps != nil && r.GitOps.Managed != nil {
		return "", -1
	}
	if a := r.Model.Answer; a != nil && a.RootCause != "" && a.Remediation.Action != "" && a.Remediation.Action != "none" {
		// The action is an enum the whitelist bounds; a count is free model
		// text and is never taken: a scale's replicas come from a person.
		return a.Remediation.Action, -1
	}
	if p := r.Primary(); p != nil && len(p.Remediation) > 0 {
		return p.Remediation[0], -1
	}
	return "", -1
}

// History is what the agent remembers of earlier incidents with the same
// fingerprint (namespace-independent: category, owner kind, container,
// decisive log template, exit code).
type History struct {
	Fingerprint   string    `json:"fingerprint"`
	Count         int       `json:"count"` // earlier diagnoses with this fingerprint
	First         time.Time `json:"first"`
	Last          time.Time `json:"last"`
	LastNamespace string    `json:"lastNamespace"`
	LastPod       string    `json:"lastPod"`
	LastWorkload  string    `json:"lastWorkload,omitempty"`
	LastCause     string    `json:"lastCause"` // the last post-mortem's root cause
	LastTraceID   string    `json:"lastTraceId"`
}

// Event is one timeline entry.
type Event struct {
	Time    time.Time `json:"time"`
	What    string    `json:"what"`
	Warning bool      `json:"warning"`
}

// ModelPart is what the model added, or why it did not.
type ModelPart struct {
	Mode    string      `json:"mode"` // model or human-operator
	Reason  string      `json:"reason,omitempty"`
	Answer  *llm.Answer `json:"answer,omitempty"`
	Dropped []string    `json:"dropped,omitempty"`
	Meta    *llm.Meta   `json:"meta,omitempty"`
}

// PromptStats sizes what went to the model.
type PromptStats struct {
	Tokens      int `json:"tokens"`
	Budget      int `json:"budget"`
	LogLines    int `json:"logLines"`
	Redacted    int `json:"redacted"`
	NaiveTokens int `json:"naiveTokens"` // describe + tail 200 lines, for comparison
	// DigestDropped counts log lines and templates left out for the budget.
	DigestDropped int `json:"digestDropped,omitempty"`
	// ModelContext is the model's context window in its own tokens and
	// TokensPerChar what one character of prompt costs it (measured); the
	// budget shrinks the digest so prompt and answer fit (Ollama would cut
	// the prompt silently).
	ModelContext  int     `json:"modelContext,omitempty"`
	TokensPerChar float64 `json:"tokensPerChar,omitempty"`
	Shrunk        bool    `json:"shrunk,omitempty"` // the budget was lowered to fit the model's context
	Text          string  `json:"-"`                // the prompt as sent
}

// Primary is the most severe finding, if any.
func (r *Report) Primary() *analyze.Finding {
	if len(r.Findings) == 0 {
		return nil
	}
	return &r.Findings[0]
}

// RootCause is the model's root cause when it gave a grounded one, else the
// primary finding's cause.
func (r *Report) RootCause() string {
	if r.Model.Answer != nil && r.Model.Answer.RootCause != "" {
		return r.Model.Answer.RootCause
	}
	if p := r.Primary(); p != nil {
		return p.Cause
	}
	return "no failure detected"
}
