package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"lab.dev/lab/agent/llm"
	"lab.dev/lab/agent/report"
)

// Metrics are the agent's Prometheus metrics.
type Metrics struct {
	Registry   *prometheus.Registry
	Alerts     *prometheus.CounterVec // outcome: accepted, duplicate, dropped, ignored, forbidden, invalid
	Diagnoses  *prometheus.CounterVec // result: model, human-operator, error
	Duration   prometheus.Histogram
	LLMLatency prometheus.Histogram
	Breaker    prometheus.Gauge // 0 closed, 1 half-open, 2 open
	InFlight   prometheus.Gauge
	Queued     prometheus.Gauge
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
		Queued:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "lab_agent_diagnoses_queued", Help: "Diagnoses waiting for a worker."}),
		SinkErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "lab_agent_report_sink_errors_total", Help: "Reports a sink failed to write."}),
		Unauthorized: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_webhook_unauthorized_total", Help: "Webhook posts refused for their bearer token, by reason (missing, wrong)."}, []string{"reason"}),
		Predictions:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_predictive_alerts_total", Help: "Predictive alerts raised (one per predicted incident), by kind."}, []string{"kind"}),
		PredictRuns:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lab_agent_prediction_runs_total", Help: "Saturation prediction runs, by outcome (ok, error)."}, []string{"outcome"}),
	}
	m.Registry.MustRegister(m.Alerts, m.Diagnoses, m.Duration, m.LLMLatency, m.Breaker, m.InFlight, m.Queued, m.SinkErrors, m.Unauthorized, m.Predictions, m.PredictRuns)
	return m
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observeReport(r *report.Report) {
	m.Diagnoses.WithLabelValues(r.Model.Mode).Inc()
	if r.Model.Meta != nil {
		m.LLMLatency.Observe(r.Model.Meta.Latency.Seconds())
		m.Breaker.Set(map[llm.BreakerState]float64{llm.Closed: 0, llm.HalfOpen: 1, llm.Open: 2}[r.Model.Meta.Breaker])
	}
}
