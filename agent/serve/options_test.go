package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/agent/report"
)

// --dedupe 0 means "diagnose every alert" (it used to become 10 minutes);
// the defaults still de-duplicate; a zero that cannot work takes the default.
func TestOptionsKeepMeaningfulZeros(t *testing.T) {
	// Two alerts on one pod (the same alert delivered twice is one alert:
	// a duplicate whatever Dedupe says).
	tg, tg2 := Target{Namespace: "ns", Pod: "p", ID: "1"}, Target{Namespace: "ns", Pod: "p", ID: "2"}
	s := New(Options{Dedupe: 0}, nil, NewMetrics())
	if a, b, c := s.Accept(tg), s.Accept(tg2), s.Accept(tg); a != "accepted" || b != "accepted" || c != "duplicate" {
		t.Errorf("Dedupe 0: %s, %s, %s; want accepted, accepted, duplicate", a, b, c)
	}
	s = New(DefaultOptions(), nil, NewMetrics())
	if a, b := s.Accept(tg), s.Accept(tg2); a != "accepted" || b != "duplicate" {
		t.Errorf("defaults: %s, %s; want accepted, duplicate", a, b)
	}
	if s.opts.Dedupe != 10*time.Minute {
		t.Errorf("default dedupe %s", s.opts.Dedupe)
	}
	s = New(Options{Concurrency: -1, Queue: 0}, nil, NewMetrics())
	if s.opts.Concurrency != 2 || cap(s.queue) != 100 || s.opts.Timeout != 3*time.Minute {
		t.Errorf("unusable zeros not defaulted: %+v", s.opts)
	}
}

// An alert naming a pod outside the agent's namespaces is refused and
// counted, never diagnosed (before, any pod of the cluster was).
func TestAlertsOnlyForTheAgentsNamespaces(t *testing.T) {
	diagnosed := make(chan Target, 4)
	s := New(Options{Namespaces: []string{"shop"}, Rate: 100, Burst: 10}, func(_ context.Context, tg Target) (*report.Report, error) {
		diagnosed <- tg
		return &report.Report{}, nil
	}, NewMetrics())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Run(ctx)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	body := `{"version":"4","status":"firing","alerts":[` +
		`{"status":"firing","labels":{"alertname":"A","namespace":"shop","pod":"cart-1"}},` +
		`{"status":"firing","labels":{"alertname":"A","namespace":"kube-system","pod":"etcd-0"}}]}`
	resp, err := http.Post(srv.URL+"/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ar AlertResponse
	json.NewDecoder(resp.Body).Decode(&ar)
	resp.Body.Close()
	if ar.Accepted != 1 || ar.Forbidden != 1 {
		t.Fatalf("response %+v: want 1 accepted, 1 forbidden", ar)
	}
	if tg := <-diagnosed; tg.Namespace != "shop" {
		t.Fatalf("diagnosed %+v", tg)
	}
	select {
	case tg := <-diagnosed:
		t.Fatalf("a pod outside the agent's namespaces was diagnosed: %+v", tg)
	case <-time.After(200 * time.Millisecond):
	}
}

// A prediction's target is pvc/NAME or node/NAME: its report file is still
// written (it failed with ENOENT before), 0600 in a 0700 folder.
func TestFileSinkNamesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	r := &report.Report{TraceID: "0123abcd", Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	for _, tg := range []Target{{Namespace: "shop", Pod: "pvc/data"}, {Namespace: "", Pod: "node/lab-worker-1"}, {Namespace: "shop", Pod: "../../etc/x"}} {
		if err := (FileSink{Dir: dir}).Write(context.Background(), tg, r); err != nil {
			t.Fatalf("%+v: %v", tg, err)
		}
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 6 {
		t.Fatalf("%d files in %s", len(files), dir)
	}
	for _, f := range files {
		fi, _ := f.Info()
		if fi.Mode().Perm() != 0o600 || strings.Contains(f.Name(), "/") {
			t.Errorf("%s: mode %v", f.Name(), fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v", fi.Mode().Perm())
	}
}

// Text from outside (an alert's labels, a cause quoting a log line) cannot
// ping a channel or plant a link in Slack: &, < and > are escaped.
func TestSlackTextIsEscaped(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		got = m["text"]
	}))
	defer srv.Close()
	r := &report.Report{TraceID: "t1"}
	tg := Target{Alert: "<!channel> deploy now", Namespace: "shop", Pod: "<http://evil.example|click me>"}
	if err := (SlackSink{URL: srv.URL}).Write(context.Background(), tg, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "<!channel>") || strings.Contains(got, "<http://evil") || !strings.Contains(got, "&lt;!channel&gt;") {
		t.Fatalf("unescaped: %q", got)
	}
}
