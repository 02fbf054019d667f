package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent"
	"lab.dev/lab/test/harness"
)

// TriageResult times `lab diagnose -A` (one process, one LIST per kind)
// against one `lab diagnose POD` per pod, on the scenario suites' pods.
type TriageResult struct {
	Pods          int       `json:"pods"`
	Listed        int       `json:"listed"`
	Healthy       int       `json:"healthy"`
	Seconds       []float64 `json:"seconds"`
	Median        float64   `json:"medianSeconds"`
	PerPodSum     float64   `json:"perPodDiagnosesSeconds"` // the suites' single diagnoses, summed
	HeldOutRight  int       `json:"heldOutCauseRight"`      // held-out pods whose triage line is right (Judge)
	HeldOutScored int       `json:"heldOutScored"`
}

func runTriage(ctx context.Context, cs kubernetes.Interface, heldout string, suites ...SuiteResult) TriageResult {
	var r TriageResult
	for _, s := range suites {
		for _, sc := range s.Scenarios {
			r.PerPodSum += sc.Seconds
		}
	}
	var last *agent.Triage
	for i := 0; i < 5; i++ {
		t, err := agent.TriageNamespace(ctx, cs, "", agent.TriageOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "triage:", err)
			return r
		}
		r.Seconds = append(r.Seconds, t.Seconds)
		last = t
	}
	s := append([]float64(nil), r.Seconds...)
	sort.Float64s(s)
	r.Median = s[len(s)/2]
	r.Pods, r.Listed, r.Healthy = last.Pods, len(last.Items), last.Healthy
	byNS := map[string]agent.TriageItem{}
	for _, it := range last.Items {
		byNS[it.Namespace] = it
	}
	scs, _ := harnessScenarios(heldout)
	for _, sc := range scs {
		it := byNS[benchNamespace(sc.Name)]
		if ok, _ := sc.Expect.Judge(it.Category, it.Cause); ok {
			r.HeldOutRight++
		}
		r.HeldOutScored++
	}
	return r
}

func harnessScenarios(dir string) ([]*harness.Scenario, error) {
	var out []*harness.Scenario
	files, err := filepathGlob(dir)
	for _, f := range files {
		if s, err := harness.LoadScenario(f); err == nil {
			out = append(out, s)
		}
	}
	return out, err
}

func triageTable(t TriageResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Triage: `lab diagnose -A` (rules)\n\n")
	fmt.Fprintf(&b, "Every pod of the harness after both suites ran (%d pods, one namespace per scenario): one LIST per kind for the cluster, logs read per pod (the last 20 lines of a settled pod), 16 pods at a time. "+
		"Median of 5: **%.3f s** (all: %s) for %d listed and %d counted healthy; the same pods diagnosed one `Diagnose` call each took %.2f s in all. "+
		"The held-out pods' triage lines are right (strict scoring) for %d/%d. "+
		"The issue measured a peer analyzer at 0.11 s for 34 pods in one process; it is not served by this machine's module proxy, so it was not re-run here.\n\n",
		t.Pods, t.Median, fmtSecs(t.Seconds), t.Listed, t.Healthy, t.PerPodSum, t.HeldOutRight, t.HeldOutScored)
	return b.String()
}
