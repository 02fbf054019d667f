// Package serve is `lab agent serve`: an HTTP server that receives
// Alertmanager webhooks, diagnoses the alerted pods (de-duplicated,
// rate-limited, with bounded concurrency and a bounded queue), writes the
// reports (log, files, a Slack-compatible webhook) and exposes Prometheus
// metrics and health endpoints.
package serve

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/template"
	"golang.org/x/time/rate"

	"lab.dev/lab/agent/report"
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
	Namespace string
	Pod       string
	Alert     string
}

func (t Target) key() string { return t.Namespace + "/" + t.Pod }

// DiagnoseFunc diagnoses one pod (agent.Diagnose in production).
type DiagnoseFunc func(ctx context.Context, t Target) (*report.Report, error)

// Sink receives every report.
type Sink interface {
	Write(ctx context.Context, t Target, r *report.Report) error
}

// Options tune the server.
type Options struct {
	Concurrency int           // diagnoses at once (default 2)
	Queue       int           // waiting diagnoses before alerts are dropped (default 100)
	Rate        rate.Limit    // diagnoses started per second (default 1)
	Burst       int           // (default 5)
	Dedupe      time.Duration // a pod diagnosed this recently is not diagnosed again (0: every alert is diagnosed)
	Timeout     time.Duration // per diagnosis (default 3m)
	Ready       func(context.Context) error
	// Namespaces are the only namespaces whose pods are diagnosed (lab.yaml
	// agent.namespaces): an alert naming a pod elsewhere is refused, so a
	// sender cannot get any pod of the cluster summarised into reports and
	// Slack. Empty: every namespace (only for a server given no lab).
	Namespaces []string
	// Log receives what failed (a diagnosis, a sink), with its trace id;
	// nil: dropped (counted in the metrics either way).
	Log func(format string, a ...any)
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
	queue    chan Target

	mu     sync.Mutex
	recent map[string]time.Time // last accepted per pod
	wg     sync.WaitGroup
}

// DefaultOptions is the one place the server's defaults live; `lab agent
// serve`'s flags start from it. A zero it is given back stays zero where
// zero means something: Dedupe 0 diagnoses every alert.
func DefaultOptions() Options {
	return Options{Concurrency: 2, Queue: 100, Rate: 1, Burst: 5, Dedupe: 10 * time.Minute, Timeout: 3 * time.Minute}
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
	return &Server{opts: o, diagnose: d, sinks: sinks, metrics: m, limiter: rate.NewLimiter(o.Rate, o.Burst),
		queue: make(chan Target, o.Queue), recent: map[string]time.Time{}}
}

func (o Options) logf(format string, a ...any) {
	if o.Log != nil {
		o.Log(format, a...)
	}
}

// floor replaces a value that cannot work (zero or negative) by def.
func floor[T int | float64 | rate.Limit | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// Run starts the workers; they stop when ctx ends and the queue drains.
func (s *Server) Run(ctx context.Context) {
	for i := 0; i < s.opts.Concurrency; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-s.queue:
					s.metrics.Queued.Dec()
					s.work(ctx, t)
				}
			}
		}()
	}
}

// Wait blocks until the workers stopped.
func (s *Server) Wait() { s.wg.Wait() }

func (s *Server) work(ctx context.Context, t Target) {
	if err := s.limiter.Wait(ctx); err != nil {
		return
	}
	s.metrics.InFlight.Inc()
	defer s.metrics.InFlight.Dec()
	dctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	start := time.Now()
	r, err := s.diagnose(dctx, t)
	s.metrics.Duration.Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.Diagnoses.WithLabelValues("error").Inc()
		s.opts.logf("diagnosis of %s/%s (alert %s) failed: %v", t.Namespace, t.Pod, t.Alert, err)
		s.forget(t) // let a later alert retry
		return
	}
	s.metrics.observeReport(r)
	for _, sink := range s.sinks {
		if err := sink.Write(ctx, t, r); err != nil {
			s.metrics.SinkErrors.Inc()
			s.opts.logf("report %s of %s/%s not written to %T: %v", r.TraceID, t.Namespace, t.Pod, sink, err)
		}
	}
}

func (s *Server) forget(t Target) {
	s.mu.Lock()
	delete(s.recent, t.key())
	s.mu.Unlock()
}

// Accept decides what to do with one alerted pod: duplicate, queued or dropped.
func (s *Server) Accept(t Target) string {
	s.mu.Lock()
	if last, ok := s.recent[t.key()]; ok && time.Since(last) < s.opts.Dedupe {
		s.mu.Unlock()
		return "duplicate"
	}
	s.recent[t.key()] = time.Now()
	s.mu.Unlock()
	select {
	case s.queue <- t:
		s.metrics.Queued.Inc()
		return "accepted"
	default:
		s.forget(t)
		return "dropped"
	}
}

// Targets extracts the pods of the firing alerts (alerts without namespace
// and pod labels are not about a pod and are ignored).
func Targets(m *Message) (out []Target, ignored int) {
	if m.Data == nil {
		return nil, 0
	}
	for _, a := range m.Alerts {
		ns, pod := a.Labels["namespace"], a.Labels["pod"]
		if a.Status != "firing" || ns == "" || pod == "" {
			ignored++
			continue
		}
		out = append(out, Target{Namespace: ns, Pod: pod, Alert: a.Labels["alertname"]})
	}
	return out, ignored
}

// Handler serves /alerts (webhook), /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /alerts", s.authorized(s.alerts))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Ready != nil {
			if err := s.opts.Ready(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", s.metrics.Handler())
	return mux
}

// authorized lets a request through only with "Authorization: Bearer
// <Token>" (compared in constant time); anything else gets 401 and is
// counted, before its body is read.
func (s *Server) authorized(next http.HandlerFunc) http.HandlerFunc {
	if s.opts.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.opts.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			reason := "missing"
			if len(got) > 0 {
				reason = "wrong"
			}
			s.metrics.Unauthorized.WithLabelValues(reason).Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="lab-agent"`)
			http.Error(w, "unauthorized: this webhook needs the bearer token from Secret lab-agent-webhook", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

// AlertResponse is what /alerts answers.
type AlertResponse struct {
	Accepted  int `json:"accepted"`
	Duplicate int `json:"duplicate"`
	Dropped   int `json:"dropped"`
	Ignored   int `json:"ignored"`
	Forbidden int `json:"forbidden"` // pods outside the agent's namespaces
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	var m Message
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&m); err != nil {
		s.metrics.Alerts.WithLabelValues("invalid").Inc()
		http.Error(w, fmt.Sprintf("not an Alertmanager webhook payload: %v", err), http.StatusBadRequest)
		return
	}
	targets, ignored := Targets(&m)
	resp := AlertResponse{Ignored: ignored}
	s.metrics.Alerts.WithLabelValues("ignored").Add(float64(ignored))
	for _, t := range targets {
		if len(s.opts.Namespaces) > 0 && !slices.Contains(s.opts.Namespaces, t.Namespace) {
			resp.Forbidden++
			s.metrics.Alerts.WithLabelValues("forbidden").Inc()
			continue
		}
		outcome := s.Accept(t)
		s.metrics.Alerts.WithLabelValues(outcome).Inc()
		switch outcome {
		case "accepted":
			resp.Accepted++
		case "duplicate":
			resp.Duplicate++
		case "dropped":
			resp.Dropped++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}
