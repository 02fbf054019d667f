package predict

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

func line(n int, step, base, slope, noise float64, seed int64) (t, v []float64) {
	r := rand.New(rand.NewSource(seed))
	for i := 0; i < n; i++ {
		t = append(t, 1.7e9+float64(i)*step)
		v = append(v, base+slope*float64(i)*step+r.NormFloat64()*noise)
	}
	return t, v
}

func TestTheilSenExactAndRobust(t *testing.T) {
	ts, vs := line(50, 60, 100, 2, 0, 1)
	tr, ok := TheilSen(ts, vs)
	if !ok || tr.Slope != 2 || math.Abs(tr.Level-(100+2*49*60)) > 1e-6 || !tr.Significant {
		t.Fatalf("exact line: %+v", tr)
	}
	vs[10], vs[30] = 1e9, -1e9 // two wild samples move neither slope nor level much
	tr2, _ := TheilSen(ts, vs)
	if math.Abs(tr2.Slope-2) > 0.1 || math.Abs(tr2.Level-tr.Level) > 200 {
		t.Errorf("outliers moved the fit: %+v", tr2)
	}
	if _, ok := TheilSen(ts[:2], vs[:2]); ok {
		t.Error("two points gave a trend")
	}
}

// Pure noise is almost never a significant rise (Sen's band covers zero).
func TestTheilSenNoiseNotSignificant(t *testing.T) {
	sig := 0
	for seed := int64(0); seed < 200; seed++ {
		ts, vs := line(120, 60, 500, 0, 40, seed)
		if tr, _ := TheilSen(ts, vs); tr.Significant {
			sig++
		}
	}
	if sig > 10 { // ≈ 2.5 % expected for a one-sided 95 % band
		t.Errorf("%d of 200 noise series called a significant rise", sig)
	}
}

func TestTeeth(t *testing.T) {
	v := []float64{1, 2, 3, 4, 1, 2, 3, 4, 1, 2}
	if got := Teeth(v); len(got) != 3 || got[1] != [2]int{4, 8} {
		t.Errorf("teeth %v", got)
	}
	if got := Teeth([]float64{5, 5, 5}); len(got) != 1 {
		t.Errorf("flat: %v", got)
	}
	if Teeth(nil) != nil {
		t.Error("empty")
	}
}

func TestAssess(t *testing.T) {
	h := 2 * time.Hour
	ts, vs := line(120, 60, 200, 0.1, 2, 3) // 0.1/s: from 200 to ~912 over 2h; limit 1200 in ~48m more
	p := Assess(Input{Kind: Memory, Unit: "bytes", Times: ts, Values: vs, Limit: 1200}, h)
	if p == nil {
		t.Fatal("leak not predicted")
	}
	if want := (1200 - (200 + 0.1*119*60)) / 0.1; math.Abs(p.In.Seconds()-want) > 0.1*want {
		t.Errorf("in %s, want ≈ %s", p.In, time.Duration(want)*time.Second)
	}
	if !(p.Earliest <= p.In && p.In <= p.Latest) {
		t.Errorf("band %s %s %s", p.Earliest, p.In, p.Latest)
	}
	if Assess(Input{Kind: Memory, Times: ts, Values: vs, Limit: 1e6}, h) != nil {
		t.Error("a limit far beyond the horizon was predicted")
	}
	if Assess(Input{Kind: Memory, Times: ts, Values: vs}, h) != nil {
		t.Error("no limit, yet predicted")
	}
	if Assess(Input{Kind: Memory, Times: ts[:5], Values: vs[:5], Limit: 1200}, h) != nil {
		t.Error("five samples predicted")
	}
	// Sawtooth whose peaks stay put: nothing.
	var st, sv []float64
	for i := 0; i < 120; i++ {
		st, sv = append(st, float64(i*60)), append(sv, 300+40*float64(i%10))
	}
	if p := Assess(Input{Kind: Memory, Times: st, Values: sv, Limit: 800}, h); p != nil {
		t.Errorf("stationary sawtooth predicted: %+v", p)
	}
	// Restarts: a counter going up every 20 minutes.
	var rt, rv []float64
	for i := 0; i < 120; i++ {
		rt, rv = append(rt, float64(i*60)), append(rv, float64(i/20))
	}
	if p := Assess(Input{Kind: Restarts, Times: rt, Values: rv}, h); p == nil || p.In > 20*time.Minute {
		t.Errorf("restarts: %+v", p)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{50 * time.Minute: "50m", 2 * time.Hour: "2h", 62 * time.Minute: "1h2m", 30 * time.Second: "30s", -1: "unbounded"} {
		if got := Duration(d); got != want {
			t.Errorf("%s: %q", d, got)
		}
	}
}

// Whatever Prometheus returns (NaN, Inf, unsorted times, zeros), Assess
// answers without panicking.
func FuzzAssess(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 100.0, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, limit float64, kind uint8) {
		var ts, vs []float64
		for i, x := range b {
			ts = append(ts, float64(i*60))
			v := float64(x)
			switch x {
			case 255:
				v = math.NaN()
			case 254:
				v = math.Inf(1)
			}
			vs = append(vs, v)
		}
		kinds := []Kind{Memory, CPU, Disk, NodeMem, Restarts}
		Assess(Input{Kind: kinds[int(kind)%len(kinds)], Times: ts, Values: vs, Limit: limit}, 2*time.Hour)
	})
}

// A level shift up that then stays flat is not a trend, and a leak that
// started after one is judged from the shift on.
func TestAssessLevelShift(t *testing.T) {
	var ts, step, leak []float64
	for i := 0; i < 120; i++ {
		ts = append(ts, float64(i*60))
		s := 300.0
		l := 300.0
		if i >= 90 {
			s = 700
			l = 500 + 5*float64(i-90)
		}
		step, leak = append(step, s+float64(i%3)), append(leak, l+float64(i%3))
	}
	if p := Assess(Input{Kind: Memory, Times: ts, Values: step, Limit: 1000}, 2*time.Hour); p != nil {
		t.Errorf("step then flat predicted: %s", p.Shape)
	}
	if p := Assess(Input{Kind: Memory, Times: ts, Values: leak, Limit: 1000}, 2*time.Hour); p == nil {
		t.Error("a leak after a level shift was not predicted")
	}
	mins := []float64{0, 60, 120, 180, 240, 300, 360, 420, 480, 540}
	if lastRise(mins[:3], []float64{1, 1, 1}) != 0 || lastRise(nil, nil) != 0 || lastRise(mins[:4], []float64{0, 0, 10, 10}) != 4 {
		t.Error("lastRise")
	}
	// A ramp over 3 minutes is a shift; the same rise over 9 minutes is not.
	if lastRise(mins, []float64{0, 0, 0, 0, 3, 6, 10, 10, 10, 10}) != 10 {
		t.Error("a 3-minute ramp is not a shift")
	}
	var hourT, hourV []float64
	for i := 0; i < 60; i++ {
		hourT, hourV = append(hourT, float64(i*60)), append(hourV, float64(i))
	}
	if lastRise(hourT, hourV) != 0 {
		t.Error("a steady rise over an hour is a shift")
	}
}

func TestLeastSquares(t *testing.T) {
	ts, vs := line(6, 30, 100, 3, 0, 1)
	slope, level, ok := LeastSquares(ts, vs)
	if !ok || math.Abs(slope-3) > 1e-9 || math.Abs(level-(100+3*5*30)) > 1e-6 {
		t.Fatalf("exact line: slope %v level %v ok %v", slope, level, ok)
	}
	// Least squares follows an outlier (what predict_linear does; why lab's
	// trend is Theil–Sen).
	vs[5] += 1000
	if s, _, _ := LeastSquares(ts, vs); s <= 3 {
		t.Errorf("an outlier at the end did not raise the slope: %v", s)
	}
	if _, _, ok := LeastSquares(ts[:2], vs[:2]); ok {
		t.Error("two points gave a line")
	}
	if _, _, ok := LeastSquares([]float64{5, 5, 5}, []float64{1, 2, 3}); ok {
		t.Error("three samples at one instant gave a line")
	}
	if _, _, ok := LeastSquares([]float64{1, 2, 3}, []float64{1, 2}); ok {
		t.Error("mismatched lengths gave a line")
	}
}

// A series too young for a trend states what its least-squares line says,
// and only when it rises to a known limit.
func TestYoung(t *testing.T) {
	ts, vs := line(5, 30, 20<<20, 1<<20/30.0, 0, 1) // 1 MiB per 30 s from 20 MiB: 24 MiB at the last sample
	in := Input{Kind: Memory, Unit: "bytes", Times: ts, Values: vs, Limit: 48 << 20}
	y := young(in)
	if !y.Reaches || y.Samples != 5 || y.In.Round(time.Second) != 12*time.Minute {
		t.Fatalf("a rising young series: %+v (want it to reach 48 MiB in 12m)", y)
	}
	if want := time.Unix(int64(ts[4]), 0).Add(12 * time.Minute).UTC(); !y.At.Round(time.Second).Equal(want) {
		t.Errorf("at %s, want %s", y.At, want)
	}
	in.Limit = 0
	if y := young(in); y.Reaches {
		t.Errorf("no limit, yet it reaches: %+v", y)
	}
	in.Limit = 10 << 20 // past the limit already
	if y := young(in); !y.Reaches || y.In != 0 {
		t.Errorf("a series above its limit: %+v", y)
	}
	flat, fv := line(5, 30, 20<<20, 0, 0, 1)
	if y := young(Input{Kind: Memory, Times: flat, Values: fv, Limit: 48 << 20}); y.Reaches {
		t.Errorf("a flat series reaches: %+v", y)
	}
	if y := young(Input{Kind: Memory, Times: ts[:2], Values: vs[:2], Limit: 48 << 20}); y.Reaches || y.Samples != 2 {
		t.Errorf("two samples: %+v", y)
	}
}
