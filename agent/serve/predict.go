package serve

import (
	"context"
	"fmt"
	"time"

	"lab.dev/lab/agent/predict"
	"lab.dev/lab/agent/report"
)

// Predictor is the predictive side of serve: on an interval it runs the
// saturation predictions and raises one alert per predicted incident
// through the sinks, as a report whose primary finding is the prediction.
type Predictor struct {
	Run     func(ctx context.Context) (*predict.Result, error)
	Explain func(ctx context.Context, p *predict.Prediction) (*report.Report, error)
	Every   time.Duration // default 5m

	active map[string]bool // incidents alerted and still predicted
}

// PredictTarget is the alert a prediction raises.
func PredictTarget(p *predict.Prediction) Target {
	t := Target{Namespace: p.Target.Namespace, Pod: p.Target.Pod, Alert: "SaturationPredicted/" + string(p.Kind)}
	switch {
	case p.Target.PVC != "":
		t.Pod = "pvc/" + p.Target.PVC
	case p.Target.Node != "":
		t.Pod = "node/" + p.Target.Node
	}
	return t
}

// RunPredictions runs pr every pr.Every until ctx ends (the first run at
// once). An incident is alerted once while it stays predicted; one that
// stops being predicted is forgotten, so its return alerts again. A failed
// run changes nothing.
func (s *Server) RunPredictions(ctx context.Context, pr *Predictor) {
	if pr.Every <= 0 {
		pr.Every = 5 * time.Minute
	}
	pr.active = map[string]bool{}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		tick := time.NewTicker(pr.Every)
		defer tick.Stop()
		for {
			s.predictOnce(ctx, pr)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (s *Server) predictOnce(ctx context.Context, pr *Predictor) {
	rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	res, err := pr.Run(rctx)
	if err != nil {
		s.metrics.PredictRuns.WithLabelValues("error").Inc()
		s.opts.log().Warn("saturation prediction run failed", "error", err)
		return
	}
	s.metrics.PredictRuns.WithLabelValues("ok").Inc()
	now := map[string]bool{}
	for _, p := range res.Predictions {
		k := p.Key()
		now[k] = true
		if pr.active[k] {
			continue
		}
		pr.active[k] = true
		s.metrics.Predictions.WithLabelValues(string(p.Kind)).Inc()
		r, err := pr.Explain(rctx, p)
		if err != nil {
			s.metrics.Diagnoses.WithLabelValues("error").Inc()
			s.opts.log().Warn("explaining a prediction failed", "prediction", k, "error", err)
			delete(pr.active, k) // try again on the next run
			continue
		}
		s.metrics.observeReport(r)
		t := PredictTarget(p)
		t.Trace = r.TraceID
		s.opts.log().Info("predicted", t.logAttrs(reportAttrs(r, 0)...)...)
		for _, sink := range s.sinks {
			if err := sink.Write(ctx, t, r); err != nil {
				s.metrics.SinkErrors.Inc()
				s.opts.log().Error("report not written", t.logAttrs("sink", fmt.Sprintf("%T", sink), "error", err)...)
			}
		}
	}
	for k := range pr.active {
		if !now[k] {
			delete(pr.active, k)
		}
	}
}
