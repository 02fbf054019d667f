package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"lab.dev/lab/agent/llm"
	"lab.dev/lab/agent/runbook"
	"lab.dev/lab/manifests"
	"lab.dev/lab/test/harness"
)

// RetrievalResult scores runbook retrieval on the scenario → section pairs
// (manifests/runbook-eval/pairs.yaml) with the suites' own findings.
type RetrievalResult struct {
	Mode       string   `json:"mode"` // lexical, or hybrid with the named model
	Pairs      int      `json:"pairs"`
	AtOne      int      `json:"precisionAt1"`
	AtThree    int      `json:"recallAt3"`
	Sections   int      `json:"sections"`
	MeanMillis float64  `json:"meanMillisPerQuery"`
	Misses     []string `json:"misses,omitempty"`
}

// retrievalQueries are each scenario's primary findings, kept by runSuite.
var retrievalQueries = map[string]string{}

func loadRunbooks() *runbook.Index {
	sub, err := fs.Sub(manifests.GitOps, "gitops/runbooks")
	check(err)
	ix, err := runbook.Load(sub)
	check(err)
	return ix
}

func runRetrieval(ctx context.Context, pairsFile string, embed runbook.EmbedFunc, mode string) RetrievalResult {
	b, err := os.ReadFile(pairsFile)
	check(err)
	var pairs map[string][]string
	check(yaml.Unmarshal(b, &pairs))
	ix := loadRunbooks()
	r := RetrievalResult{Mode: mode, Sections: len(ix.Sections)}
	if embed != nil {
		check(ix.Embed(ctx, embed)) // once, like a long-running agent
	}
	var total time.Duration
	for name, want := range pairs {
		q := retrievalQueries[name]
		if q == "" {
			r.Misses = append(r.Misses, name+": no finding")
			r.Pairs++
			continue
		}
		start := time.Now()
		hits, err := ix.Hybrid(ctx, q, 3, embed)
		total += time.Since(start)
		if err != nil {
			fmt.Fprintln(os.Stderr, "retrieval:", err)
		}
		r.Pairs++
		var got []string
		for _, h := range hits {
			got = append(got, h.Ref())
		}
		if len(got) > 0 && slices.Contains(want, got[0]) {
			r.AtOne++
		}
		hit3 := false
		for _, g := range got {
			hit3 = hit3 || slices.Contains(want, g)
		}
		if hit3 {
			r.AtThree++
		} else {
			r.Misses = append(r.Misses, fmt.Sprintf("%s: got %s", name, strings.Join(got, " | ")))
		}
	}
	slices.Sort(r.Misses)
	if r.Pairs > 0 {
		r.MeanMillis = float64(total.Microseconds()) / 1000 / float64(r.Pairs)
	}
	return r
}

func retrievalTable(rs []RetrievalResult) string {
	var b strings.Builder
	b.WriteString("### Runbook retrieval\n\n")
	b.WriteString("The scenario → runbook-section pairs of manifests/runbook-eval/pairs.yaml (written with the runbooks, before the ranking code), queried with each scenario's primary finding (`agent.RunbookQuery`) against the eight runbooks `lab gitops init` writes.\n\n")
	b.WriteString("What each adds to a diagnosis: the lexical ranking its ms per query; the blend one embedding call for the query (and, once per process, one for all sections); the prompt at most ~190 tokens (700 characters of the best section and the other two headings; the accuracy tables above are measured without runbooks in the prompt). No real embedding model is available offline: the hybrid row uses the test's random-weight model, so it measures the blend's cost and that noise does not disturb the lexical ranking — not the benefit of a good embedding model.\n\n")
	b.WriteString("| mode | pairs | precision@1 | recall@3 | ms per query |\n|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d | %d/%d (%.0f %%) | %d/%d (%.0f %%) | %.2f |\n", r.Mode, r.Pairs, r.AtOne, r.Pairs, 100*float64(r.AtOne)/float64(max(r.Pairs, 1)),
			r.AtThree, r.Pairs, 100*float64(r.AtThree)/float64(max(r.Pairs, 1)), r.MeanMillis)
	}
	for _, r := range rs {
		if len(r.Misses) > 0 {
			fmt.Fprintf(&b, "\nNot in the top 3 (%s): %s\n", r.Mode, strings.Join(r.Misses, "; "))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// hybridRetrieval fuses BM25 with embeddings from the harness's Ollama and
// its random-weight test model: no real embedding model is available
// offline, so this measures the mechanics and cost of fusion, and how much a
// model that knows nothing disturbs the lexical ranking.
func hybridRetrieval(ctx context.Context) []RetrievalResult {
	o, err := harness.StartOllama(ctx, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hybrid retrieval: no Ollama:", err)
		return nil
	}
	defer o.Stop()
	c, err := llm.New(o.URL, o.Model, time.Minute, llm.Retry{Attempts: 1}, &llm.Breaker{Ratio: 1, Window: time.Minute, MinRequests: 100, Cooldown: time.Second})
	check(err)
	return []RetrievalResult{runRetrieval(ctx, "manifests/runbook-eval/pairs.yaml", c.Embed, "hybrid: BM25 + embeddings of "+o.Model+" (random weights)")}
}
