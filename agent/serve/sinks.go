package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"lab.dev/lab/agent/report"
	"lab.dev/lab/core/state"
)

// LogSink writes each report's text summary to a writer (stdout).
type LogSink struct {
	W io.Writer
	// JSON writes each report as one event, one line: {"msg":"report",
	// "trace_id":…, "report":{…the report's JSON…}} instead of the text.
	JSON bool
	mu   sync.Mutex
}

// Write implements Sink.
func (s *LogSink) Write(_ context.Context, t Target, r *report.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.JSON {
		t.Trace = r.TraceID
		slog.New(slog.NewJSONHandler(s.W, nil)).Info("report", t.logAttrs("report", r)...)
		return nil
	}
	fmt.Fprintf(s.W, "--- alert %s on %s/%s%s\n", t.Alert, t.Namespace, t.Pod, known(r))
	r.Text(s.W)
	return nil
}

// FileSink writes each report as Markdown and JSON into Dir, readable by
// its owner only (0600; a folder it creates is 0700): reports quote logs and events.
type FileSink struct{ Dir string }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Write implements Sink. A target's pod may be "pvc/data" or "node/n1"
// (predictions): the name is made safe, never a path.
func (s FileSink) Write(_ context.Context, t Target, r *report.Report) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil { // a folder it creates is 0700; one given is left as it is
		return err
	}
	// An alert's report is named by the alert (when it was accepted, its
	// ID): a replay after a restart rewrites the same files, so one alert
	// has one report. A prediction's is named by its trace.
	name := fmt.Sprintf("%s-%s-%s-%s", r.Time.UTC().Format("20060102T150405Z"), t.Namespace, t.Pod, r.TraceID)
	if t.ID != "" {
		name = fmt.Sprintf("%s-%s-%s-alert-%s", t.Received.UTC().Format("20060102T150405Z"), t.Namespace, t.Pod, t.ID)
	}
	base := strings.Trim(unsafeName.ReplaceAllString(name, "_"), "._")
	var md, js bytes.Buffer
	r.Markdown(&md)
	if err := r.JSON(&js); err != nil {
		return err
	}
	if err := state.WriteFile(filepath.Join(s.Dir, base+".md"), md.Bytes(), 0o600); err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(s.Dir, base+".json"), js.Bytes(), 0o600)
}

// slackEscape makes outside text (alert labels, causes quoting logs) plain
// text in Slack's mrkdwn: &, < and > are the control characters of its
// links and mentions (<!channel>, <@U123>, <http://x|click>), escaped as
// Slack documents.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// SlackSink posts a one-message summary to a Slack-compatible incoming
// webhook ({"text": …}; Mattermost and Rocket.Chat accept the same).
type SlackSink struct {
	URL    string
	Client *http.Client
}

// Write implements Sink.
func (s SlackSink) Write(ctx context.Context, t Target, r *report.Report) error {
	cat := "no failure detected"
	if p := r.Primary(); p != nil {
		cat = p.Category
	}
	e := slackEscape
	text := fmt.Sprintf("*%s* on `%s/%s`: %s\nRoot cause: %s\n(trace %s, %s)", e(t.Alert), e(t.Namespace), e(t.Pod), e(cat), e(r.RootCause()), e(r.TraceID), e(r.Model.Mode))
	text = strings.Replace(text, "\n", e(known(r))+"\n", 1)
	if steps := r.Runbook(); len(steps) > 0 {
		text += "\nNext: " + e(strings.Join(steps[:min(2, len(steps))], " / "))
	}
	if len(r.Runbooks) > 0 {
		text += "\nRunbook: " + e(r.Runbooks[0].Ref())
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("slack webhook: HTTP %d", resp.StatusCode)
	}
	return nil
}

// known says, for an alert on a failure the agent has seen before, that it
// is a known one and when it was last seen.
func known(r *report.Report) string {
	if r.History == nil {
		return ""
	}
	return fmt.Sprintf(" — known incident %s, %s", r.History.Fingerprint, report.Since(r.History))
}
