package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"

	"lab.dev/lab/bootstrap/cluster/kwok"
)

// Alertmanager is a real Alertmanager (built by test/bin/build.sh, no
// clustering) whose one route sends every alert, grouped by namespace and
// pod, to a webhook with a bearer token — the receiver lab's
// AlertmanagerConfig gives the agent.
type Alertmanager struct {
	URL  string
	Proc *kwok.Proc
}

// StartAlertmanager starts one sending to webhook with the token in
// tokenFile, flushing groups every second (so a failed delivery is retried
// about every second, as Alertmanager does at each group_interval).
func StartAlertmanager(ctx context.Context, dir, webhook, tokenFile string) (*Alertmanager, error) {
	bin, err := Bin("alertmanager")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	conf := fmt.Sprintf(`route:
  receiver: lab-agent
  group_by: [namespace, pod]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: lab-agent
  webhook_configs:
  - url: %q
    send_resolved: false
    http_config:
      authorization: {type: Bearer, credentials_file: %q}
`, webhook, tokenFile)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	a := &Alertmanager{URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	a.Proc, err = StartProc(dir, "alertmanager", bin, []string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port), "--cluster.listen-address=", "--log.level=warn"})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.Proc.WaitFor(wctx, "alertmanager /-/ready", answers200(a.URL+"/-/ready")); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

// Fire posts alerts to Alertmanager's API (as Prometheus does).
func (a *Alertmanager) Fire(ctx context.Context, alerts []template.Alert) error {
	type postable struct {
		Labels   template.KV `json:"labels"`
		StartsAt time.Time   `json:"startsAt"`
	}
	var body []postable
	for _, al := range alerts {
		body = append(body, postable{Labels: al.Labels, StartsAt: al.StartsAt})
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/api/v2/alerts", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST /api/v2/alerts: %s %s", resp.Status, msg)
	}
	return nil
}

// Metric is the sum of Alertmanager's own metric name (all its series)
// whose labels contain every one of match ("integration=\"webhook\"").
func (a *Alertmanager) Metric(name string, match ...string) float64 {
	resp, err := http.Get(a.URL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if f := strings.Fields(line); ok && len(f) == 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			sum += v
		}
	}
	return sum
}

// Stop stops it.
func (a *Alertmanager) Stop() {
	if a.Proc != nil {
		a.Proc.Stop(5 * time.Second)
	}
}
