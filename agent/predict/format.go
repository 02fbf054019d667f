package predict

import (
	"fmt"
	"io"
	"math"
	"time"
)

// Quantity formats v in unit for a reader.
func Quantity(v float64, unit string) string {
	switch unit {
	case "bytes":
		switch a := math.Abs(v); {
		case a >= 1<<30:
			return fmt.Sprintf("%.2fGiB", v/(1<<30))
		case a >= 1<<20:
			return fmt.Sprintf("%.0fMiB", v/(1<<20))
		default:
			return fmt.Sprintf("%.0fKiB", v/(1<<10))
		}
	case "cores":
		return fmt.Sprintf("%.2f cores", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Duration formats d to the minute (1h5m, 50m, 40s); a negative or the
// maximum duration reads "unbounded".
func Duration(d time.Duration) string {
	switch {
	case d < 0 || d == time.Duration(math.MaxInt64):
		return "unbounded"
	case d < time.Minute:
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

func summary(in Input, p *Prediction) string {
	n := len(in.Times)
	span := Duration(time.Duration((in.Times[n-1] - in.Times[0]) * float64(time.Second)))
	if p.Kind == Restarts {
		return fmt.Sprintf("%s restarts: counter %s over %s (%d samples); %s; next expected in %s",
			p.Target, Quantity(p.Current, "count"), span, n, p.Shape, Duration(p.In))
	}
	rate := func(s float64) string {
		if math.IsInf(s, 0) {
			return "?"
		}
		return Quantity(s*3600, in.Unit) + "/h"
	}
	return fmt.Sprintf("%s %s: %s of %s, rising %s (95%%: %s–%s) over %s (%d samples), %s; reaches the limit in %s (band %s–%s)",
		p.Target, p.Kind, Quantity(p.Current, in.Unit), Quantity(p.Limit, in.Unit), rate(p.Trend.Slope), rate(p.Trend.SlopeLow), rate(p.Trend.SlopeHigh),
		span, n, p.Shape, Duration(p.In), Duration(p.Earliest), Duration(p.Latest))
}

// Text writes predictions one per line, soonest first, as `lab agent
// predict` prints them.
func Text(w io.Writer, r *Result) {
	fmt.Fprintf(w, "%d series read (%s window, %s horizon) at %s\n", r.Series, Duration(r.Window), Duration(r.Horizon), r.End.Format(time.RFC3339))
	if len(r.Predictions) == 0 {
		fmt.Fprintln(w, "nothing predicted to run out within the horizon")
	}
	for _, p := range r.Predictions {
		fmt.Fprintf(w, "\n%-11s %s: in %s (%s–%s), at %s\n  %s\n  evidence %s\n",
			p.Kind, p.Target, Duration(p.In), Duration(p.Earliest), Duration(p.Latest), p.At.Format("15:04 MST"), p.Evidence.Summary, p.Evidence.ID)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "\nnot read: %s\n", e)
	}
}
