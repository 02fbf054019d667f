package collect

import (
	"context"
	"fmt"
	"sort"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Series is one metric of one container around the failure.
type Series struct {
	Metric    string    `json:"metric"` // memory, cpu, restarts
	Container string    `json:"container"`
	Unit      string    `json:"unit"` // bytes, cores, count
	Times     []int64   `json:"times"`
	Values    []float64 `json:"values"`
}

// Min, Max, First and Last summarise a series.
func (s Series) Min() float64   { return fold(s.Values, func(a, b float64) bool { return b < a }) }
func (s Series) Max() float64   { return fold(s.Values, func(a, b float64) bool { return b > a }) }
func (s Series) First() float64 { return s.Values[0] }
func (s Series) Last() float64  { return s.Values[len(s.Values)-1] }

func fold(v []float64, better func(a, b float64) bool) float64 {
	m := v[0]
	for _, x := range v[1:] {
		if better(m, x) {
			m = x
		}
	}
	return m
}

// MetricsSource reads a pod's series (Prometheus in a lab).
type MetricsSource interface {
	PodSeries(ctx context.Context, namespace, pod string, window time.Duration) ([]Series, error)
}

// Prometheus reads cAdvisor and kube-state-metrics series through
// Prometheus' HTTP API (client_golang's api/prometheus/v1).
type Prometheus struct{ API promv1.API }

// NewPrometheus builds a source for a Prometheus base URL.
func NewPrometheus(url string) (*Prometheus, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		return nil, err
	}
	return &Prometheus{API: promv1.NewAPI(c)}, nil
}

// PodSeries queries memory working set, CPU rate and restarts per container
// over the window before now.
func (p *Prometheus) PodSeries(ctx context.Context, ns, pod string, window time.Duration) ([]Series, error) {
	sel := fmt.Sprintf(`namespace=%q,pod=%q`, ns, pod)
	queries := []struct{ metric, unit, q string }{
		{"memory", "bytes", `max by (container) (container_memory_working_set_bytes{` + sel + `,container!="",container!="POD"})`},
		{"cpu", "cores", `sum by (container) (rate(container_cpu_usage_seconds_total{` + sel + `,container!="",container!="POD"}[2m]))`},
		{"restarts", "count", `max by (container) (kube_pod_container_status_restarts_total{` + sel + `})`},
	}
	end := time.Now()
	r := promv1.Range{Start: end.Add(-window), End: end, Step: window / 30}
	var out []Series
	for _, q := range queries {
		v, _, _, err := p.API.QueryRange(ctx, q.q, r)
		if err != nil {
			return out, fmt.Errorf("prometheus %s: %w", q.metric, err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			continue
		}
		for _, ss := range m {
			s := Series{Metric: q.metric, Unit: q.unit, Container: string(ss.Metric["container"])}
			for _, pt := range ss.Values {
				s.Times = append(s.Times, int64(pt.Timestamp)/1000)
				s.Values = append(s.Values, float64(pt.Value))
			}
			if len(s.Values) > 0 {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Container+out[i].Metric < out[j].Container+out[j].Metric })
	return out, nil
}

// MetricEvidence summarises a series in one line.
func MetricEvidence(s Series) Evidence {
	f := func(v float64) string {
		switch s.Unit {
		case "bytes":
			return fmt.Sprintf("%.0fMiB", v/(1<<20))
		case "cores":
			return fmt.Sprintf("%.2f cores", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	mins := 0
	if n := len(s.Times); n > 1 {
		mins = int((s.Times[n-1] - s.Times[0]) / 60)
	}
	return Evidence{ID: "metric:" + s.Metric + ":" + s.Container, Kind: "metric",
		Summary: fmt.Sprintf("%s %s: %s → %s over %d min (min %s, peak %s)", s.Container, s.Metric, f(s.First()), f(s.Last()), mins, f(s.Min()), f(s.Max()))}
}
