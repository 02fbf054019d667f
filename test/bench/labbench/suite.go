package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"lab.dev/lab/agent"
	"lab.dev/lab/test/harness"
)

// SuiteResult scores the diagnosis of every scenario against its ground truth.
type SuiteResult struct {
	Scenarios   []ScenarioScore          `json:"scenarios"`
	ByCategory  map[string]CategoryScore `json:"byCategory"`
	ByDetector  map[string]CategoryScore `json:"byDetector"`
	Correct     int                      `json:"correct"`    // right category
	CauseRight  int                      `json:"causeRight"` // right category and every decisive fact named (kwok.Expect.Judge)
	Total       int                      `json:"total"`
	PromptMean  float64                  `json:"promptTokensMean"`
	NaiveMean   float64                  `json:"naiveTokensMean"`
	EvidenceHit int                      `json:"evidenceCited"`
	InPrompt    int                      `json:"groundTruthInPrompt"` // scenarios whose every ground-truth evidence id is in the prompt
}

// ScenarioScore is one scenario's outcome.
type ScenarioScore struct {
	Name          string  `json:"name"`
	Expected      string  `json:"expected"`
	Got           string  `json:"got"`
	Detector      string  `json:"detector"`
	Category      bool    `json:"categoryCorrect"`
	CauseRight    bool    `json:"causeRight"`
	Why           string  `json:"why,omitempty"` // what the cause misses
	EvidenceCited bool    `json:"evidenceCited"`
	InPrompt      bool    `json:"groundTruthInPrompt"`
	PromptTokens  int     `json:"promptTokens"`
	NaiveTokens   int     `json:"naiveTokens"`
	Seconds       float64 `json:"seconds"`
	Cause         string  `json:"cause"`
}

// CategoryScore sums a category's scenarios.
type CategoryScore struct {
	Scenarios  int `json:"scenarios"`
	Correct    int `json:"correct"`
	CauseRight int `json:"causeRight"`
	Evidence   int `json:"evidenceCited"`
}

// runSuite applies and diagnoses every scenario in dir; a wrong answer is
// retried for settle (a late event) before it counts.
func runSuite(ctx context.Context, c *harness.Cluster, dir string, settle time.Duration) SuiteResult {
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	res := SuiteResult{ByCategory: map[string]CategoryScore{}, ByDetector: map[string]CategoryScore{}}
	for _, f := range files {
		s, err := harness.LoadScenario(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		ns := benchNamespace(s.Name)
		pods, err := c.Apply(ctx, s, ns)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
			continue
		}
		var sc ScenarioScore
		deadline := time.Now().Add(settle)
		for {
			start := time.Now()
			r, err := agent.Diagnose(ctx, c.Client, ns, pods[0].Name, agent.Options{NoLLM: true, Budget: 1500})
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
				break
			}
			sc = ScenarioScore{Name: s.Name, Expected: s.Expect.Category, Seconds: time.Since(start).Seconds(),
				PromptTokens: r.Prompt.Tokens, NaiveTokens: r.Prompt.NaiveTokens}
			if p := r.Primary(); p != nil {
				sc.Got, sc.Cause, sc.Detector = p.Category, p.Cause, p.Detector
				sc.EvidenceCited = s.Expect.Cited(p.Evidence)
			}
			sc.Category = sc.Got == s.Expect.Category
			retrievalQueries[s.Name] = agent.RunbookQuery(r.Findings, r.Owners)
			sc.InPrompt = inPrompt(r.Prompt.Text, s.Expect.Evidence)
			if os.Getenv("LABBENCH_SHOW") == s.Name {
				fmt.Fprintf(os.Stderr, "--- prompt of %s (%d tokens):\n%s\n", s.Name, r.Prompt.Tokens, r.Prompt.Text)
			}
			sc.CauseRight, sc.Why = s.Expect.Judge(sc.Got, sc.Cause)
			if sc.CauseRight || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		res.Scenarios = append(res.Scenarios, sc)
		cs := res.ByCategory[s.Expect.Category]
		cs.Scenarios++
		if sc.Category {
			cs.Correct++
			res.Correct++
		}
		if sc.CauseRight {
			cs.CauseRight++
			res.CauseRight++
		}
		if sc.EvidenceCited {
			cs.Evidence++
			res.EvidenceHit++
		}
		if sc.InPrompt {
			res.InPrompt++
		}
		res.ByCategory[s.Expect.Category] = cs
		ds := res.ByDetector[sc.Detector]
		ds.Scenarios++
		if sc.Category {
			ds.Correct++
		}
		if sc.EvidenceCited {
			ds.Evidence++
		}
		res.ByDetector[sc.Detector] = ds
		res.Total++
		res.PromptMean += float64(sc.PromptTokens)
		res.NaiveMean += float64(sc.NaiveTokens)
	}
	if res.Total > 0 {
		res.PromptMean /= float64(res.Total)
		res.NaiveMean /= float64(res.Total)
	}
	sort.Slice(res.Scenarios, func(i, j int) bool { return res.Scenarios[i].Name < res.Scenarios[j].Name })
	return res
}

// inPrompt: every ground-truth evidence id (a prefix such as "event:" or
// "log:app:previous#L2") is in the prompt, so the model could cite it.
func inPrompt(prompt string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(prompt, w) && !inRange(prompt, w) {
			return false
		}
	}
	return true
}

// inRange: the prompt cites a line range (log:app:current#L1-L5) holding the
// wanted line (log:app:current#L2).
func inRange(prompt, w string) bool {
	base, line, ok := strings.Cut(w, "#L")
	n, err := strconv.Atoi(line)
	if !ok || err != nil {
		return false
	}
	for rest := prompt; ; {
		i := strings.Index(rest, base+"#L")
		if i < 0 {
			return false
		}
		rest = rest[i+len(base)+2:]
		var a, b int
		if k, _ := fmt.Sscanf(rest, "%d-L%d", &a, &b); k == 2 && a <= n && n <= b {
			return true
		}
	}
}

func benchNamespace(scenario string) string {
	ns := "bench-" + scenario
	if len(ns) > 63 {
		ns = ns[:63]
	}
	return ns
}

func filepathGlob(dir string) ([]string, error) { return filepath.Glob(filepath.Join(dir, "*.yaml")) }
