package serve

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lab.dev/lab/agent/report"
)

// Only a post with the right bearer token reaches the diagnosis; the others
// get 401 with WWW-Authenticate, are counted by reason, and queue nothing.
func TestWebhookNeedsTheBearerToken(t *testing.T) {
	diagnosed := make(chan Target, 4)
	s := New(Options{Token: "s3cret-token", Rate: 100, Burst: 10}, func(_ context.Context, tg Target) (*report.Report, error) {
		diagnosed <- tg
		return &report.Report{}, nil
	}, NewMetrics())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Run(ctx)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	body := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"cart-1"}}]}`
	post := func(auth string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/alerts", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret-token-but-longer", "s3cret-token", "Basic czNjcmV0LXRva2Vu"} {
		resp := post(auth)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: HTTP %d %q, want 401 with WWW-Authenticate", auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		resp.Body.Close()
	}
	if resp := post("Bearer s3cret-token"); resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("right token: HTTP %d %s", resp.StatusCode, b)
	}
	if tg := <-diagnosed; tg.Pod != "cart-1" {
		t.Errorf("diagnosed %+v", tg)
	}
	select {
	case tg := <-diagnosed:
		t.Errorf("an unauthorized post was diagnosed: %+v", tg)
	default:
	}
	resp, _ := http.Get(srv.URL + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`lab_agent_webhook_unauthorized_total{reason="missing"} 1`, `lab_agent_webhook_unauthorized_total{reason="wrong"} 4`, `lab_agent_alerts_total{outcome="accepted"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Probes and scraping stay open: kubelets and Prometheus carry no token.
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, err := http.Get(srv.URL + p); err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, err, resp)
		}
	}
}
