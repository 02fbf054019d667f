package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/collect"
)

// TriageItem is one pod with a finding.
type TriageItem struct {
	Namespace string           `json:"namespace"`
	Pod       string           `json:"pod"`
	Severity  analyze.Severity `json:"severity"`
	Category  string           `json:"category"`
	Container string           `json:"container,omitempty"`
	Fact      string           `json:"fact"`  // the decisive fact, short: what a one-line listing shows
	Cause     string           `json:"cause"` // the whole cause, as the full diagnosis words it
	Evidence  []string         `json:"evidence"`
	More      int              `json:"moreFindings,omitempty"` // findings beyond the primary one
}

// Triage answers "what is broken here?" for a namespace or the cluster.
type Triage struct {
	Scope   string       `json:"scope"` // a namespace, or "all namespaces"
	Pods    int          `json:"pods"`
	Healthy int          `json:"healthy"` // pods without a finding: counted, not listed
	Items   []TriageItem `json:"items"`   // worst first
	Errors  []string     `json:"errors,omitempty"`
	Seconds float64      `json:"seconds"`
}

// TriageOptions bound a triage.
type TriageOptions struct {
	Parallel  int               // pods read at once (default 16)
	LogBytes  int64             // per log of a pod that is not settled (default 64 KiB)
	TailLines int64             // lines read from a settled pod's current log (default 20)
	Logs      collect.LogSource // nil: the API server
}

// TriageNamespace diagnoses every pod of namespace ("" = all namespaces) with
// the rules: one LIST per kind for the whole scope, logs read per pod (the
// last lines only for a pod that looks settled — enough to see an error that
// is still going on), no model call. Pods with a finding are listed worst
// first; healthy pods are counted.
func TriageNamespace(ctx context.Context, cs kubernetes.Interface, namespace string, o TriageOptions) (*Triage, error) {
	start := time.Now()
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.LogBytes <= 0 {
		o.LogBytes = 64 << 10
	}
	if o.TailLines <= 0 {
		o.TailLines = 20
	}
	snap, err := collect.NewSnapshot(ctx, cs, namespace)
	if err != nil {
		return nil, err
	}
	t := &Triage{Scope: namespace, Pods: len(snap.Pods), Errors: snap.Errors}
	if namespace == "" {
		t.Scope = "all namespaces"
	}
	items := make([]*TriageItem, len(snap.Pods))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	now := time.Now()
	for i := range snap.Pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p := &snap.Pods[i]
			co := collect.Options{LogBytes: o.LogBytes, Logs: o.Logs}
			if analyze.Settled(p, now) {
				co.TailLines = o.TailLines
			}
			fs := analyze.Analyze(snap.Bundle(ctx, cs, p, co))
			if len(fs) == 0 {
				return
			}
			f := fs[0]
			items[i] = &TriageItem{Namespace: p.Namespace, Pod: p.Name, Severity: f.Severity, Category: f.Category,
				Container: f.Container, Fact: fact(f.Cause), Cause: f.Cause, Evidence: f.Evidence, More: len(fs) - 1}
		}()
	}
	wg.Wait()
	for _, it := range items {
		if it == nil {
			t.Healthy++
			continue
		}
		t.Items = append(t.Items, *it)
	}
	rank := map[analyze.Severity]int{analyze.Critical: 0, analyze.Warning: 1, analyze.Info: 2}
	sort.SliceStable(t.Items, func(i, j int) bool {
		a, b := t.Items[i], t.Items[j]
		if rank[a.Severity] != rank[b.Severity] {
			return rank[a.Severity] < rank[b.Severity]
		}
		if a.Category != b.Category {
			return a.Category < b.Category
		}
		return a.Namespace+"/"+a.Pod < b.Namespace+"/"+b.Pod
	})
	t.Seconds = time.Since(start).Seconds()
	return t, nil
}

// Text writes one line per pod with a finding, then the count of the rest.
func (t *Triage) Text(w io.Writer) {
	if len(t.Items) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "POD\tSEVERITY\tCATEGORY\tCAUSE")
		for _, it := range t.Items {
			name := it.Namespace + "/" + it.Pod
			if it.Container != "" {
				name += " (" + it.Container + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, it.Severity, it.Category, oneLine(it.Fact, 200))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%d pods in %s: %d with a finding, %d healthy (rules only; `lab diagnose POD -n NAMESPACE` gives the full report and the model's explanation)\n",
		t.Pods, t.Scope, len(t.Items), t.Healthy)
	for _, e := range t.Errors {
		fmt.Fprintf(w, "not read: %s\n", e)
	}
}

// JSON writes the triage as JSON.
func (t *Triage) JSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(t)
}

// fact shortens a cause to its decisive fact: its first clause, and the
// quoted line or message that proves it when there is one.
func fact(cause string) string {
	first, _, _ := strings.Cut(cause, "; ")
	if i := strings.Index(cause, "\""); i >= 0 && !strings.Contains(first, "\"") {
		if j := strings.LastIndex(cause, "\""); j > i {
			return first + " — " + cause[i:j+1]
		}
	}
	return first
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
