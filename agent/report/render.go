package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// Text writes the terminal summary.
func (r *Report) Text(w io.Writer) {
	fmt.Fprintf(w, "Pod %s/%s (%s)   trace %s\n", r.Namespace, r.Pod, r.Phase, r.TraceID)
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "√ no failure detected by the rules")
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s [%s] %s: %s\n    evidence: %s\n", mark(string(f.Severity)), f.Severity, f.Category, f.Cause, strings.Join(f.Evidence, ", "))
	}
	if h := r.History; h != nil {
		fmt.Fprintf(w, "\nS%s\n  last root cause: %s\n", since(h)[1:], h.LastCause)
	}
	fmt.Fprintf(w, "\nRoot cause: %s\n", r.RootCause())
	if a := r.Model.Answer; a != nil && a.RootCause != "" {
		fmt.Fprintf(w, "  (model %s, confidence %s, citing %s)\n", r.Model.Meta.Model, a.Confidence, strings.Join(a.Evidence, ", "))
	} else {
		fmt.Fprintf(w, "  (human-operator mode: %s)\n", r.Model.Reason)
	}
	for _, d := range r.Model.Dropped {
		fmt.Fprintf(w, "  dropped from the model's answer: %s\n", d)
	}
	if steps := r.Runbook(); len(steps) > 0 {
		fmt.Fprintln(w, "\nRunbook:")
		for i, s := range steps {
			fmt.Fprintf(w, "  %d. %s\n", i+1, s)
		}
	}
	if len(r.Runbooks) > 0 {
		fmt.Fprintln(w, "\nYour runbooks:")
		for _, h := range r.Runbooks {
			fmt.Fprintf(w, "  - %s (%s)\n", h.Ref(), h.Source)
		}
	}
	if g := r.GitOps; g != nil && g.Managed != nil {
		fmt.Fprintf(w, "\nGitOps: %s manages %s (Application %s, %s): a live change would be reverted at the next sync.\n", g.Managed.By, g.Workload, g.Managed.App, g.Managed.How)
		if g.Change != nil {
			fmt.Fprintf(w, "Change in git, %s (%s):\n%s", g.Change.File, g.Change.Why, g.Change.Diff)
		} else if g.Note != "" {
			fmt.Fprintf(w, "Change it in git: %s\n", g.Note)
		}
	}
	for _, a := range r.Actions {
		fmt.Fprintf(w, "\nRemediation: %s\n", a)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nNot collected: %s\n", strings.Join(r.Errors, "; "))
	}
}

func mark(sev string) string {
	switch sev {
	case "critical":
		return "×"
	case "warning":
		return "‼"
	}
	return "-"
}

// Runbook is the model's runbook when it gave one, else the rules'.
func (r *Report) Runbook() []string {
	if a := r.Model.Answer; a != nil && a.RootCause != "" && len(a.Runbook) > 0 {
		return a.Runbook
	}
	if p := r.Primary(); p != nil {
		return p.Runbook
	}
	return nil
}

// Markdown writes the post-mortem.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# Post-mortem: %s/%s\n\n", r.Namespace, r.Pod)
	fmt.Fprintf(w, "- Trace id: `%s`\n- Diagnosed: %s\n- Mode: %s\n\n", r.TraceID, r.Time.Format("2006-01-02 15:04:05 MST"), r.Model.Mode)
	fmt.Fprintf(w, "## Summary\n\n%s\n\n", r.RootCause())
	fmt.Fprintf(w, "## Impact\n\n")
	owner := "the pod itself (no controller)"
	if n := len(r.Owners); n > 0 {
		owner = fmt.Sprintf("%s %s", r.Owners[n-1].Kind, r.Owners[n-1].Name)
	}
	fmt.Fprintf(w, "Pod phase %s; workload: %s.", r.Phase, owner)
	if p := r.Primary(); p != nil {
		fmt.Fprintf(w, " Severity: %s (%s).", p.Severity, p.Category)
	}
	fmt.Fprint(w, "\n\n## Timeline\n\n")
	if len(r.Timeline) > 0 {
		fmt.Fprintln(w, "```mermaid\ntimeline\n    title "+r.Pod)
		for _, e := range r.Timeline {
			fmt.Fprintf(w, "    %s : %s\n", e.Time.UTC().Format("15:04:05"), mermaidSafe(e.What))
		}
		fmt.Fprint(w, "```\n\n")
		for _, e := range r.Timeline {
			fmt.Fprintf(w, "- %s %s\n", e.Time.UTC().Format(time3339), e.What)
		}
	} else {
		fmt.Fprintln(w, "No events recorded.")
	}
	fmt.Fprint(w, "\n## Root cause\n\n")
	for _, f := range r.Findings {
		fmt.Fprintf(w, "- **%s** (%s): %s — evidence: %s\n", f.Category, f.Severity, f.Cause, code(f.Evidence))
	}
	if a := r.Model.Answer; a != nil && a.RootCause != "" {
		fmt.Fprintf(w, "\nModel explanation (%s, confidence %s): %s — evidence: %s\n", r.Model.Meta.Model, a.Confidence, a.RootCause, code(a.Evidence))
	} else {
		fmt.Fprintf(w, "\nHuman-operator mode: %s\n", r.Model.Reason)
	}
	if len(r.Model.Dropped) > 0 {
		fmt.Fprintln(w, "\nDropped from the model's answer (ungrounded or not allowed):")
		for _, d := range r.Model.Dropped {
			fmt.Fprintf(w, "- %s\n", d)
		}
	}
	fmt.Fprint(w, "\n### Evidence\n\n| id | fact |\n|---|---|\n")
	for _, e := range r.Evidence {
		fmt.Fprintf(w, "| `%s` | %s |\n", e.ID, strings.ReplaceAll(e.Summary, "|", "\\|"))
	}
	fmt.Fprint(w, "\n## Remediation\n\n")
	switch {
	case len(r.Actions) > 0:
		for _, a := range r.Actions {
			fmt.Fprintf(w, "- %s\n", a)
		}
	case r.Model.Answer != nil && r.Model.Answer.Remediation.Action != "" && r.Model.Answer.Remediation.Action != "none":
		fmt.Fprintf(w, "- proposed: `%s` (run `lab diagnose --remediate` to apply after a dry run)\n", r.Model.Answer.Remediation.Action)
	default:
		fmt.Fprintln(w, "- none automatic; follow the runbook.")
	}
	if h := r.History; h != nil {
		fmt.Fprintf(w, "\n## Seen before\n\nThis failure (fingerprint `%s`) was %s. The last post-mortem's root cause: %s\n", h.Fingerprint, since(h), h.LastCause)
	}
	if g := r.GitOps; g != nil && g.Managed != nil {
		fmt.Fprintf(w, "\n## The fix, in git\n\n%s manages %s (Application `%s`; %s): a live patch would be reverted at its next sync, so lab proposes none.\n", g.Managed.By, g.Workload, g.Managed.App, g.Managed.How)
		if g.Change != nil {
			fmt.Fprintf(w, "\nIn `%s` (%s):\n\n```diff\n%s```\n", g.Change.File, g.Change.Why, g.Change.Diff)
		} else if g.Note != "" {
			fmt.Fprintf(w, "\n%s\n", g.Note)
		}
	}
	fmt.Fprint(w, "\n## Runbook\n\n")
	for i, s := range r.Runbook() {
		fmt.Fprintf(w, "%d. %s\n", i+1, s)
	}
	if len(r.Runbooks) > 0 {
		fmt.Fprint(w, "\nFrom the team's runbooks:\n\n")
		for _, h := range r.Runbooks {
			fmt.Fprintf(w, "- **%s** — %s (`%s`, %s)\n", h.Heading, h.Title, h.File, h.Source)
		}
	}
	fmt.Fprint(w, "\n## Follow-ups\n\n- Add an alert or a test that would have caught this earlier.\n- Record the fix in git so ArgoCD keeps it.\n")
	if r.Prompt.Tokens > 0 {
		fit := ""
		if r.Prompt.Shrunk {
			fit = fmt.Sprintf(", lowered to fit the model's %d-token context: the log digest left out %d lines or templates", r.Prompt.ModelContext, r.Prompt.DigestDropped)
		}
		fmt.Fprintf(w, "\n---\nPrompt: %d tokens (budget %d%s; a naive describe + tail-200 prompt would be %d), %d secrets redacted.\n", r.Prompt.Tokens, r.Prompt.Budget, fit, r.Prompt.NaiveTokens, r.Prompt.Redacted)
	}
}

const time3339 = "2006-01-02T15:04:05Z"

func code(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return "`" + strings.Join(ids, "`, `") + "`"
}

func mermaidSafe(s string) string {
	s = strings.NewReplacer(":", " -", "\n", " ", "#", "", ";", ",").Replace(s)
	if len(s) > 90 {
		s = s[:90] + "…"
	}
	return s
}

// Since says how often and where a failure was seen before: "seen 4 times
// since 2026-11-20, last on Deployment/cart (shop) at 2026-11-27 10:02".
func Since(h *History) string { return since(h) }

func since(h *History) string {
	times := "once"
	if h.Count > 1 {
		times = fmt.Sprintf("%d times", h.Count)
	}
	where := h.LastPod + " (" + h.LastNamespace + ")"
	if h.LastWorkload != "" {
		where = h.LastWorkload + " (" + h.LastNamespace + ")"
	}
	return fmt.Sprintf("seen %s since %s, last on %s at %s", times, h.First.UTC().Format("2006-01-02"), where, h.Last.UTC().Format("2006-01-02 15:04"))
}
