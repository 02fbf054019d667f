package main

import (
	"fmt"
	"sort"
	"strings"
)

func tables(r Results) string {
	var b strings.Builder
	b.WriteString(suiteTables(r))
	if st := r.Stacks; st != nil {
		fmt.Fprintf(&b, "### Stack installs: parallel vs sequential\n\n%d independent test stacks (a chart written for the benchmark: a Deployment whose pods kwok makes Ready; Helm waits for them), installed one after the other: %.1f s; in parallel through the dependency graph: %.1f s — **%.1f×** faster.\n\n", st.Stacks, st.Sequential, st.Parallel, st.Ratio)
	}
	d := r.Digest
	fmt.Fprintf(&b, "### Log digest throughput\n\n%d MB of mixed log lines (%d lines → %d templates → %d tokens) digested on one core (GOMAXPROCS=1) in %.1f s: **%.1f MB/s** (`go run ./test/bench/labbench -only digest`; 8.4 MB/s before the byte-scan hot path).\n\n",
		d.MB, d.Lines, d.Templates, d.Tokens, d.Seconds, d.MBPerSec)
	a := r.Diagnose
	fmt.Fprintf(&b, "### `diagnose --no-llm` at scale\n\nNamespace with %d pods and %d events; %d diagnoses of different pods: median **%.3f s** (all: %v). Collection uses field selectors, so the cost does not grow with the namespace.\n",
		a.Pods, a.Events, a.Runs, a.Median, fmtSecs(a.Seconds))
	if p := r.Predict; p != nil {
		b.WriteString("\n" + predictTable(*p))
	}
	if p := r.APF; p != nil && len(p.Phases) > 0 {
		b.WriteString(apfTable(*p))
	}
	return b.String()
}

func fmtSecs(s []float64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprintf("%.3f", v)
	}
	return strings.Join(parts, ", ")
}

func apfTable(p APFResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### API Priority and Fairness under an agent burst\n\nOwn API server with `--max-requests-inflight=%d --max-mutating-requests-inflight=%d` (%d seats in all). Three victims list 50 pods every 20 ms: a controller's ServiceAccount (priority level `workload-low`, where every ServiceAccount — the agent's too — lands without lab's objects), a human user (`global-default`) and the `system:masters` admin (`exempt`). Two bursts, each as the lab-agent ServiceAccount, without and then with lab's FlowSchema and PriorityLevelConfiguration:\n\n", p.MaxInflight, p.MaxMutating, p.MaxInflight+p.MaxMutating)
	fmt.Fprintf(&b, "- **slow** (seat-bound): %d concurrent LISTs of %.1f MB of pods, each read at %d KiB/s over HTTP/1.1 with a small receive buffer — the API server blocks writing the response and holds the seat for seconds while using little CPU (a busy consumer, a slow network);\n", p.SlowWorkers, p.SlowListMB, p.SlowReadKBps)
	fmt.Fprintf(&b, "- **fast** (CPU-bound): %d concurrent LISTs of 400 pods in a loop. APF limits how many requests execute at once, not the CPU they use: on 2 cores this saturates the CPU even at one or two seats, so every victim, the exempt admin included, slows down with or without lab's objects — the limit of the method, not protection.\n\n", p.AgentWorkers)
	b.WriteString("| phase | victim | requests | p50 ms | p99 ms | p99 vs baseline | agent requests (429) | peak seats workload-low / lab-agent |\n|---|---|---|---|---|---|---|---|\n")
	victims := make([]string, 0)
	for v := range p.Phases[0].Victims {
		victims = append(victims, v)
	}
	sort.Strings(victims)
	for _, ph := range p.Phases {
		for _, v := range victims {
			l, base := ph.Victims[v], p.Phases[0].Victims[v]
			fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.1f | %.1f× | %d (%d) | %.0f / %.0f |\n", ph.Name, v, l.N, l.P50, l.P99, l.P99/max(base.P99, 0.001),
				ph.AgentRequests, ph.AgentRejected, ph.Seats["workload-low"], ph.Seats["lab-agent"])
		}
	}
	b.WriteString("\nA victim that made few requests in a phase was waiting: each of its requests queued behind agent requests holding every seat of its level. Read the seat-bound rows as the protection lab's objects give (the agent is held to its own few seats, `workload-low` keeps its own), the CPU-bound rows as what no seat limit gives on 2 cores.\n")
	return b.String()
}

// suiteTables are the accuracy tables: the regression suite (written beside
// the detectors) and the held-out one (written and frozen before them).
func suiteTables(r Results) string {
	var b strings.Builder
	if r.Suite.Total > 0 {
		fmt.Fprintf(&b, "### Diagnosis accuracy, regression suite (rules, `--no-llm`)\n\n")
		fmt.Fprintf(&b, "The %d scenarios of manifests/scenarios were written beside the detectors: this score guards against regressions, it does not show generalisation.\n\n", r.Suite.Total)
		b.WriteString(suiteTable(r.Suite))
	}
	if r.HeldOut.Total > 0 {
		fmt.Fprintf(&b, "### Diagnosis accuracy, held-out suite (rules, `--no-llm`)\n\n")
		fmt.Fprintf(&b, "The %d scenarios of manifests/scenarios/heldout were written and frozen before any detector was changed for them (ended pods and Jobs, multi-container pods, OS/library errors as the only clue, CreateContainerError/StartError, mounts, every probe type, quota and admission rejections on the owner, node NotReady, healthy pods whose logs hold recovered errors, compound cases). Scored strictly: the category must match and the cause must name every decisive fact (`expect.mentions`); a healthy pod must get no finding. Held out in time, not in authorship: the same team wrote the scenarios and then the detector changes, so read this as a floor on overfitting, not an independent evaluation. Quick rerun: `go run ./test/bench/labbench -only suite`.\n\n", r.HeldOut.Total)
		b.WriteString(suiteTable(r.HeldOut))
	}
	if r.Triage != nil {
		b.WriteString(triageTable(*r.Triage))
	}
	if len(r.Runbooks) > 0 {
		b.WriteString(retrievalTable(r.Runbooks))
	}
	return b.String()
}

func suiteTable(s SuiteResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Overall: **%d/%d causes right** (category and decisive facts), %d/%d right category, %d/%d cite the ground-truth evidence. Prompt: %.0f tokens on average vs %.0f for a naive \"describe + tail 200 lines\" prompt (%.1f× smaller, %.2f of it); the prompt holds every ground-truth evidence id in %d/%d scenarios.\n\n",
		s.CauseRight, s.Total, s.Correct, s.Total, s.EvidenceHit, s.Total, s.PromptMean, s.NaiveMean, s.NaiveMean/max(s.PromptMean, 1), s.PromptMean/max(s.NaiveMean, 1), s.InPrompt, s.Total)
	b.WriteString("| expected category | scenarios | cause right | category right | evidence cited |\n|---|---|---|---|---|\n")
	cats := make([]string, 0, len(s.ByCategory))
	for c := range s.ByCategory {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		v := s.ByCategory[c]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", orNone(c), v.Scenarios, v.CauseRight, v.Correct, v.Evidence)
	}
	b.WriteString("\n| scenario | expected | got | cause right | evidence | prompt tokens | naive tokens |\n|---|---|---|---|---|---|---|\n")
	for _, sc := range s.Scenarios {
		right := "yes"
		if !sc.CauseRight {
			right = "**no**: " + strings.ReplaceAll(sc.Why, "|", "\\|")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %v | %d | %d |\n", sc.Name, orNone(sc.Expected), orNone(sc.Got), right, sc.EvidenceCited, sc.PromptTokens, sc.NaiveTokens)
	}
	b.WriteString("\n")
	return b.String()
}

func orNone(c string) string {
	if c == "" {
		return "(none)"
	}
	return c
}
