package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
	"go.opentelemetry.io/otel/attribute"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/digest"
	"lab.dev/lab/agent/gitfix"
	"lab.dev/lab/agent/llm"
	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/agent/runbook"
	"lab.dev/lab/core/telemetry"
	"lab.dev/lab/core/ui"
)

// Options shape one diagnosis.
type Options struct {
	NoLLM     bool
	LLM       *llm.Client // nil = no model configured
	Budget    int         // prompt token budget (lab.yaml agent.llm.tokenBudget)
	Whitelist []string    // remediation actions the model may propose
	LogBytes  int64
	OnToken   func(string)          // streaming progress
	Metrics   collect.MetricsSource // Prometheus, when the lab has it
	TraceID   string
	Log       ui.Logger // trace ids and model calls, at -v
	// Runbooks are the team's runbook sections; the best three for the
	// findings are cited in the report and the best one quoted to the model.
	// With a model, retrieval fuses BM25 with its embeddings.
	Runbooks *runbook.Index
	// Memory recognises a failure seen before and remembers this one.
	Memory *memory.Store
	// GitOpsRepo is the lab's GitOps repository when it is a folder here:
	// a workload Argo CD manages gets its fix as a diff of a file in it.
	GitOpsRepo    string
	ArgoNamespace string // where Argo CD's Applications live (default argocd)
	// Logs reads container logs; nil: the API server.
	Logs collect.LogSource
}

// NewTraceID returns a random 128-bit id, hex.
func NewTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Diagnose collects, detects, digests and (unless told not to, or the model
// is unavailable) asks the model; the report always comes out.
func Diagnose(ctx context.Context, cs kubernetes.Interface, namespace, pod string, o Options) (_ *report.Report, err error) {
	if o.TraceID == "" {
		o.TraceID = telemetry.TraceID(ctx) // a caller's trace: the webhook's sender's
	}
	if o.TraceID == "" {
		o.TraceID = NewTraceID()
	}
	ctx, span := telemetry.Start(ctx, o.TraceID, "diagnose", attribute.String("k8s.namespace.name", namespace), attribute.String("k8s.pod.name", pod))
	defer func() { telemetry.End(span, err) }()
	if o.Budget <= 0 {
		o.Budget = 1500
	}
	log := ui.Or(o.Log)
	logf := func(format string, a ...any) { log.Debug(1, format, a...) }
	pctx, phase := telemetry.Start(ctx, "", "collect")
	b, err := collect.Collect(pctx, cs, namespace, pod, collect.Options{LogBytes: o.LogBytes, Metrics: o.Metrics, Logs: o.Logs})
	telemetry.End(phase, err)
	if err != nil {
		return nil, err
	}
	phase.SetAttributes(attribute.Int("lab.evidence", len(b.Evidence)))
	r := &report.Report{TraceID: o.TraceID, Namespace: namespace, Pod: pod, Time: time.Now().UTC(),
		Phase: string(b.Pod.Status.Phase), Owners: b.Owners, Evidence: b.Evidence, Errors: b.Errors, Source: b}
	if b.Pod.Status.Reason != "" {
		r.Phase += " (" + b.Pod.Status.Reason + ")"
	}
	_, phase = telemetry.Start(ctx, "", "analyze")
	r.Findings = analyze.Analyze(b)
	r.Timeline = timeline(b)
	phase.SetAttributes(attribute.Int("lab.findings", len(r.Findings)))
	if p := r.Primary(); p != nil {
		span.SetAttributes(attribute.String("lab.category", p.Category))
	}
	phase.End()
	if o.Memory != nil {
		h, err := o.Memory.Lookup(r)
		if err != nil {
			logf("trace %s: incident memory: %v", o.TraceID, err)
		}
		r.History = h
		defer func() { // remembered with the root cause the report ends with
			if _, err := o.Memory.Record(r); err != nil {
				logf("trace %s: incident memory: %v", o.TraceID, err)
				r.Errors = append(r.Errors, "incident memory: "+err.Error())
			}
		}()
	}
	pctx, phase = telemetry.Start(ctx, "", "gitops")
	r.GitOps = gitOpsPart(pctx, cs, b, r, o)
	phase.End()
	if r.GitOps != nil && r.GitOps.Managed != nil {
		o.Whitelist = nil // no live action on what Argo CD manages: the model is told so too
	}
	if o.Runbooks != nil && len(r.Findings) > 0 {
		var embed runbook.EmbedFunc
		if !o.NoLLM && o.LLM != nil {
			embed = o.LLM.Embed
		}
		pctx, phase := telemetry.Start(ctx, "", "runbooks")
		hits, err := o.Runbooks.Hybrid(llm.WithTrace(pctx, o.TraceID), RunbookQuery(r.Findings, b.Owners), 10, embed)
		phase.SetAttributes(attribute.Int("lab.runbook.hits", len(hits)), attribute.Bool("lab.runbook.embeddings", embed != nil && err == nil))
		telemetry.End(phase, err)
		if err != nil {
			logf("trace %s: runbook embeddings: %v (lexical ranking only)", o.TraceID, err)
		}
		r.Runbooks = ownFirst(hits, b.Owners, 3)
	}

	budget := o.Budget
	var win llm.Window
	ask := !o.NoLLM && o.LLM != nil && len(r.Findings) > 0
	if ask {
		var err error
		if win, err = o.LLM.Window(llm.WithTrace(ctx, o.TraceID)); err != nil {
			logf("trace %s: %v (num_ctx left to the model)", o.TraceID, err)
		} else if fit := win.FitChars() / 4; fit < budget { // the budget is in estimated tokens of 4 characters
			budget = fit
		}
	}
	_, phase = telemetry.Start(ctx, "", "digest")
	msgs, stats, evidenceIDs := buildPrompt(b, r, budget, o)
	phase.SetAttributes(attribute.Int("lab.prompt.tokens", stats.Tokens), attribute.Int("lab.prompt.budget", budget))
	phase.End()
	stats.Budget, stats.Shrunk = o.Budget, budget < o.Budget
	stats.ModelContext, stats.TokensPerChar = win.Context, win.TokensPerChar
	r.Prompt = stats
	switch {
	case o.NoLLM:
		r.Model = report.ModelPart{Mode: "human-operator", Reason: "--no-llm: answering from the rules alone"}
	case o.LLM == nil:
		r.Model = report.ModelPart{Mode: "human-operator", Reason: "no model configured"}
	case len(r.Findings) == 0:
		r.Model = report.ModelPart{Mode: "human-operator", Reason: "the rules found nothing to explain"}
	case win.Context > 0 && int(float64(len(stats.Text))*win.TokensPerChar)+win.Predict+64 > win.Context:
		// Ollama would cut the prompt without a word: better no answer than one from half the findings.
		r.Model = report.ModelPart{Mode: "human-operator", Reason: fmt.Sprintf("the findings alone do not fit the model's %d-token context beside a %d-token answer; not asked", win.Context, win.Predict)}
	default:
		logf("trace %s: asking %s (%d prompt tokens)", o.TraceID, o.LLM.Model, stats.Tokens)
		req := llm.Request{TraceID: o.TraceID, Messages: msgs, Evidence: evidenceIDs, Whitelist: o.Whitelist, OnToken: o.OnToken}
		if win.Context > 0 {
			req.NumCtx = win.NumCtx(len(stats.Text))
		}
		ans, meta, err := o.LLM.Explain(ctx, req)
		if err != nil {
			r.Model = report.ModelPart{Mode: "human-operator", Reason: fmt.Sprintf("model unavailable after %d attempt(s): %v", meta.Attempts, err), Meta: &meta}
			logf("trace %s: %s", o.TraceID, r.Model.Reason)
			break
		}
		clean, dropped := llm.Validate(ans, evidenceIDs, o.Whitelist)
		if p := r.Primary(); p != nil && clean.RootCause != "" {
			if bad, other := llm.Contradicts(p.Category, clean.Summary+" "+clean.RootCause); bad {
				dropped = append(dropped, fmt.Sprintf("the answer argues for %s, not the detectors' %s: %q", other, p.Category, clean.RootCause))
				clean.RootCause, clean.Summary, clean.Runbook = "", "", nil
				clean.Remediation = llm.Remediation{Action: "none"}
			}
		}
		r.Model = report.ModelPart{Mode: "model", Answer: &clean, Dropped: dropped, Meta: &meta}
		if clean.RootCause == "" {
			r.Model.Mode, r.Model.Reason = "human-operator", "the model's answer was dropped"
			if len(dropped) > 0 {
				r.Model.Reason += ": " + dropped[len(dropped)-1]
			}
		}
		logf("trace %s: model answered in %s (%d attempt(s))", o.TraceID, meta.Latency.Round(time.Millisecond), meta.Attempts)
	}
	return r, nil
}

// RunbookQuery is what runbooks are retrieved with: the primary finding's
// category (CamelCase split by the tokenizer) and cause — the decisive fact
// it quotes included — and the workload's name, for runbooks a team writes
// about its own services.
func RunbookQuery(fs []analyze.Finding, owners []collect.Owner) string {
	if len(fs) == 0 {
		return ""
	}
	q := fs[0].Category + " " + fs[0].Category + " " + fs[0].Cause
	if len(owners) > 0 {
		q += " " + owners[len(owners)-1].Name
	}
	return q
}

// gitOpsPart checks who manages the pod's workload; for one Argo CD manages
// it proposes the primary finding's field fix as a diff in the GitOps repo.
func gitOpsPart(ctx context.Context, cs kubernetes.Interface, b *collect.Bundle, r *report.Report, o Options) *report.GitOpsPart {
	var top *collect.Owner
	for i := len(b.Owners) - 1; i >= 0 && top == nil; i-- {
		switch b.Owners[i].Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job":
			top = &b.Owners[i]
		}
	}
	if top == nil || len(r.Findings) == 0 {
		return nil
	}
	obj, ok := top.Object.(metav1.Object)
	if !ok {
		return nil
	}
	ns := o.ArgoNamespace
	if ns == "" {
		ns = "argocd"
	}
	g := &report.GitOpsPart{Workload: top.Kind + "/" + top.Name, Managed: gitfix.ArgoManaged(ctx, cs, obj, ns)}
	if g.Managed == nil {
		return nil
	}
	fix := r.Findings[0].Fix
	switch {
	case fix == nil:
		g.Note = "no single field fixes this failure; follow the runbook and commit the change to the GitOps repository."
	case o.GitOpsRepo == "":
		g.Note = fmt.Sprintf("set %s of container %s to %v (%s) in the manifest in git; gitops.repo is not a folder on this host, so lab cannot show the diff.", strings.Join(fix.Path, "."), fix.Container, fix.Value, fix.Why)
	default:
		c, err := gitfix.Propose(o.GitOpsRepo, top.Kind, top.Name, b.Pod.Namespace, fix)
		if err != nil {
			g.Note = fmt.Sprintf("set %s of container %s to %v (%s): %v", strings.Join(fix.Path, "."), fix.Container, fix.Value, fix.Why, err)
		}
		g.Change = c
	}
	// Never propose what the cluster's policies would refuse: the change
	// is tried as a server-side dry run first (admission webhooks, Kyverno,
	// ValidatingAdmissionPolicies all run; nothing is stored).
	if fix != nil {
		var rej *gitfix.RejectedError
		if err := gitfix.Admitted(ctx, cs, top.Kind, top.Name, b.Pod.Namespace, fix); errors.As(err, &rej) {
			g.Change = nil
			g.Note = fmt.Sprintf("setting %s of container %s to %v would fix this (%s), but the cluster's admission refuses that change, so lab does not propose it: %s. Change the policy, or fix it another way.",
				strings.Join(fix.Path, "."), fix.Container, fix.Value, fix.Why, rej.Msg)
		}
	}
	return g
}

// ownFirst puts the sections a team wrote about this workload (its name in
// the heading or text) before the general ones, and keeps k.
func ownFirst(hits []runbook.Hit, owners []collect.Owner, k int) []runbook.Hit {
	if len(owners) > 0 {
		name := strings.ToLower(owners[len(owners)-1].Name)
		if len(name) >= 4 {
			sort.SliceStable(hits, func(i, j int) bool {
				return names(hits[i], name) && !names(hits[j], name)
			})
		}
	}
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

func names(h runbook.Hit, name string) bool {
	return slices.Contains(runbook.Terms(h.Heading+" "+h.Text), name)
}

// buildPrompt fits findings, evidence and the log digest into the budget.
// Nothing is said twice: the evidence list holds the pod's state and what
// the findings cite (not every spec, event and log summary), and the digest
// leaves out the log lines the findings quote.
func buildPrompt(b *collect.Bundle, r *report.Report, budget int, o Options) ([]api.Message, report.PromptStats, []string) {
	var findings []string
	cited := map[string]bool{}
	shown := map[string]bool{}
	for _, f := range r.Findings {
		findings = append(findings, fmt.Sprintf("[%s] %s: %s (evidence: %s)", f.Severity, f.Category, f.Cause, strings.Join(f.Evidence, ", ")))
		for _, id := range f.Evidence {
			base, _, _ := strings.Cut(id, "#")
			cited[base] = true
			if strings.HasPrefix(id, "log:") && strings.Contains(id, "#") {
				shown[id] = true
			}
		}
	}
	var evidence, ids []string
	for _, e := range b.Evidence {
		ids = append(ids, e.ID)
		if cited[e.ID] || e.ID == "pod:phase" || (strings.HasPrefix(e.ID, "container:") && !strings.HasSuffix(e.ID, ":spec")) {
			evidence = append(evidence, e.ID+": "+e.Summary)
		}
	}
	for _, f := range r.Findings { // log line ids the detectors cite
		for _, id := range f.Evidence {
			if strings.HasPrefix(id, "log:") && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	in := llm.PromptInput{Pod: b.Pod.Namespace + "/" + b.Pod.Name, Findings: findings, Evidence: evidence, Whitelist: o.Whitelist}
	if h := r.History; h != nil {
		in.History = fmt.Sprintf("The same failure (fingerprint %s) was %s; its last root cause: %s", h.Fingerprint, report.Since(h), h.LastCause)
	}
	if len(r.Runbooks) > 0 { // the best section whole (clipped), the others by name
		h := r.Runbooks[0]
		text := h.Text
		if len(text) > 700 {
			text = text[:700] + "…"
		}
		in.Runbooks = append(in.Runbooks, fmt.Sprintf("runbook:%s (%s)\n%s", h.Ref(), h.Title, text))
		for _, h := range r.Runbooks[1:] {
			in.Runbooks = append(in.Runbooks, "runbook:"+h.Ref())
		}
		for _, h := range r.Runbooks {
			ids = append(ids, "runbook:"+h.Ref())
		}
	}
	fixed := digest.EstimateTokens(contentOf(llm.Messages(in)))
	var srcs []digest.Source
	for _, l := range b.Logs {
		srcs = append(srcs, digest.Source{ID: "log:" + l.Container + ":previous", Text: l.Previous})
	}
	for _, l := range b.Logs {
		srcs = append(srcs, digest.Source{ID: "log:" + l.Container + ":current", Text: l.Current})
	}
	var d digest.Digest
	if budget > fixed { // the instructions and findings are never cut; the digest gets what is left
		d = digest.Build(srcs, digest.Options{Budget: budget - fixed, Shown: shown})
	} else {
		d = digest.Build(srcs, digest.Options{Budget: 1})
	}
	for _, s := range d.Sections {
		if !slices.Contains(ids, s.Evidence) {
			ids = append(ids, s.Evidence)
		}
	}
	in.Digest = d.Text()
	msgs := llm.Messages(in)
	stats := report.PromptStats{Tokens: digest.EstimateTokens(contentOf(msgs)), Budget: budget, LogLines: d.Lines, Redacted: d.Redacted,
		NaiveTokens: naiveTokens(b), DigestDropped: d.Dropped, Text: contentOf(msgs)}
	return msgs, stats, ids
}

func contentOf(msgs []api.Message) string {
	var s strings.Builder
	for _, m := range msgs {
		s.WriteString(m.Content)
	}
	return s.String()
}

// naiveTokens sizes the prompt a naive agent sends: the pod object and its
// events as JSON plus the last 200 lines of every log.
func naiveTokens(b *collect.Bundle) int {
	pj, _ := json.Marshal(b.Pod)
	ej, _ := json.Marshal(b.Events)
	n := digest.EstimateTokens(string(pj)) + digest.EstimateTokens(string(ej))
	for _, l := range b.Logs {
		for _, t := range []string{l.Previous, l.Current} {
			lines := strings.Split(strings.TrimRight(t, "\n"), "\n")
			if len(lines) > 200 {
				lines = lines[len(lines)-200:]
			}
			n += digest.EstimateTokens(strings.Join(lines, "\n"))
		}
	}
	return n
}

func timeline(b *collect.Bundle) []report.Event {
	var t []report.Event
	if !b.Pod.CreationTimestamp.IsZero() {
		t = append(t, report.Event{Time: b.Pod.CreationTimestamp.Time, What: "pod created"})
	}
	for _, s := range append(append(b.Pod.Status.InitContainerStatuses[:0:0], b.Pod.Status.InitContainerStatuses...), b.Pod.Status.ContainerStatuses...) {
		if lt := s.LastTerminationState.Terminated; lt != nil && !lt.FinishedAt.IsZero() {
			t = append(t, report.Event{Time: lt.FinishedAt.Time, What: fmt.Sprintf("%s terminated: %s (exit %d)", s.Name, lt.Reason, lt.ExitCode), Warning: true})
		}
	}
	for _, e := range b.Events {
		ts := e.LastTimestamp.Time
		if ts.IsZero() {
			ts = e.EventTime.Time
		}
		if ts.IsZero() {
			continue
		}
		what := e.Reason + ": " + e.Message
		if e.Count > 1 {
			what = fmt.Sprintf("%s (x%d)", what, e.Count)
		}
		t = append(t, report.Event{Time: ts, What: what, Warning: e.Type == "Warning"})
	}
	sort.SliceStable(t, func(i, j int) bool { return t[i].Time.Before(t[j].Time) })
	return t
}
