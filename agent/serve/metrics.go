package serve

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"lab.dev/lab/agent/llm"
	"lab.dev/lab/agent/report"
)

// Metrics are the agent's Prometheus metrics.
type Metrics struct {
	Registry   *prometheus.Registry
	Alerts     *prometheus.CounterVec // outcome: accepted, duplicate, busy, error, draining, ignored, forbidden, invalid
	Diagnoses  *prometheus.CounterVec // result: model, human-operator, error
	Duration   prometheus.Histogram
	LLMLatency prometheus.Histogram
	Breaker    prometheus.Gauge // 0 closed, 1 half-open, 2 open
	InFlight   prometheus.Gauge
	// Finished counts accepted alerts done, by outcome (reported, failed);
	// Retried the diagnoses tried again; Replayed the alerts a server took
	// over from the journal when it started. The journal's queued count
	// and oldest age are read from it when scraped (watch).
	Finished   *prometheus.CounterVec
	Retried    prometheus.Counter
	Replayed   prometheus.Counter
	SinkErrors prometheus.Counter
	// Unauthorized counts POST /alerts refused for their bearer token, by
	// reason: missing or wrong.
	Unauthorized *prometheus.CounterVec
	// Predictions counts predictive alerts raised, by kind; PredictRuns the
	// prediction runs, by outcome (ok, error).
	Predictions *prometheus.CounterVec
	PredictRuns *prometheus.CounterVec
}

// NewMetrics registers the metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(),
		Alerts:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_alerts_total", Help: "Alerted pods received, by outcome."}, []string{"outcome"}),
		Diagnoses:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_diagnoses_total", Help: "Diagnoses finished, by result."}, []string{"result"}),
		Duration:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lab_agent_diagnosis_duration_seconds", Help: "Wall time of one diagnosis.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		LLMLatency:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lab_agent_llm_latency_seconds", Help: "Latency of model calls, retries included.", Buckets: prometheus.ExponentialBuckets(0.1, 2, 12)}),
		Breaker:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "lab_agent_llm_breaker_state", Help: "LLM circuit breaker: 0 closed, 1 half-open, 2 open."}),
		InFlight:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "lab_agent_diagnoses_in_flight", Help: "Diagnoses running now."}),
		Finished:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_alerts_finished_total", Help: "Accepted alerts done, by outcome (reported, failed: given up after the attempts)."}, []string{"outcome"}),
		Retried:      prometheus.NewCounter(prometheus.CounterOpts{Name: "lab_agent_diagnosis_retries_total", Help: "Diagnoses of an accepted alert tried again after a failure."}),
		Replayed:     prometheus.NewCounter(prometheus.CounterOpts{Name: "lab_agent_alerts_replayed_total", Help: "Accepted alerts taken over from the journal when the server started."}),
		SinkErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "lab_agent_report_sink_errors_total", Help: "Reports a sink failed to write."}),
		Unauthorized: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_webhook_unauthorized_total", Help: "Webhook posts refused for their bearer token, by reason (missing, wrong)."}, []string{"reason"}),
		Predictions:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_predictive_alerts_total", Help: "Predictive alerts raised (one per predicted incident), by kind."}, []string{"kind"}),
		PredictRuns:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_prediction_runs_total", Help: "Saturation prediction runs, by outcome (ok, error)."}, []string{"outcome"}),
	}
	m.Registry.MustRegister(m.Alerts, m.Diagnoses, m.Duration, m.LLMLatency, m.Breaker, m.InFlight, m.Finished, m.Retried, m.Replayed, m.SinkErrors, m.Unauthorized, m.Predictions, m.PredictRuns)
	return m
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// watch exports the journal's state, read when scraped: queued (accepted,
// not in a worker), alerts that can no longer be reported (must stay 0) and
// the oldest queued alert's age.
func (m *Metrics) watch(j *Journal) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lab_agent_diagnoses_queued", Help: "Accepted alerts waiting for a worker or a retry."},
			func() float64 { return max(0, float64(j.Stats().Pending)-gaugeValue(m.InFlight)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lab_agent_alerts_dropped", Help: "Accepted alerts whose journal entry could not be read back (moved to bad/): must stay 0."},
			func() float64 { return float64(j.Stats().Unreadable) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lab_agent_oldest_queued_alert_age_seconds", Help: "Age of the oldest accepted alert not yet reported (0: none)."},
			func() float64 {
				if o := j.Stats().Oldest; !o.IsZero() {
					return time.Since(o).Seconds()
				}
				return 0
			}))
}

func gaugeValue(g prometheus.Gauge) float64 {
	var d dto.Metric
	g.Write(&d)
	return d.GetGauge().GetValue()
}

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	c.Write(&d)
	return d.GetCounter().GetValue()
}

func (m *Metrics) observeReport(r *report.Report) {
	m.Diagnoses.WithLabelValues(r.Model.Mode).Inc()
	if r.Model.Meta != nil {
		m.LLMLatency.Observe(r.Model.Meta.Latency.Seconds())
		m.Breaker.Set(map[llm.BreakerState]float64{llm.Closed: 0, llm.HalfOpen: 1, llm.Open: 2}[r.Model.Meta.Breaker])
	}
}
