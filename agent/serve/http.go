package serve

// The webhook's HTTP side: the routes, the bearer token, the alert intake.

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"lab.dev/lab/core/telemetry"
)

// Targets extracts the pods of the firing alerts (alerts without namespace
// and pod labels are not about a pod and are ignored). lab's predictive
// alerts (label lab_prediction) become prediction targets: memory and cpu
// name a container, pvc a claim (pod "pvc/NAME"); a node's names no
// namespace and is ignored.
func Targets(m *Message) (out []Target, ignored int) {
	if m.Data == nil {
		return nil, 0
	}
	for _, a := range m.Alerts {
		ns, pod, kind := a.Labels["namespace"], a.Labels["pod"], a.Labels["lab_prediction"]
		if kind == "pvc" && a.Labels["persistentvolumeclaim"] != "" {
			pod = "pvc/" + a.Labels["persistentvolumeclaim"] // as the agent's own predictions name it
		}
		if a.Status != "firing" || ns == "" || pod == "" || (kind != "" && kind != "memory" && kind != "cpu" && kind != "pvc") {
			ignored++ // a node's prediction names no namespace the agent may read
			continue
		}
		t := Target{Namespace: ns, Pod: pod, Alert: a.Labels["alertname"], Prediction: kind}
		if kind != "" {
			t.Container = a.Labels["container"]
		}
		t.ID = AlertID(a, t)
		out = append(out, t)
	}
	return out, ignored
}

// Handler serves /alerts (webhook), /healthz, /readyz, /status and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /alerts", s.authorized(s.alerts))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining: shutting down", http.StatusServiceUnavailable)
			return
		}
		if s.opts.Ready != nil {
			if err := s.opts.Ready(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Status())
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
	// Busy alerts were not accepted (the journal is full, or could not be
	// written): the answer is 503 with Retry-After, and the sender's retry
	// of the whole notification gets them in (the accepted ones come back
	// as duplicates).
	Busy      int `json:"busy"`
	Ignored   int `json:"ignored"`
	Forbidden int `json:"forbidden"` // pods outside the agent's namespaces
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.metrics.Alerts.WithLabelValues("draining").Inc()
		s.unavailable(w, "draining: shutting down, send it to another replica or retry")
		return
	}
	var m Message
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&m); err != nil {
		s.metrics.Alerts.WithLabelValues("invalid").Inc()
		http.Error(w, fmt.Sprintf("not an Alertmanager webhook payload: %v", err), http.StatusBadRequest)
		return
	}
	targets, ignored := Targets(&m)
	resp := AlertResponse{Ignored: ignored}
	traceparent, sender := "", telemetry.TraceID(telemetry.Extract(r.Context(), r.Header))
	if sender != "" {
		traceparent = r.Header.Get("Traceparent") // well-formed: the propagator parsed it
	}
	s.metrics.Alerts.WithLabelValues("ignored").Add(float64(ignored))
	now := time.Now().UTC()
	for _, t := range targets {
		if len(s.opts.Namespaces) > 0 && !slices.Contains(s.opts.Namespaces, t.Namespace) {
			resp.Forbidden++
			s.metrics.Alerts.WithLabelValues("forbidden").Inc()
			continue
		}
		t.Received = now
		t.Traceparent, t.Trace = traceparent, sender // each alert of the post in the sender's trace, when it sent one
		outcome := s.Accept(t)
		s.metrics.Alerts.WithLabelValues(outcome).Inc()
		switch outcome {
		case "accepted":
			resp.Accepted++
		case "duplicate":
			resp.Duplicate++
		default:
			resp.Busy++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if resp.Busy > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter.Round(time.Second).Seconds())))
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(resp)
}

// unavailable answers 503 with Retry-After: Alertmanager retries a 5xx.
func (s *Server) unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter.Round(time.Second).Seconds())))
	http.Error(w, msg, http.StatusServiceUnavailable)
}
