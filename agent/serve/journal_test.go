package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"lab.dev/lab/agent/report"
)

func target(i int) Target {
	t := Target{Namespace: "shop", Pod: fmt.Sprintf("cart-%d", i), Alert: "KubePodCrashLooping", Received: time.Unix(int64(1000+i), 0).UTC()}
	t.ID = AlertID(template.Alert{Fingerprint: fmt.Sprintf("fp%d", i)}, t)
	return t
}

// What was accepted survives a reopen (a kill -9), oldest first, with its
// attempts; a done alert is not pending again but is still recognised as a
// duplicate delivery; a full journal refuses with ErrFull.
func TestJournalSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 1, 3} {
		if added, err := j.Add(target(i)); !added || err != nil {
			t.Fatalf("add %d: %v %v", i, added, err)
		}
	}
	if added, err := j.Add(target(1)); added || err != nil {
		t.Errorf("the same alert again: added %v, %v; want a duplicate", added, err)
	}
	if _, err := j.Add(target(4)); !errors.Is(err, ErrFull) {
		t.Errorf("a fourth alert in a journal of 3: %v, want ErrFull", err)
	}
	if n, err := j.Begin(target(2).ID); n != 1 || err != nil {
		t.Errorf("Begin: %d %v", n, err)
	}
	if err := j.Done(target(1).ID, "reported"); err != nil {
		t.Fatal(err)
	}

	j2, err := OpenJournal(dir, 3) // what a restarted server sees
	if err != nil {
		t.Fatal(err)
	}
	got := j2.Pending()
	if len(got) != 2 || got[0].Pod != "cart-2" || got[1].Pod != "cart-3" || got[0].Attempts != 1 || got[0].ID != target(2).ID {
		t.Fatalf("pending after reopen: %+v", got)
	}
	if added, err := j2.Add(target(1)); added || err != nil {
		t.Errorf("a late redelivery of a reported alert: added %v, %v", added, err)
	}
	if added, err := j2.Add(target(4)); !added || err != nil {
		t.Errorf("room again after one was done: %v %v", added, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "pending", target(4).ID+".json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("entry file: %v %v", fi, err)
	}
	if st := j2.Stats(); st.Pending != 3 || st.Done != 1 || !st.Oldest.Equal(target(2).Received) {
		t.Errorf("stats: %+v", st)
	}
}

// A kill can leave a temporary file, a done marker beside its pending
// entry, or a torn/foreign file: the first two are cleaned up, the last is
// moved to bad/ and counted, and the journal opens.
func TestJournalOpensWhatAKillLeft(t *testing.T) {
	dir := t.TempDir()
	j, _ := OpenJournal(dir, 10)
	a, b := target(1), target(2)
	j.Add(a)
	j.Add(b)
	os.WriteFile(filepath.Join(dir, "pending", ".x.json.123"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(dir, "done", a.ID), []byte("reported\n"), 0o600) // killed before the removal
	os.WriteFile(filepath.Join(dir, "pending", "0123456789abcdef0123456789abcdef.json"), []byte(`{"id": "0123`), 0o600)
	os.WriteFile(filepath.Join(dir, "pending", "../../etc.json"), nil, 0o600)
	j2, err := OpenJournal(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if p := j2.Pending(); len(p) != 1 || p[0].ID != b.ID {
		t.Errorf("pending: %+v", p)
	}
	if st := j2.Stats(); st.Unreadable != 1 {
		t.Errorf("unreadable: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "pending", ".x.json.123")); !os.IsNotExist(err) {
		t.Error("temporary file left")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad", "0123456789abcdef0123456789abcdef.json")); err != nil {
		t.Errorf("torn entry not kept in bad/: %v", err)
	}
}

// The same alert delivered twice (Alertmanager's retry, its HA peer) has
// one ID; the same pod alerting again (a new startsAt) another.
func TestAlertID(t *testing.T) {
	tg := Target{Namespace: "shop", Pod: "cart-1", Alert: "KubePodCrashLooping"}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a := template.Alert{Fingerprint: "abc", StartsAt: t0, Labels: template.KV{"pod": "cart-1"}}
	b := a
	b.Annotations = template.KV{"summary": "changed text"}
	c := a
	c.StartsAt = t0.Add(time.Hour)
	if AlertID(a, tg) != AlertID(b, tg) || AlertID(a, tg) == AlertID(c, tg) || !validID(AlertID(a, tg)) {
		t.Errorf("ids: %s %s %s", AlertID(a, tg), AlertID(b, tg), AlertID(c, tg))
	}
	a.Fingerprint, b.Fingerprint = "", ""
	b.Labels = template.KV{"pod": "cart-1", "x": "y"}
	if AlertID(a, tg) == AlertID(b, tg) {
		t.Error("without a fingerprint, other labels must give another ID")
	}
}

func postAlerts(t *testing.T, url string, n0, n int) (*http.Response, AlertResponse) {
	t.Helper()
	m := Message{Data: &template.Data{Status: "firing"}, Version: "4"}
	for i := n0; i < n0+n; i++ {
		m.Alerts = append(m.Alerts, template.Alert{Status: "firing", Fingerprint: fmt.Sprint(i), Labels: template.KV{"alertname": "A", "namespace": "shop", "pod": fmt.Sprintf("p%d", i)}})
	}
	b, _ := json.Marshal(m)
	resp, err := http.Post(url+"/alerts", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ar AlertResponse
	json.NewDecoder(resp.Body).Decode(&ar)
	return resp, ar
}

// Backpressure: a full journal answers 503 with Retry-After (Alertmanager
// retries a 5xx) and never 2xx-and-drop; the sender's retry of the same
// notification gets the rest in, the accepted ones coming back as
// duplicates. Every alert is reported once.
func TestFullJournalAnswers503(t *testing.T) {
	release := make(chan struct{})
	sink := &countSink{}
	s := New(Options{Queue: 3, Concurrency: 1, Rate: 1000, Burst: 100, Dedupe: 0}, func(ctx context.Context, tg Target) (*report.Report, error) {
		<-release
		return &report.Report{}, nil
	}, NewMetrics(), sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Run(ctx)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, ar := postAlerts(t, srv.URL, 0, 5)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "10" || ar.Accepted != 3 || ar.Busy != 2 {
		t.Fatalf("a burst beyond the journal: HTTP %d Retry-After %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), ar)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, ar = postAlerts(t, srv.URL, 0, 5) // the sender retries the whole notification
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d: %+v", resp.StatusCode, ar)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for int64(sink.count()) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if int64(sink.count()) != 5 {
		t.Errorf("reports: %d, want 5 (one per alert)", int64(sink.count()))
	}
	if st := s.Status(); st.Reported != 5 || st.Busy < 2 || st.Dropped != 0 || st.JournalEntries != 0 {
		t.Errorf("status: %+v", st)
	}
}

// A server started on a journal reports what an earlier one accepted and
// did not report, once; a diagnosis that fails is retried, and given up
// after Attempts; an attempt a crash interrupted counts.
func TestReplayRetryGiveUp(t *testing.T) {
	dir := t.TempDir()
	j, _ := OpenJournal(dir, 10)
	for i := 1; i <= 3; i++ {
		j.Add(target(i))
	}
	j.Begin(target(3).ID) // two earlier servers died diagnosing cart-3
	j.Begin(target(3).ID)
	j2, _ := OpenJournal(dir, 10)
	var calls atomic.Int64
	sink := &countSink{}
	s := New(Options{Journal: j2, Rate: 1000, Burst: 100, Attempts: 3}, func(ctx context.Context, tg Target) (*report.Report, error) {
		if calls.Add(1); tg.Pod == "cart-2" {
			return nil, errors.New("the API server said no")
		}
		return &report.Report{}, nil
	}, NewMetrics(), sink)
	s.retryBase = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for s.Status().JournalEntries > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := s.Status()
	if st.Replayed != 3 || st.Reported != 2 || st.Failed != 1 || st.Retried != 2 || int64(sink.count()) != 2 {
		t.Errorf("status %+v, reports %d", st, int64(sink.count()))
	}
	if calls.Load() != 5 { // cart-1 once, cart-3 its third attempt, cart-2 three times
		t.Errorf("diagnoses: %d, want 5", calls.Load())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "done", target(2).ID)); string(b) != "failed\n" {
		t.Errorf("cart-2's done marker: %q", b)
	}
}

// Drain: readiness and intake answer 503 at once; the diagnosis in flight
// finishes within the grace period and is marked done; a stop beyond it
// leaves the alert pending, its attempt taken back.
func TestDrain(t *testing.T) {
	dir := t.TempDir()
	j, _ := OpenJournal(dir, 10)
	started := make(chan string, 4)
	finish := make(chan struct{})
	s := New(Options{Journal: j, Rate: 1000, Burst: 100, Concurrency: 2}, func(ctx context.Context, tg Target) (*report.Report, error) {
		started <- tg.Pod
		if tg.Pod == "cart-2" {
			<-ctx.Done() // never finishes in time
			return nil, ctx.Err()
		}
		<-finish
		return &report.Report{}, nil
	}, NewMetrics())
	work, cancel := context.WithCancel(context.Background())
	s.Run(work)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	s.Accept(target(1))
	s.Accept(target(2))
	<-started
	<-started
	go func() { time.Sleep(100 * time.Millisecond); close(finish) }()
	if s.Drain(300 * time.Millisecond) {
		t.Error("Drain says all finished, but cart-2 never does")
	}
	if r, _ := http.Get(srv.URL + "/readyz"); r.StatusCode != 503 {
		t.Errorf("readyz while draining: %d", r.StatusCode)
	}
	if resp, _ := postAlerts(t, srv.URL, 10, 1); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("alerts while draining: %d", resp.StatusCode)
	}
	cancel()
	s.Wait()
	p := j.Pending()
	if len(p) != 1 || p[0].Pod != "cart-2" || p[0].Attempts != 0 {
		t.Errorf("after the drain: %+v (want cart-2 pending, its interrupted attempt not counted)", p)
	}
}

// The file sink names an alert's report by the alert: reported twice (a
// replay after a kill between the write and the done marker), it is still
// one report.
func TestFileSinkOneReportPerAlert(t *testing.T) {
	dir := t.TempDir()
	fs := FileSink{Dir: dir}
	tg := target(1)
	for i := 0; i < 2; i++ {
		if err := fs.Write(context.Background(), tg, &report.Report{TraceID: fmt.Sprint("trace", i), Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 || !strings.Contains(files[0], tg.ID) {
		t.Errorf("files: %v", files)
	}
}
