// Package serve is `lab agent serve`: an HTTP server that receives
// Alertmanager webhooks, diagnoses the alerted pods (de-duplicated,
// rate-limited, with bounded concurrency and a bounded queue), writes the
// reports (log, files, a Slack-compatible webhook) and exposes Prometheus
// metrics and health endpoints.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/time/rate"

	"lab.dev/lab/agent/report"
	"lab.dev/lab/core/telemetry"
	"lab.dev/lab/core/ui"
)

// Message is the body Alertmanager's webhook receiver POSTs (version 4): the
// template data plus the envelope fields of its notify/webhook.Message.
type Message struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Target is one pod to diagnose.
type Target struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Alert     string `json:"alert"`
	// ID names the alert (AlertID) and Received is when the webhook
	// accepted it; both empty for a prediction's target. A sink that names
	// its output by them writes one report per alert, however often a
	// replay reports it.
	ID       string    `json:"id,omitempty"`
	Received time.Time `json:"received,omitempty"`
	// Traceparent is the sender's W3C trace context, when it sent a valid
	// one: the diagnosis continues the sender's trace (kept in the
	// journal, so a diagnosis after a restart still does).
	Traceparent string `json:"traceparent,omitempty"`
	// Trace is the alert's trace id, fixed when it is accepted (the
	// sender's, with a traceparent): every event the server logs about
	// the alert, each attempt's spans and the report carry it, across
	// retries and restarts (the journal keeps it).
	Trace string `json:"trace,omitempty"`
	// Prediction is the kind a predictive alert warns of (its lab_prediction
	// label: memory, cpu, pvc) and Container the container it names: the
	// report is the prediction, not a diagnosis of a pod that is fine now.
	Prediction string `json:"prediction,omitempty"`
	Container  string `json:"container,omitempty"`
}

// key is what Dedupe counts per: a pod's failure, and apart from it a
// prediction about the pod, which comes first and must not hide the
// failure it warned of.
func (t Target) key() string {
	if t.Prediction != "" {
		return t.Namespace + "/" + t.Pod + "#" + t.Prediction
	}
	return t.Namespace + "/" + t.Pod
}

// logAttrs are the attributes of every event about t.
func (t Target) logAttrs(more ...any) []any {
	a := []any{"trace_id", t.Trace, "alert", t.Alert, "namespace", t.Namespace, "pod", t.Pod}
	if t.ID != "" {
		a = append(a, "alert_id", t.ID)
	}
	return append(a, more...)
}

// DiagnoseFunc diagnoses one pod (agent.Diagnose in production).
type DiagnoseFunc func(ctx context.Context, t Target) (*report.Report, error)

// Sink receives every report.
type Sink interface {
	Write(ctx context.Context, t Target, r *report.Report) error
}

// Options tune the server.
type Options struct {
	Concurrency int           // diagnoses at once (default 2)
	Queue       int           // alerts accepted and not yet reported; beyond, the webhook answers 503 (default 100)
	Rate        rate.Limit    // diagnoses started per second (default 1)
	Burst       int           // (default 5)
	Dedupe      time.Duration // a pod diagnosed this recently is not diagnosed again (0: every alert is diagnosed)
	Timeout     time.Duration // per diagnosis (default 3m)
	// Attempts is how many times one alert's diagnosis is tried (a crash
	// of the agent during it counts) before it is given up (default 3).
	Attempts int
	// RetryAfter is what a 503 asks the sender to wait (default 10s).
	RetryAfter time.Duration
	// Journal keeps accepted alerts across restarts (OpenJournal); nil: an
	// in-memory one of Queue entries, lost with the process.
	Journal *Journal
	Ready   func(context.Context) error
	// Namespaces are the only namespaces whose pods are diagnosed (lab.yaml
	// agent.namespaces): an alert naming a pod elsewhere is refused, so a
	// sender cannot get any pod of the cluster summarised into reports and
	// Slack. Empty: every namespace (only for a server given no lab).
	Namespaces []string
	// Logger receives one event per thing that happened to an alert
	// (received, diagnosed, failed, retried, given up, a sink that failed),
	// each with the alert's trace id; nil: dropped (counted in the
	// metrics either way).
	Logger *slog.Logger
	// Token is the bearer token POST /alerts must carry (Alertmanager sends
	// it through the receiver's http_config). Empty accepts anyone: only
	// for local experiments (`lab agent serve --insecure-no-auth`).
	Token string
}

// Server is the webhook receiver.
type Server struct {
	opts     Options
	diagnose DiagnoseFunc
	sinks    []Sink
	metrics  *Metrics
	limiter  *rate.Limiter
	journal  *Journal
	// queue holds the pending alerts' targets waiting for a worker. Its
	// capacity is at least the journal's pending count, and every pending
	// alert is in it, in a worker or in a retry's wait: a send never blocks.
	queue    chan Target
	stop     chan struct{} // closed by Drain: workers take no new alert
	draining atomic.Bool

	mu      sync.Mutex
	recent  map[string]time.Time // last accepted per pod
	wg      sync.WaitGroup       // workers
	bg      sync.WaitGroup       // predictions
	retries sync.WaitGroup       // retries waiting to re-queue
	stopped sync.Once
	// retryBase is the first retry's wait (doubling after): 5s.
	retryBase time.Duration
}

// DefaultOptions is the one place the server's defaults live; `lab agent
// serve`'s flags start from it. A zero it is given back stays zero where
// zero means something: Dedupe 0 diagnoses every alert.
func DefaultOptions() Options {
	return Options{Concurrency: 2, Queue: 100, Rate: 1, Burst: 5, Dedupe: 10 * time.Minute, Timeout: 3 * time.Minute,
		Attempts: 3, RetryAfter: 10 * time.Second}
}

// New builds a server; call Run to start its workers. Fields where zero
// cannot work (no worker, no queue slot, no rate, no timeout) take
// DefaultOptions' value; Dedupe is taken as given.
func New(o Options, d DiagnoseFunc, m *Metrics, sinks ...Sink) *Server {
	def := DefaultOptions()
	floor(&o.Concurrency, def.Concurrency)
	floor(&o.Queue, def.Queue)
	floor(&o.Rate, def.Rate)
	floor(&o.Burst, def.Burst)
	floor(&o.Timeout, def.Timeout)
	floor(&o.Attempts, def.Attempts)
	floor(&o.RetryAfter, def.RetryAfter)
	j := o.Journal
	if j == nil {
		j, _ = OpenJournal("", o.Queue) // in memory: cannot fail
	}
	s := &Server{opts: o, diagnose: d, sinks: sinks, metrics: m, limiter: rate.NewLimiter(o.Rate, o.Burst),
		journal: j, queue: make(chan Target, max(j.capacity, len(j.Pending()))), stop: make(chan struct{}),
		recent: map[string]time.Time{}, retryBase: 5 * time.Second}
	m.watch(j)
	return s
}

func (o Options) log() *slog.Logger {
	if o.Logger == nil {
		return ui.NoEvents
	}
	return o.Logger
}

// floor replaces a value that cannot work (zero or negative) by def.
func floor[T int | float64 | rate.Limit | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// Run replays what the journal holds (accepted by an earlier server and
// not reported) and starts the workers; they stop when ctx ends or Drain
// is called. Work a stop interrupts stays in the journal for the next run.
func (s *Server) Run(ctx context.Context) {
	replayed := s.journal.Pending()
	for _, e := range replayed {
		s.queue <- e.Target
	}
	s.metrics.Replayed.Add(float64(len(replayed)))
	if len(replayed) > 0 {
		s.opts.log().Info("replaying alerts accepted before a restart and not yet reported", "count", len(replayed))
	}
	for i := 0; i < s.opts.Concurrency; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select { // a stop wins over a waiting alert
				case <-ctx.Done():
					return
				case <-s.stop:
					return
				default:
				}
				select {
				case <-ctx.Done():
					return
				case <-s.stop:
					return
				case t := <-s.queue:
					s.work(ctx, t)
				}
			}
		}()
	}
}

// Drain stops intake (/readyz and POST /alerts answer 503, so the Service
// and Alertmanager go elsewhere) and lets the workers finish what they
// hold, but start nothing new, for at most grace; it reports whether they
// finished. What they did not is still in the journal: cancel Run's
// context to stop them, and the next server replays it.
func (s *Server) Drain(grace time.Duration) bool {
	s.draining.Store(true)
	s.stopped.Do(func() { close(s.stop) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(grace):
		return false
	}
}

// Wait blocks until the workers and the predictions stopped.
func (s *Server) Wait() {
	s.wg.Wait()
	s.bg.Wait()
}

func (s *Server) work(ctx context.Context, t Target) {
	if err := s.limiter.Wait(ctx); err != nil {
		return // stopping: it stays pending
	}
	attempts, err := s.journal.Begin(t.ID)
	if err != nil {
		s.opts.log().Error("journal", t.logAttrs("error", err)...)
	}
	if attempts > s.opts.Attempts {
		s.finish(t, "failed")
		s.opts.log().Warn("alert given up: the agent stopped during each attempt", t.logAttrs("attempts", attempts-1)...)
		return
	}
	s.metrics.InFlight.Inc()
	defer s.metrics.InFlight.Dec()
	// One trace per alert: the sender's when it sent its traceparent.
	tctx := telemetry.Extract(ctx, http.Header{"Traceparent": {t.Traceparent}})
	tctx, span := telemetry.Start(tctx, t.Trace, "alert "+t.Alert, attribute.String("k8s.namespace.name", t.Namespace),
		attribute.String("k8s.pod.name", t.Pod), attribute.String("lab.alert.id", t.ID), attribute.Int("lab.alert.attempt", attempts))
	defer span.End()
	dctx, cancel := context.WithTimeout(tctx, s.opts.Timeout)
	defer cancel()
	start := time.Now()
	r, err := s.diagnose(dctx, t)
	telemetry.Record(span, err)
	s.metrics.Duration.Observe(time.Since(start).Seconds())
	if err != nil && ctx.Err() != nil { // stopped, not failed: the next server tries again
		s.journal.Release(t.ID)
		return
	}
	if err != nil {
		s.metrics.Diagnoses.WithLabelValues("error").Inc()
		s.opts.log().Warn("diagnosis failed", t.logAttrs("attempt", attempts, "attempts", s.opts.Attempts, "error", err)...)
		if attempts >= s.opts.Attempts {
			s.finish(t, "failed")
			return
		}
		s.retry(ctx, t, attempts)
		return
	}
	s.metrics.observeReport(r)
	s.opts.log().Info("diagnosed", t.logAttrs(reportAttrs(r, time.Since(start))...)...)
	for _, sink := range s.sinks {
		sctx, sspan := telemetry.Start(tctx, "", fmt.Sprintf("sink %T", sink))
		werr := sink.Write(sctx, t, r)
		telemetry.End(sspan, werr)
		if werr != nil {
			s.metrics.SinkErrors.Inc()
			s.opts.log().Error("report not written", t.logAttrs("sink", fmt.Sprintf("%T", sink), "error", werr)...)
		}
	}
	s.finish(t, "reported")
}

// retry puts t back in the queue after a backoff (5s, 10s, … with jitter);
// meanwhile it stays in the journal.
func (s *Server) retry(ctx context.Context, t Target, attempts int) {
	s.metrics.Retried.Inc()
	d := time.Duration(float64(s.retryBase<<(attempts-1)) * (0.5 + rand.Float64()))
	s.retries.Add(1)
	go func() {
		defer s.retries.Done()
		select {
		case <-ctx.Done():
		case <-time.After(d):
			s.queue <- t // never blocks: t holds a slot of the queue's capacity
		}
	}()
}

// finish marks t done in the journal (reported or given up).
func (s *Server) finish(t Target, outcome string) {
	s.metrics.Finished.WithLabelValues(outcome).Inc()
	if outcome == "failed" {
		s.forget(t) // let a later alert on the pod be diagnosed
	}
	if err := s.journal.Done(t.ID, outcome); err != nil {
		s.opts.log().Error("journal: the alert may be reported again after a restart", t.logAttrs("error", err)...)
	}
}

func (s *Server) forget(t Target) {
	s.mu.Lock()
	delete(s.recent, t.key())
	s.mu.Unlock()
}

// Accept decides what to do with one alerted pod: "duplicate" (the same
// alert delivered again, or the pod diagnosed within Dedupe), "accepted"
// (journaled: it will be reported, across restarts), "busy" (the journal is
// full: the sender must retry) or "error" (it could not be journaled:
// likewise). Only "accepted" and "duplicate" may be answered 2xx.
func (s *Server) Accept(t Target) string {
	if t.ID == "" {
		t.ID = AlertID(template.Alert{}, t)
	}
	if t.Received.IsZero() {
		t.Received = time.Now().UTC()
	}
	if t.Trace == "" { // no sender's trace: one of its own
		t.Trace = telemetry.NewTraceID()
	}
	outcome := s.accept(t)
	level := slog.LevelInfo
	if outcome == "busy" || outcome == "error" {
		level = slog.LevelWarn
	}
	s.opts.log().Log(context.Background(), level, "alert received", t.logAttrs("outcome", outcome)...)
	return outcome
}

func (s *Server) accept(t Target) string {
	s.mu.Lock()
	if last, ok := s.recent[t.key()]; ok && time.Since(last) < s.opts.Dedupe {
		s.mu.Unlock()
		return "duplicate"
	}
	s.recent[t.key()] = time.Now()
	s.mu.Unlock()
	added, err := s.journal.Add(t)
	switch {
	case errors.Is(err, ErrFull):
		s.forget(t)
		return "busy"
	case err != nil:
		s.forget(t)
		s.opts.log().Error("journal: alert not accepted", t.logAttrs("error", err)...)
		return "error"
	case !added:
		return "duplicate"
	}
	s.queue <- t // never blocks: the journal admitted it, so it has a slot
	return "accepted"
}

// Status is what `lab agent serve --status` shows (GET /status).
type Status struct {
	Queued   int `json:"queued"`   // accepted, waiting for a worker or a retry
	InFlight int `json:"inFlight"` // being diagnosed
	Reported int `json:"reported"` // since this server started
	Failed   int `json:"failed"`   // given up after the attempts, since start
	Retried  int `json:"retried"`  // diagnoses tried again, since start
	Replayed int `json:"replayed"` // taken over from before a restart
	Busy     int `json:"busy"`     // alerts answered 503 (the sender retries them)
	// Dropped counts accepted alerts that can no longer be reported (their
	// journal entry unreadable: moved to bad/); it must stay 0.
	Dropped        int     `json:"dropped"`
	OldestQueuedS  float64 `json:"oldestQueuedSeconds"`
	Journal        string  `json:"journal"` // its folder; "" in memory
	Draining       bool    `json:"draining"`
	JournalEntries int     `json:"journalEntries"` // pending, queued and in flight
}

// Status reports the intake's state now.
func (s *Server) Status() Status {
	js := s.journal.Stats()
	in := int(gaugeValue(s.metrics.InFlight))
	st := Status{InFlight: in, Queued: max(0, js.Pending-in), JournalEntries: js.Pending, Dropped: js.Unreadable,
		Reported: int(counterValue(s.metrics.Finished.WithLabelValues("reported"))),
		Failed:   int(counterValue(s.metrics.Finished.WithLabelValues("failed"))),
		Retried:  int(counterValue(s.metrics.Retried)), Replayed: int(counterValue(s.metrics.Replayed)),
		Busy:    int(counterValue(s.metrics.Alerts.WithLabelValues("busy")) + counterValue(s.metrics.Alerts.WithLabelValues("error")) + counterValue(s.metrics.Alerts.WithLabelValues("draining"))),
		Journal: s.journal.Dir(), Draining: s.draining.Load()}
	if !js.Oldest.IsZero() {
		st.OldestQueuedS = time.Since(js.Oldest).Seconds()
	}
	return st
}

// reportAttrs sum a report up for its event: what was found (the primary
// finding first), how the model took part, how long it took. Causes quote
// the cluster's own text; the log's handler escapes them (one event, one line).
func reportAttrs(r *report.Report, took time.Duration) []any {
	a := []any{"findings", len(r.Findings), "mode", r.Model.Mode}
	if len(r.Findings) > 0 {
		f := r.Findings[0]
		a = append(a, "category", f.Category, "severity", string(f.Severity), "container", f.Container)
	}
	if r.History != nil {
		a = append(a, "known_incident", r.History.Fingerprint)
	}
	if r.GitOps != nil && r.GitOps.Change != nil {
		a = append(a, "gitops_change", true)
	}
	if took > 0 {
		a = append(a, "duration_ms", took.Milliseconds())
	}
	return a
}
