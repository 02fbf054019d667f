package harness

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand"
	"sort"
	"strings"

	"lab.dev/lab/agent/predict"
)

// Shape is one scripted series for the saturation-prediction tests: what a
// container's memory, CPU, a PVC or a node does over time, and when (if
// ever) it really runs out. Times are seconds from the history's start.
type Shape struct {
	Name   string
	Kind   predict.Kind
	Target predict.Target
	Limit  float64 // bytes or cores
	Base   float64 // level at t=0
	Rate   float64 // units per second of the underlying rise
	Noise  float64 // standard deviation, as a fraction of Limit
	Period float64 // sawtooth: seconds between garbage collections (0: none)
	Amp    float64 // sawtooth: how much a tooth gains before its collection
	StepAt float64 // step: when the level jumps (0: never)
	StepBy float64
	Warm   float64 // warm-up: the level also rises by Warm·(1 − e^(−t/Tau)) (a cache filling, then flat)
	Tau    float64
	// OOM: at the limit the container is killed and restarts from Base
	// (memory); its restart counter goes up.
	OOM bool
	// Positive: the shape runs out (the prediction should warn).
	Positive bool
	// Born: the series begins this many seconds after the history's start,
	// or, negative, before its end (a container started late; 0: from the
	// start).
	Born float64
	// CAdvisorLimit: the memory limit is only in cAdvisor's
	// container_spec_memory_limit_bytes, as on a lab without
	// kube-state-metrics (lab's own).
	CAdvisorLimit bool
}

// Key is the incident key of the prediction the shape must (or must not)
// raise: a node's series is about the node alone.
func (s Shape) Key() string {
	t := s.Target
	if s.Kind == predict.NodeMem {
		t = predict.Target{Node: t.Node}
	}
	return predict.IncidentKey(s.Kind, t)
}

// FailAt is when the shape first reaches its limit (seconds from start), or
// +Inf: the scripted truth a prediction is scored against.
func (s Shape) FailAt() float64 {
	if s.Rate <= 0 {
		if s.Base+s.StepBy+s.Amp >= s.Limit {
			return s.StepAt
		}
		return math.Inf(1)
	}
	if s.Period > 0 { // peaks: Base + Rate·t + Amp reach the limit
		return (s.Limit - s.Base - s.Amp) / s.Rate
	}
	return (s.Limit - s.Base - s.StepBy) / s.Rate
}

// value is the shape's level at t (noise-free) and how many OOM kills
// happened before t.
func (s Shape) value(t float64) (float64, int) {
	kills := 0
	if s.OOM && s.Rate > 0 {
		cycle := (s.Limit - s.Base) / s.Rate
		kills = int(t / cycle)
		t -= float64(kills) * cycle
	}
	v := s.Base + s.Rate*t
	if s.StepAt > 0 && t >= s.StepAt {
		v += s.StepBy
	}
	if s.Period > 0 {
		v += s.Amp * math.Mod(t, s.Period) / s.Period
	}
	if s.Tau > 0 {
		v += s.Warm * (1 - math.Exp(-t/s.Tau))
	}
	return v, kills
}

// Sample is the series' value at t with its noise (seeded by the shape's
// name, so every run writes the same data).
func (s Shape) samples(times []float64) (v []float64, kills []int) {
	h := int64(0)
	for _, c := range s.Name {
		h = h*31 + int64(c)
	}
	r := rand.New(rand.NewSource(h))
	for _, t := range times {
		x, k := s.value(t)
		x += r.NormFloat64() * s.Noise * s.Limit
		v, kills = append(v, math.Max(0, x)), append(kills, k)
	}
	return v, kills
}

// Shapes is the frozen scripted set: eight that run out, nine that must
// raise nothing (the last four added after the first benchmark run, before
// the predictor changed for them). fail is where the running-out ones reach their limit (seconds
// from the history's start).
func Shapes(fail float64) []Shape {
	const mi, gi = 1 << 20, 1 << 30
	ctr := func(pod string) predict.Target { return predict.Target{Namespace: "shop", Pod: pod, Container: "app"} }
	return []Shape{
		// Runs out.
		{Name: "leak-linear", Kind: predict.Memory, Target: ctr("cart-0"), Limit: gi, Base: 200 * mi, Rate: (gi - 200*mi) / fail, Noise: 0.01, Positive: true},
		{Name: "leak-under-gc", Kind: predict.Memory, Target: ctr("orders-0"), Limit: gi, Base: 150 * mi, Rate: (gi - 150*mi - 200*mi) / fail, Period: 600, Amp: 200 * mi, Noise: 0.01, Positive: true},
		{Name: "oom-cycle", Kind: predict.Memory, Target: ctr("report-0"), Limit: 512 * mi, Base: 100 * mi, Rate: 412 * mi / (fail / 4), Noise: 0.005, OOM: true, Positive: true},
		{Name: "disk-fill", Kind: predict.Disk, Target: predict.Target{Namespace: "shop", PVC: "data-db-0"}, Limit: 10 * gi, Base: 2 * gi, Rate: 8 * gi / fail, Noise: 0.002, Positive: true},
		{Name: "cpu-ramp", Kind: predict.CPU, Target: ctr("search-0"), Limit: 1, Base: 0.2, Rate: 0.8 / fail, Noise: 0.02, Positive: true},
		{Name: "node-fill", Kind: predict.NodeMem, Target: predict.Target{Node: "worker-2", Namespace: "batch", Pod: "etl-0", Container: "app"}, Limit: 8 * gi, Base: 2 * gi, Rate: 6 * gi / fail, Noise: 0.005, Positive: true},
		// Raises nothing.
		{Name: "gc-sawtooth", Kind: predict.Memory, Target: ctr("java-0"), Limit: gi, Base: 300 * mi, Period: 600, Amp: 400 * mi, Noise: 0.01},
		{Name: "flat-noisy", Kind: predict.Memory, Target: ctr("web-0"), Limit: gi, Base: 500 * mi, Noise: 0.08},
		{Name: "step-then-flat", Kind: predict.Memory, Target: ctr("cache-0"), Limit: gi, Base: 300 * mi, StepAt: fail / 3, StepBy: 400 * mi, Noise: 0.01},
		{Name: "slow-leak-beyond-horizon", Kind: predict.Memory, Target: ctr("auth-0"), Limit: gi, Base: 300 * mi, Rate: 700 * mi / (fail * 4), Noise: 0.01},
		{Name: "disk-steady", Kind: predict.Disk, Target: predict.Target{Namespace: "shop", PVC: "data-queue-0"}, Limit: 10 * gi, Base: 6 * gi, Noise: 0.003},
		{Name: "cpu-bursty", Kind: predict.CPU, Target: ctr("api-0"), Limit: 1, Base: 0.4, Noise: 0.15},
		{Name: "memory-no-limit", Kind: predict.Memory, Target: ctr("nolimit-0"), Base: 200 * mi, Rate: 500 * mi / fail, Noise: 0.01},
		// Added after the first benchmark run, before any change for them.
		{Name: "restart-then-leak", Kind: predict.Memory, Target: ctr("pay-0"), Limit: gi, Base: 400 * mi, StepAt: fail / 3, StepBy: -300 * mi, Rate: (gi - 100*mi) / fail, Noise: 0.01, Positive: true},
		{Name: "disk-fill-with-rotation", Kind: predict.Disk, Target: predict.Target{Namespace: "shop", PVC: "logs-0"}, Limit: 20 * gi, Base: 4 * gi, Rate: 14 * gi / fail, Period: 1800, Amp: 2 * gi, Noise: 0.002, Positive: true},
		{Name: "warm-up-then-flat", Kind: predict.Memory, Target: ctr("catalog-0"), Limit: gi, Base: 200 * mi, Warm: 450 * mi, Tau: fail / 6, Noise: 0.01},
		{Name: "cpu-step-near-limit", Kind: predict.CPU, Target: ctr("render-0"), Limit: 1, Base: 0.5, StepAt: fail / 2, StepBy: 0.4, Noise: 0.02},
		// Added when the kind lab showed lab's predictor blind without kube-state-metrics.
		{Name: "leak-cadvisor-limit", Kind: predict.Memory, Target: ctr("ledger-0"), Limit: gi, Base: 250 * mi, Rate: (gi - 250*mi) / fail, Noise: 0.01, Positive: true, CAdvisorLimit: true},
		// A container started minutes ago, steep: too few samples for a trend (a prediction would overstate it).
		{Name: "young-ramp", Kind: predict.Memory, Target: ctr("fresh-0"), Limit: 512 * mi, Base: 20 * mi, Rate: 2 * mi, Noise: 0.005, Born: -150},
	}
}

// WriteOpenMetrics writes the shapes as the series kube-prometheus-stack
// scrapes (cAdvisor, kube-state-metrics, kubelet volume stats), sampled
// every step from start to end (unix seconds), for `promtool tsdb
// create-blocks-from openmetrics`.
func WriteOpenMetrics(w io.Writer, shapes []Shape, start, end, step float64) error {
	bw := bufio.NewWriter(w)
	var times []float64
	for t := start; t <= end; t += step {
		times = append(times, t)
	}
	fam := map[string][]string{} // family → sample lines, each series in time order
	born := 0.0                  // the current shape's first sample time (unix seconds)
	add := func(name, labels string, vals []float64) {
		for i, t := range times {
			if t >= born {
				fam[name] = append(fam[name], fmt.Sprintf("%s{%s} %g %.3f", name, labels, vals[i], t))
			}
		}
	}
	constant := func(v float64) []float64 {
		out := make([]float64, len(times))
		for i := range out {
			out[i] = v
		}
		return out
	}
	rel := make([]float64, len(times))
	for i, t := range times {
		rel[i] = t - start
	}
	for _, s := range shapes {
		born = start + s.Born
		if s.Born < 0 { // counted back from the end
			born = end + s.Born
		}
		since := rel
		if s.Born != 0 { // its own clock starts when it is born
			since = make([]float64, len(times))
			for i, t := range times {
				since[i] = t - born
			}
		}
		v, kills := s.samples(since)
		tg := s.Target
		ctr := fmt.Sprintf(`namespace=%q,pod=%q,container=%q`, tg.Namespace, tg.Pod, tg.Container)
		node := tg.Node
		if node == "" {
			node = "worker-1"
		}
		switch s.Kind {
		case predict.Memory, predict.NodeMem:
			add("container_memory_working_set_bytes", ctr+`,id="/kubepods/`+tg.Pod+`",image="app:1"`, v)
			switch {
			case s.Kind == predict.Memory && s.Limit > 0 && s.CAdvisorLimit:
				add("container_spec_memory_limit_bytes", ctr+`,id="/kubepods/`+tg.Pod+`",image="app:1"`, constant(s.Limit))
			case s.Kind == predict.Memory && s.Limit > 0:
				add("kube_pod_container_resource_limits", ctr+`,resource="memory",unit="byte"`, constant(s.Limit))
			}
			if s.Kind == predict.NodeMem {
				add("kube_node_status_allocatable", fmt.Sprintf(`node=%q,resource="memory",unit="byte"`, node), constant(s.Limit))
			}
			restarts := make([]float64, len(kills))
			for i, k := range kills {
				restarts[i] = float64(k)
			}
			add("kube_pod_container_status_restarts_total", ctr, restarts)
		case predict.CPU:
			counter := make([]float64, len(v))
			for i := 1; i < len(v); i++ { // the usage integrated: a counter of CPU seconds
				counter[i] = counter[i-1] + v[i]*(times[i]-times[i-1])
			}
			add("container_cpu_usage_seconds_total", ctr+`,cpu="total"`, counter)
			// CFS: 10 periods a second, throttled in a share that grows as
			// usage nears the limit (none below 70 % of it).
			periods, thr := make([]float64, len(v)), make([]float64, len(v))
			for i := 1; i < len(v); i++ {
				dt := times[i] - times[i-1]
				periods[i] = periods[i-1] + 10*dt
				thr[i] = thr[i-1] + 10*dt*math.Min(1, math.Max(0, (v[i]/s.Limit-0.7)/0.3))
			}
			add("container_cpu_cfs_periods_total", ctr, periods)
			add("container_cpu_cfs_throttled_periods_total", ctr, thr)
			add("kube_pod_container_resource_limits", ctr+`,resource="cpu",unit="core"`, constant(s.Limit))
		case predict.Disk:
			pvc := fmt.Sprintf(`namespace=%q,persistentvolumeclaim=%q`, tg.Namespace, tg.PVC)
			add("kubelet_volume_stats_used_bytes", pvc, v)
			add("kubelet_volume_stats_capacity_bytes", pvc, constant(s.Limit))
		}
		if tg.Pod != "" {
			add("kube_pod_info", fmt.Sprintf(`namespace=%q,pod=%q,node=%q`, tg.Namespace, tg.Pod, node), constant(1))
		}
	}
	names := make([]string, 0, len(fam))
	for n := range fam {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(bw, "# TYPE %s gauge\n%s\n", n, strings.Join(fam[n], "\n"))
	}
	fmt.Fprintln(bw, "# EOF")
	return bw.Flush()
}

// Replicate is n copies of the shapes that are about a pod, each under its
// own pod name (pod-0001…): the cluster a scale benchmark predicts over.
func Replicate(shapes []Shape, n int) []Shape {
	var out []Shape
	for i := 0; len(out) < n; i++ {
		for _, s := range shapes {
			if s.Target.Pod == "" || s.Kind == predict.NodeMem || len(out) == n { // one node series per node
				continue
			}
			c := s
			c.Name = fmt.Sprintf("%s-%04d", s.Name, i)
			c.Target.Pod = fmt.Sprintf("%s-%04d", s.Target.Pod, i)
			out = append(out, c)
		}
	}
	return out
}
