package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lab.dev/lab/agent/report"
)

// Any body POSTed to /alerts is answered 200, 400 or 503 — never a panic,
// never a target outside the agent's namespaces, never more accepted than
// the journal holds.
func FuzzWebhook(f *testing.F) {
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A","namespace":"shop","pod":"p"}}]}`))
	f.Add([]byte(`{"alerts":[{"status":"firing","fingerprint":"x","startsAt":"2026-12-02T10:00:00Z","labels":{"namespace":"kube-system","pod":"etcd"}}]}`))
	f.Add([]byte(`{"alerts":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var seen []Target
		s := New(Options{Namespaces: []string{"shop"}, Queue: 4, Concurrency: 1}, func(_ context.Context, tg Target) (*report.Report, error) {
			return &report.Report{}, nil
		}, NewMetrics())
		h := s.Handler()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/alerts", strings.NewReader(string(body))))
		switch w.Code {
		case 200, 400, 503:
		default:
			t.Fatalf("HTTP %d for %q", w.Code, body)
		}
		for len(s.queue) > 0 {
			seen = append(seen, <-s.queue)
		}
		if len(seen) > 4 {
			t.Fatalf("%d accepted into a journal of 4", len(seen))
		}
		for _, tg := range seen {
			if tg.Namespace != "shop" || tg.ID == "" {
				t.Fatalf("accepted %+v", tg)
			}
		}
		if w.Code != 400 {
			var ar AlertResponse
			if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || ar.Accepted != len(seen) {
				t.Fatalf("answer %q (%v) for %d accepted", w.Body.String(), err, len(seen))
			}
		}
	})
}
