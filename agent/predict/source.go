package predict

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Options say what to predict over.
type Options struct {
	Namespace string        // "" = every namespace
	Window    time.Duration // history read (default 2h)
	Horizon   time.Duration // how far ahead a saturation is reported (default 2h)
	End       time.Time     // the "now" of the prediction (default time.Now)
	Step      time.Duration // range-query resolution (default Window/120, at least 15s)
}

// MinSamples is the fewest samples a trend is fitted on.
const MinSamples = minPoints

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = 2 * time.Hour
	}
	if o.Horizon <= 0 {
		o.Horizon = 2 * time.Hour
	}
	if o.End.IsZero() {
		o.End = time.Now()
	}
	if o.Step <= 0 {
		o.Step = max(o.Window/120, 15*time.Second)
	}
	return o
}

// Result is one prediction run.
type Result struct {
	End         time.Time     `json:"end"`
	Window      time.Duration `json:"window"`
	Horizon     time.Duration `json:"horizon"`
	Series      int           `json:"series"` // series judged
	Predictions []*Prediction `json:"predictions"`
	// Young are the series judged with too few samples for a trend (fewer
	// than 10 in the window): what a prediction on them would overstate.
	Young  []Young  `json:"young,omitempty"`
	Errors []string `json:"errors,omitempty"` // queries that failed (the rest still ran)
}

// Young is a series too short for a trend: its target, kind and sample
// count, and what a least-squares line through those samples says (what
// PromQL's predict_linear fits, with no band: not a prediction of lab's).
type Young struct {
	Kind    Kind    `json:"kind"`
	Target  Target  `json:"target"`
	Samples int     `json:"samples"`
	Unit    string  `json:"unit,omitempty"`
	Limit   float64 `json:"limit,omitempty"`
	// Reaches: the line rises and reaches Limit, In after the last sample
	// (0: the line is at the limit already).
	Reaches bool          `json:"reaches,omitempty"`
	In      time.Duration `json:"in,omitempty"`
	At      time.Time     `json:"at,omitzero"`
}

// young judges a series too short for a trend by its least-squares line.
func young(in Input) Young {
	y := Young{Kind: in.Kind, Target: in.Target, Samples: len(in.Values), Unit: in.Unit, Limit: in.Limit}
	slope, level, ok := LeastSquares(in.Times, in.Values)
	if !ok || in.Limit <= 0 || slope <= 0 {
		return y
	}
	y.Reaches = true
	if left := (in.Limit - level) / slope; left > 0 {
		y.In = time.Duration(math.Min(left, float64(math.MaxInt64/2)/1e9) * float64(time.Second))
	}
	last := in.Times[len(in.Times)-1]
	y.At = time.Unix(0, int64(last*1e9)).Add(y.In).UTC()
	return y
}

// Prometheus reads the series through Prometheus' HTTP API (client_golang).
type Prometheus struct{ API promv1.API }

// NewPrometheus connects to a Prometheus base URL; rt (may be nil) carries
// the requests, e.g. the API server's service proxy with the user's
// credentials.
func NewPrometheus(url string, rt http.RoundTripper) (*Prometheus, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url, RoundTripper: rt})
	if err != nil {
		return nil, err
	}
	return &Prometheus{API: promv1.NewAPI(c)}, nil
}

// query is one usage series family and what it saturates at.
type query struct {
	kind  Kind
	unit  string
	usage string   // range query, one series per target
	limit string   // instant query at End, same labels
	by    []string // the labels naming a target
}

// queries are the PromQL lab predicts from (cAdvisor, kube-state-metrics and
// kubelet volume stats, as kube-prometheus-stack scrapes them). A
// container's limits and restarts come from kube-state-metrics where it
// runs, else from cAdvisor's container_spec_* (lab's ServiceMonitor
// lab-cadvisor-limits keeps them) and lab agent serve's own restart counts:
// lab's labs run no kube-state-metrics, and there the predictor saw no
// container with a limit at all (what lab's PromQL rules already read). A
// node's prediction still needs kube-state-metrics (kube_pod_info, the
// node's allocatable). sel is a label matcher list such as
// `namespace="shop"` (may be empty).
func queries(sel string) []query {
	c := func(extra string) string { return matchers(extra, sel) }
	ctr := []string{"namespace", "pod", "container"}
	return []query{
		{Memory, "bytes", `max by (namespace,pod,container) (container_memory_working_set_bytes` + c(`container!="",container!="POD"`) + `)`,
			`max by (namespace,pod,container) (kube_pod_container_resource_limits` + c(`resource="memory"`) + `)` +
				` or max by (namespace,pod,container) (container_spec_memory_limit_bytes` + c(`container!="",container!="POD"`) + ` > 0)`, ctr},
		{CPU, "cores", `sum by (namespace,pod,container) (rate(container_cpu_usage_seconds_total` + c(`container!="",container!="POD"`) + `[5m]))`,
			`max by (namespace,pod,container) (kube_pod_container_resource_limits` + c(`resource="cpu"`) + `)` +
				` or max by (namespace,pod,container) (container_spec_cpu_quota` + c(`container!="",container!="POD"`) + ` > 0)` +
				` / max by (namespace,pod,container) (container_spec_cpu_period` + c(`container!="",container!="POD"`) + `)`, ctr},
		{Disk, "bytes", `max by (namespace,persistentvolumeclaim) (kubelet_volume_stats_used_bytes` + c("") + `)`,
			`max by (namespace,persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes` + c("") + `)`, []string{"namespace", "persistentvolumeclaim"}},
		{NodeMem, "bytes", `sum by (node) (container_memory_working_set_bytes{container!="",container!="POD"} * on (namespace,pod) group_left(node) max by (namespace,pod,node) (kube_pod_info{node!=""}))`,
			`max by (node) (kube_node_status_allocatable{resource="memory"})`, []string{"node"}},
		{Restarts, "count", `max by (namespace,pod,container) (kube_pod_container_status_restarts_total` + c("") + `)` +
			` or max by (namespace,pod,container) (lab_agent_container_restarts_total` + c("") + `)`, "", ctr},
	}
}

// Run reads every series in scope and returns the predictions, soonest first.
// A query that fails is reported in Errors; the others still count.
func (p *Prometheus) Run(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	sel := ""
	if o.Namespace != "" {
		sel = fmt.Sprintf("namespace=%q", o.Namespace)
	}
	res := &Result{End: o.End.UTC(), Window: o.Window, Horizon: o.Horizon, Predictions: []*Prediction{}}
	for _, q := range queries(sel) {
		if q.kind == NodeMem && o.Namespace != "" {
			continue // a node is not in a namespace
		}
		ins, err := p.inputs(ctx, q, o)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", q.kind, err))
			continue
		}
		res.Series += len(ins)
		for _, in := range ins {
			if len(in.Values) < minPoints {
				res.Young = append(res.Young, young(in))
				continue
			}
			if pr := Assess(in, o.Horizon); pr != nil {
				res.Predictions = append(res.Predictions, pr)
			}
		}
	}
	p.addThrottling(ctx, res, sel, o.End)
	if len(res.Errors) > 0 && res.Series == 0 {
		return res, fmt.Errorf("prometheus: %s", strings.Join(res.Errors, "; "))
	}
	sort.SliceStable(res.Predictions, func(i, j int) bool { return res.Predictions[i].In < res.Predictions[j].In })
	return res, nil
}

func (p *Prometheus) inputs(ctx context.Context, q query, o Options) ([]Input, error) {
	v, _, _, err := p.API.QueryRange(ctx, q.usage, promv1.Range{Start: o.End.Add(-o.Window), End: o.End, Step: o.Step})
	if err != nil {
		return nil, err
	}
	m, _ := v.(model.Matrix)
	limits := map[string]float64{}
	if q.limit != "" {
		lv, _, _, err := p.API.Query(ctx, q.limit, o.End)
		if err != nil {
			return nil, fmt.Errorf("limits: %w", err)
		}
		vec, _ := lv.(model.Vector)
		for _, s := range vec {
			limits[labelKey(s.Metric, q.by)] = float64(s.Value)
		}
	}
	var out []Input
	for _, s := range m {
		in := Input{Kind: q.kind, Unit: q.unit, Target: TargetOf(s.Metric), Query: q.usage, Limit: limits[labelKey(s.Metric, q.by)]}
		if q.limit != "" && in.Limit == 0 {
			continue // no limit, nothing to run out of
		}
		in.Times = make([]float64, len(s.Values))
		in.Values = make([]float64, len(s.Values))
		for i, pt := range s.Values {
			in.Times[i] = float64(pt.Timestamp) / 1000
			in.Values[i] = float64(pt.Value)
		}
		out = append(out, in)
	}
	return out, nil
}

// matchers is a PromQL label-matcher block of the non-empty lists given
// ("{}" when both are empty).
func matchers(lists ...string) string {
	var parts []string
	for _, l := range lists {
		if l != "" {
			parts = append(parts, l)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func labelKey(m model.Metric, by []string) string {
	var b strings.Builder
	for _, l := range by {
		b.WriteString(string(m[model.LabelName(l)]))
		b.WriteByte(0)
	}
	return b.String()
}

// TargetOf is what a series' labels name: a container, a PVC or a node.
func TargetOf(m model.Metric) Target {
	return Target{Namespace: string(m["namespace"]), Pod: string(m["pod"]), Container: string(m["container"]),
		PVC: string(m["persistentvolumeclaim"]), Node: string(m["node"])}
}

// throttled is the share of CFS periods in which a container was throttled
// (cAdvisor), by container.
const throttled = `sum by (namespace,pod,container) (rate(container_cpu_cfs_throttled_periods_total%s[5m])) / sum by (namespace,pod,container) (rate(container_cpu_cfs_periods_total%s[5m]))`

// addThrottling adds to each CPU prediction how often its container is
// throttled now: what a CPU limit costs before usage reaches it. Where
// cAdvisor's CFS series are missing the prediction stays as it is.
func (p *Prometheus) addThrottling(ctx context.Context, res *Result, sel string, end time.Time) {
	byTarget := map[Target]*Prediction{}
	for _, pr := range res.Predictions {
		if pr.Kind == CPU {
			byTarget[pr.Target] = pr
		}
	}
	if len(byTarget) == 0 {
		return
	}
	m := matchers(sel)
	v, _, _, err := p.API.Query(ctx, fmt.Sprintf(throttled, m, m), end)
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("cpu throttling: %v", err))
		return
	}
	vec, _ := v.(model.Vector)
	for _, s := range vec {
		if pr := byTarget[TargetOf(s.Metric)]; pr != nil && !math.IsNaN(float64(s.Value)) {
			pr.Throttled = float64(s.Value)
			pr.Evidence.Summary += fmt.Sprintf("; throttled in %.0f %% of CFS periods now", 100*pr.Throttled)
		}
	}
}
