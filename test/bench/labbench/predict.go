package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/agent/predict"
	"lab.dev/lab/core/config"
	"lab.dev/lab/stacks"
	"lab.dev/lab/test/harness"
)

// PredictResult scores saturation prediction on the scripted shapes
// (harness.Shapes): replayed every 5 minutes over a history where the
// running-out ones reach their limit 6 h in, lab's predictions (`lab agent
// predict`, 2 h window and horizon) against the PromQL rules lab installs
// (predict_linear, `for: 10m`), both on the same real Prometheus.
type PredictResult struct {
	Shapes  []ShapeScore `json:"shapes"`
	Lab     Score        `json:"lab"`
	Rules   Score        `json:"rules"`
	Scale   PredictScale `json:"scale"`
	Evals   int          `json:"evals"` // replayed prediction times per shape
	History string       `json:"history"`
}

// ShapeScore is one scripted series: when each method first warned.
type ShapeScore struct {
	Name      string  `json:"name"`
	Positive  bool    `json:"positive"`
	LabLead   float64 `json:"labLeadMin"`   // minutes before the failure lab first warned; -1 never
	RuleLead  float64 `json:"ruleLeadMin"`  // the same for the rule
	LabETAErr float64 `json:"labEtaErrPct"` // |predicted − scripted| time to failure, 60 min before it, in %; -1 not predicted then
	// Cycling: the shape already fails and restarts (OOM cycle); its lead is
	// not counted in the median.
	Cycling bool `json:"cycling,omitempty"`
}

// Score is precision/recall over the shapes and the median lead time.
type Score struct {
	TP, FP, FN        int
	Precision, Recall float64
	MedianLeadMin     float64
}

// PredictScale is one `predict -A` over many containers.
type PredictScale struct {
	Containers  int       `json:"containers"`
	Series      int       `json:"series"`
	Samples     int       `json:"samples"`
	BackfillSec float64   `json:"backfillSeconds"`
	Seconds     []float64 `json:"seconds"`
	Median      float64   `json:"median"`
	AllocMB     float64   `json:"allocMBPerRun"`
}

func writeShapes(dir string, shapes []harness.Shape, start, end float64) string {
	om := filepath.Join(dir, "series.om")
	f, err := os.Create(om)
	check(err)
	check(harness.WriteOpenMetrics(f, shapes, start, end, 30))
	check(f.Close())
	return om
}

func runPredict(ctx context.Context, containers int) PredictResult {
	const fail = 6 * time.Hour
	dir, err := os.MkdirTemp("", "labbench-predict-")
	check(err)
	defer os.RemoveAll(dir)
	now := time.Now().Truncate(time.Minute)
	t0 := now.Add(-fail - time.Hour)
	shapes := harness.Shapes(fail.Seconds())
	om := writeShapes(dir, shapes, float64(t0.Unix()), float64(now.Unix()))
	prom, err := harness.StartPrometheus(ctx, harness.PrometheusOptions{Dir: filepath.Join(dir, "replay"), OpenMetrics: om})
	check(err)
	defer prom.Stop()
	src, err := predict.NewPrometheus(prom.URL, nil)
	check(err)
	rules := ruleExprs()

	res := PredictResult{History: "7 h at 30 s, failures at 6 h, replayed every 5 min from 2 h to 6 h"}
	labFirst, ruleFirst := map[string]time.Time{}, map[string]time.Time{}
	ruleRun := map[string]int{} // consecutive evaluations true (for: 10m = 3 at 5 min)
	labAt60 := map[string]*predict.Prediction{}
	failAt := t0.Add(fail)
	for t := t0.Add(2 * time.Hour); !t.After(failAt); t = t.Add(5 * time.Minute) {
		res.Evals++
		r, err := src.Run(ctx, predict.Options{End: t, Horizon: 2 * time.Hour})
		check(err)
		for _, p := range r.Predictions {
			if p.Kind == predict.Restarts {
				continue
			}
			k := p.Key()
			if _, ok := labFirst[k]; !ok {
				labFirst[k] = t
			}
			if t.Equal(failAt.Add(-time.Hour)) {
				labAt60[k] = p
			}
		}
		seen := map[string]bool{}
		for kind, expr := range rules {
			v, _, _, err := src.API.Query(ctx, expr, t)
			check(err)
			vec, _ := v.(model.Vector)
			for _, s := range vec {
				k := predict.IncidentKey(kind, predict.TargetOf(s.Metric))
				seen[k] = true
				ruleRun[k]++
				if _, ok := ruleFirst[k]; !ok && ruleRun[k] >= 3 {
					ruleFirst[k] = t
				}
			}
		}
		for k := range ruleRun {
			if !seen[k] {
				ruleRun[k] = 0
			}
		}
	}
	var labLeads, ruleLeads []float64
	for _, s := range shapes {
		k := s.Key()
		sc := ShapeScore{Name: s.Name, Positive: s.Positive, LabLead: -1, RuleLead: -1, LabETAErr: -1, Cycling: s.OOM}
		if ft, ok := labFirst[k]; ok {
			sc.LabLead = failAt.Sub(ft).Minutes()
		}
		if ft, ok := ruleFirst[k]; ok {
			sc.RuleLead = failAt.Sub(ft).Minutes()
		}
		if p := labAt60[k]; p != nil && !s.OOM {
			sc.LabETAErr = math.Abs(p.In.Minutes()-60) / 60 * 100
		}
		ll, rl := &labLeads, &ruleLeads
		if s.OOM {
			ll, rl = new([]float64), new([]float64)
		}
		score(&res.Lab, s.Positive, sc.LabLead, ll)
		score(&res.Rules, s.Positive, sc.RuleLead, rl)
		res.Shapes = append(res.Shapes, sc)
	}
	finish(&res.Lab, labLeads)
	finish(&res.Rules, ruleLeads)
	res.Scale = predictScale(ctx, dir, containers)
	return res
}

func score(s *Score, positive bool, lead float64, leads *[]float64) {
	switch {
	case positive && lead >= 0:
		s.TP++
		*leads = append(*leads, lead)
	case positive:
		s.FN++
	case lead >= 0:
		s.FP++
	}
}

func finish(s *Score, leads []float64) {
	if s.TP+s.FP > 0 {
		s.Precision = float64(s.TP) / float64(s.TP+s.FP)
	}
	if s.TP+s.FN > 0 {
		s.Recall = float64(s.TP) / float64(s.TP+s.FN)
	}
	if len(leads) > 0 {
		sort.Float64s(leads)
		s.MedianLeadMin = leads[len(leads)/2]
	}
}

// ruleExprs are the alert expressions of manifests/prometheus, by kind, as
// lab up renders them with the default agent.prediction.
func ruleExprs() map[predict.Kind]string {
	var f struct {
		Groups []struct {
			Rules []struct {
				Expr   string            `json:"expr"`
				Labels map[string]string `json:"labels"`
			} `json:"rules"`
		} `json:"groups"`
	}
	raw, err := stacks.SaturationRules(config.Default().Agent.Prediction)
	check(err)
	check(yaml.Unmarshal(raw, &f))
	out := map[predict.Kind]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[predict.Kind(r.Labels["lab_prediction"])] = r.Expr
		}
	}
	return out
}

// predictScale times `predict -A` over n containers (the container shapes
// repeated under other pod names, 2 h at 30 s).
func predictScale(ctx context.Context, dir string, n int) PredictScale {
	now := time.Now().Truncate(time.Minute)
	shapes := harness.Replicate(harness.Shapes((3 * time.Hour).Seconds()), n)
	om := writeShapes(dir, shapes, float64(now.Add(-2*time.Hour).Unix()), float64(now.Unix()))
	b, _ := os.ReadFile(om)
	sc := PredictScale{Containers: n, Samples: strings.Count(string(b), "\n") - 1}
	start := time.Now()
	prom, err := harness.StartPrometheus(ctx, harness.PrometheusOptions{Dir: filepath.Join(dir, "scale"), OpenMetrics: om})
	check(err)
	defer prom.Stop()
	sc.BackfillSec = time.Since(start).Seconds()
	src, err := predict.NewPrometheus(prom.URL, nil)
	check(err)
	var ms runtime.MemStats
	for i := 0; i < 5; i++ {
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		t := time.Now()
		r, err := src.Run(ctx, predict.Options{End: now})
		check(err)
		sc.Seconds = append(sc.Seconds, time.Since(t).Seconds())
		runtime.ReadMemStats(&ms)
		sc.AllocMB = float64(ms.TotalAlloc-before) / (1 << 20)
		sc.Series = r.Series
	}
	s := append([]float64(nil), sc.Seconds...)
	sort.Float64s(s)
	sc.Median = s[len(s)/2]
	return sc
}

func predictTable(r PredictResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Saturation prediction (`lab agent predict`) vs the PromQL rules\n\n%d scripted series (`harness.Shapes`: %s), on a real Prometheus; %d replayed prediction times. lab: Theil–Sen over a 2 h window, 2 h horizon; rule: lab's `predict_linear` rules (manifests/prometheus), counted when true 3 evaluations in a row (their `for: 10m`).\n\n", len(r.Shapes), r.History, r.Evals)
	b.WriteString("| series | runs out | lab: first warning, min before failure | rule: first warning | lab ETA error 60 min before |\n|---|---|---|---|---|\n")
	lead := func(v float64) string {
		if v < 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f", v)
	}
	for _, s := range r.Shapes {
		eta := "—"
		if s.LabETAErr >= 0 {
			eta = fmt.Sprintf("%.0f %%", s.LabETAErr)
		}
		if s.Cycling {
			fmt.Fprintf(&b, "| %s | already (OOM every 90 min) | from the first replay | %s min after the first replay | — |\n", s.Name, lead(240-s.RuleLead))
			continue
		}
		fmt.Fprintf(&b, "| %s | %v | %s | %s | %s |\n", s.Name, s.Positive, lead(s.LabLead), lead(s.RuleLead), eta)
	}
	b.WriteString("\nA false alarm is any warning on a series that never runs out, at any of the replayed times. Median lead over the series that run out for the first time (not the OOM cycle).\n")
	fmt.Fprintf(&b, "\n| method | precision | recall | false alarms | median lead |\n|---|---|---|---|---|\n")
	for _, m := range []struct {
		n string
		s Score
	}{{"lab agent predict", r.Lab}, {"predict_linear rules", r.Rules}} {
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %d | %.0f min |\n", m.n, m.s.Precision, m.s.Recall, m.s.FP, m.s.MedianLeadMin)
	}
	s := r.Scale
	fmt.Fprintf(&b, "\n`predict -A` over **%d containers** (%d series judged, %d samples backfilled in %.1f s): median **%.2f s** per run (%s), %.0f MB allocated per run.\n",
		s.Containers, s.Series, s.Samples, s.BackfillSec, s.Median, fmtSecs(s.Seconds), s.AllocMB)
	return b.String()
}
