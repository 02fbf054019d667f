// Package predict warns before a container runs out: from Prometheus range
// queries it fits a robust trend (Theil–Sen with Sen's confidence band) to
// each container's memory and CPU against their limits, each PVC's usage
// against its capacity and each node's memory against its allocatable, and
// predicts when the line reaches the limit. Flat, noisy and garbage-collected
// (sawtooth) series raise nothing; each prediction cites its series as
// evidence the way a diagnosis does.
package predict

import (
	"fmt"
	"math"
	"time"
)

// Kind is what runs out.
type Kind string

// The kinds predicted.
const (
	Memory   Kind = "memory"      // container working set vs its memory limit
	CPU      Kind = "cpu"         // container CPU usage vs its CPU limit (throttling)
	Disk     Kind = "pvc"         // PVC used bytes vs capacity (kubelet volume stats)
	NodeMem  Kind = "node-memory" // node working set vs allocatable memory
	Restarts Kind = "restarts"    // a container that keeps restarting
)

// Target is what a series is about: a container, a PVC or a node.
type Target struct {
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	PVC       string `json:"pvc,omitempty"`
	Node      string `json:"node,omitempty"`
}

// String names the target the way a user reads it.
func (t Target) String() string {
	switch {
	case t.PVC != "":
		return fmt.Sprintf("pvc %s/%s", t.Namespace, t.PVC)
	case t.Node != "":
		return "node " + t.Node
	}
	return fmt.Sprintf("%s/%s container %s", t.Namespace, t.Pod, t.Container)
}

// Input is one series to judge.
type Input struct {
	Kind   Kind
	Target Target
	Unit   string    // bytes, cores, count
	Times  []float64 // unix seconds, ascending
	Values []float64
	Limit  float64 // what it saturates at; 0 = none known (no prediction)
	Query  string  // the PromQL that produced it (cited as evidence)
}

// Prediction is a series predicted to reach its limit within the horizon.
type Prediction struct {
	Kind     Kind          `json:"kind"`
	Target   Target        `json:"target"`
	Unit     string        `json:"unit"`
	Current  float64       `json:"current"` // the trend line's level now
	Limit    float64       `json:"limit"`
	Trend    Trend         `json:"trend"`
	Shape    string        `json:"shape"`
	In       time.Duration `json:"in"`       // predicted time to saturation from the last sample
	Earliest time.Duration `json:"earliest"` // 95 % band
	Latest   time.Duration `json:"latest"`   // -1: no upper bound
	At       time.Time     `json:"at"`
	Evidence Evidence      `json:"evidence"`
	// Throttled (CPU): the share of CFS periods the container is throttled
	// in now, where cAdvisor reports it.
	Throttled float64 `json:"throttled,omitempty"`
}

// Evidence cites the series a prediction rests on.
type Evidence struct {
	ID      string `json:"id"` // metric:<kind>:<target>
	Query   string `json:"query"`
	Summary string `json:"summary"`
}

// Key identifies the incident a prediction warns of (what serve dedupes on).
func (p *Prediction) Key() string { return IncidentKey(p.Kind, p.Target) }

// IncidentKey identifies what running out of kind on t is, wherever it is
// predicted from (lab's trend, a PromQL rule, a scripted shape).
func IncidentKey(k Kind, t Target) string {
	return string(k) + "|" + t.Namespace + "|" + t.Pod + "|" + t.Container + "|" + t.PVC + "|" + t.Node
}

// minPoints is the fewest samples a trend is fitted on; a longer series is
// thinned to maxPoints (Theil–Sen compares every pair: O(n²)).
const minPoints, maxPoints = 10, 360

// thin keeps every k-th sample (and the last) so at most max remain.
func thin(t, v []float64, max int) ([]float64, []float64) {
	if len(v) <= max {
		return t, v
	}
	k := (len(v) + max - 1) / max
	var tt, vv []float64
	for i := len(v) - 1; i >= 0; i -= k { // from the end: the newest sample stays
		tt, vv = append(tt, t[i]), append(vv, v[i])
	}
	for i, j := 0, len(tt)-1; i < j; i, j = i+1, j-1 {
		tt[i], tt[j], vv[i], vv[j] = tt[j], tt[i], vv[j], vv[i]
	}
	return tt, vv
}

// Assess predicts when in's series reaches its limit; nil when it does not
// within horizon, when the rise is not significant, or when there is too
// little data to say.
func Assess(in Input, horizon time.Duration) *Prediction {
	n := len(in.Values)
	if n < minPoints || len(in.Times) != n || in.Limit <= 0 && in.Kind != Restarts {
		return nil
	}
	if in.Kind == Restarts {
		return assessRestarts(in, horizon)
	}
	in.Times, in.Values = thin(in.Times, in.Values, maxPoints)
	n = len(in.Values)
	teeth := Teeth(in.Values)
	var tr Trend
	var shape string
	var ok bool
	switch {
	case len(teeth) >= 3:
		tr, shape, ok = sawtooth(in, teeth)
	default:
		// One drop at most (a restart): the segment since it, and since its
		// last sudden rise (a level shift), is what runs out; it must rise
		// over the whole segment and over its recent half.
		last := teeth[len(teeth)-1]
		t, v := in.Times[last[0]:last[1]], in.Values[last[0]:last[1]]
		if i := lastRise(t, v); i > 0 {
			t, v = t[i:], v[i:]
		}
		if len(v) < minPoints {
			return nil
		}
		full, ok1 := TheilSen(t, v)
		h := len(v) / 2
		recent, ok2 := TheilSen(t[h:], v[h:])
		if !ok1 || !ok2 || !full.Significant || !recent.Significant {
			return nil
		}
		tr, shape, ok = recent, "steady rise", true
	}
	if !ok {
		return nil
	}
	p := &Prediction{Kind: in.Kind, Target: in.Target, Unit: in.Unit, Current: tr.Level, Limit: in.Limit, Trend: tr, Shape: shape, Latest: -1}
	room := in.Limit - tr.Level
	if room <= 0 {
		p.Shape += ", at its limit now"
	} else {
		p.In = seconds(room / tr.Slope)
		p.Earliest = seconds(room / tr.SlopeHigh)
		if tr.SlopeLow > 0 {
			p.Latest = seconds(room / tr.SlopeLow)
		}
	}
	if p.In > horizon {
		return nil
	}
	return p.cite(in)
}

// cite dates the prediction from the series' last sample and cites the
// series as its evidence.
func (p *Prediction) cite(in Input) *Prediction {
	last := time.Unix(0, int64(in.Times[len(in.Times)-1]*1e9)).UTC()
	p.At = last.Add(p.In)
	p.Evidence = Evidence{ID: "metric:" + string(in.Kind) + ":" + in.Target.String(), Query: in.Query, Summary: summary(in, p)}
	return p
}

// sawtooth judges a series with repeated drops. If it already reached (90 %
// of) its limit before a drop, it is an OOM/restart cycle and the current
// tooth's own rise says when it gets there again; otherwise the drops are
// garbage collections or rotations, and only peaks that rise from tooth to
// tooth are a leak.
func sawtooth(in Input, teeth [][2]int) (Trend, string, bool) {
	var pt, pv []float64
	hitLimit := 0
	for i, th := range teeth {
		mi := th[0]
		for j := th[0]; j < th[1]; j++ {
			if in.Values[j] > in.Values[mi] {
				mi = j
			}
		}
		if i < len(teeth)-1 { // a finished tooth
			pt, pv = append(pt, in.Times[mi]), append(pv, in.Values[mi])
			if in.Values[mi] >= 0.9*in.Limit {
				hitLimit++
			}
		}
	}
	if hitLimit > 0 {
		cur := teeth[len(teeth)-1]
		tr, ok := TheilSen(in.Times[cur[0]:cur[1]], in.Values[cur[0]:cur[1]])
		if !ok || cur[1]-cur[0] < 5 || !tr.Significant {
			return Trend{}, "", false
		}
		return tr, fmt.Sprintf("restart cycle: reached its limit %d time(s) in the window and is rising again", hitLimit), true
	}
	tr, ok := TheilSen(pt, pv)
	if !ok || !tr.Significant {
		return Trend{}, "", false
	}
	// The peak line's level at the last sample, not at the last finished peak.
	tr.Level += tr.Slope * (in.Times[len(in.Times)-1] - pt[len(pt)-1])
	return tr, fmt.Sprintf("sawtooth (%d drops) with peaks rising tooth after tooth", len(teeth)-1), true
}

// assessRestarts reads a restart counter: two or more restarts in the window
// predict the next one from their mean interval.
func assessRestarts(in Input, horizon time.Duration) *Prediction {
	var at []float64
	for i := 1; i < len(in.Values); i++ {
		if d := in.Values[i] - in.Values[i-1]; d > 0 {
			at = append(at, in.Times[i])
		}
	}
	if len(at) < 2 {
		return nil
	}
	last := in.Times[len(in.Times)-1]
	gap := (at[len(at)-1] - at[0]) / float64(len(at)-1)
	next := math.Max(0, at[len(at)-1]+gap-last)
	if seconds(next) > horizon {
		return nil
	}
	p := &Prediction{Kind: Restarts, Target: in.Target, Unit: "count", Current: in.Values[len(in.Values)-1],
		Shape: fmt.Sprintf("%d restarts in the window, one every %s", len(at), seconds(gap).Round(time.Second)),
		In:    seconds(next), Earliest: seconds(next), Latest: seconds(next)}
	return p.cite(in)
}

func seconds(s float64) time.Duration {
	if math.IsInf(s, 0) || math.IsNaN(s) || s > 1e9 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}
