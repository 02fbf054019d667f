package predict

import (
	"math"
	"sort"
)

// Trend is a robust straight line through a series: the Theil–Sen slope
// (median of the pairwise slopes) with Sen's 95 % confidence interval
// (ranks from Kendall's S variance), and the level the line reaches at the
// series' last time (median intercept, so one outlier does not move it).
type Trend struct {
	Slope     float64 `json:"slope"`     // units per second
	SlopeLow  float64 `json:"slopeLow"`  // 95 % band
	SlopeHigh float64 `json:"slopeHigh"` //
	Level     float64 `json:"level"`     // the line's value at the last sample
	Points    int     `json:"points"`
	// Significant: the band lies above zero (a rise that noise does not explain).
	Significant bool `json:"significant"`
}

// z95 is the two-sided 95 % normal quantile.
const z95 = 1.959964

// TheilSen fits t (seconds) and v; fewer than 3 points give no trend (ok false).
func TheilSen(t, v []float64) (Trend, bool) {
	n := len(t)
	if n < 3 || len(v) != n {
		return Trend{}, false
	}
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if dt := t[j] - t[i]; dt != 0 {
				slopes = append(slopes, (v[j]-v[i])/dt)
			}
		}
	}
	if len(slopes) == 0 {
		return Trend{}, false
	}
	sort.Float64s(slopes)
	tr := Trend{Slope: median(slopes), Points: n}
	// Sen (1968): with N pairwise slopes and C = z·sqrt(Var S), the band is
	// the M1-th and (M2+1)-th smallest slope, M1 = (N−C)/2, M2 = (N+C)/2.
	nf := float64(n)
	c := z95 * math.Sqrt(nf*(nf-1)*(2*nf+5)/18)
	N := float64(len(slopes))
	m1, m2 := int(math.Floor((N-c)/2)), int(math.Ceil((N+c)/2))
	tr.SlopeLow, tr.SlopeHigh = math.Inf(-1), math.Inf(1)
	if m1 >= 1 {
		tr.SlopeLow = slopes[m1-1]
	}
	if m2 < len(slopes) {
		tr.SlopeHigh = slopes[m2]
	}
	tr.Significant = tr.SlopeLow > 0
	icpt := make([]float64, n)
	for i := range t {
		icpt[i] = v[i] - tr.Slope*(t[i]-t[n-1])
	}
	tr.Level = median(icpt)
	return tr, true
}

// LeastSquares is the ordinary least-squares line through t (seconds) and v
// — what PromQL's predict_linear and deriv fit — as a slope per second and
// the line's level at the last sample. Fewer than 3 points, or times that do
// not spread, give none (ok false). It has no band: lab's trend (TheilSen)
// is what predictions rest on; this states what a young series' few samples
// say, the way Prometheus' rule read them.
func LeastSquares(t, v []float64) (slope, level float64, ok bool) {
	n := len(t)
	if n < 3 || len(v) != n {
		return 0, 0, false
	}
	var mt, mv float64
	for i := range t {
		mt += t[i]
		mv += v[i]
	}
	mt, mv = mt/float64(n), mv/float64(n)
	var sxy, sxx float64
	for i := range t {
		sxy += (t[i] - mt) * (v[i] - mv)
		sxx += (t[i] - mt) * (t[i] - mt)
	}
	if sxx == 0 || math.IsNaN(sxy) || math.IsInf(sxy, 0) {
		return 0, 0, false
	}
	slope = sxy / sxx
	return slope, mv + slope*(t[n-1]-mt), true
}

// median sorts a copy-free slice in place when needed; s must be non-empty.
func median(s []float64) float64 {
	if !sort.Float64sAreSorted(s) {
		sort.Float64s(s)
	}
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Teeth splits a series at its sudden drops: a fall of more than a quarter
// of the series' range between two samples ends a tooth (a garbage
// collection, a restart after an OOM kill, a log rotation). A series with
// no drop is one tooth.
func Teeth(v []float64) [][2]int {
	if len(v) == 0 {
		return nil
	}
	drop := quarterRange(v)
	var out [][2]int
	start := 0
	for i := 1; i < len(v); i++ {
		if drop > 0 && v[i-1]-v[i] > drop {
			out = append(out, [2]int{start, i})
			start = i
		}
	}
	return append(out, [2]int{start, len(v)})
}

// shiftSpan is how quickly a rise must happen to be a level shift rather
// than a trend: five minutes, the rate() window a CPU series is read with
// (a step in CPU use shows as a five-minute ramp).
const shiftSpan = 300.0

// lastRise is the index of the first sample after the last level shift in
// the series: a rise of more than a quarter of its range within shiftSpan
// seconds (a deploy, a cache loaded at once, a step in load); 0 when there
// is none. What came before a shift says nothing about the trend after it.
func lastRise(t, v []float64) int {
	if len(v) == 0 || len(t) != len(v) {
		return 0
	}
	jump := quarterRange(v)
	if !(jump > 0) {
		return 0
	}
	for i := len(v) - 1; i > 0; i-- {
		for j := i - 1; j >= 0 && t[i]-t[j] <= shiftSpan; j-- {
			if v[i]-v[j] > jump {
				return i + 1
			}
		}
	}
	return 0
}

// quarterRange is a quarter of v's range: the size of a sudden drop (Teeth)
// or rise (lastRise) that breaks a series into segments. v is not empty.
func quarterRange(v []float64) float64 {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return (hi - lo) / 4
}
