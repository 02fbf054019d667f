package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Prometheus is a running Prometheus server whose TSDB was backfilled with
// promtool (hours of history written in seconds) before it started.
type Prometheus struct {
	URL  string
	Proc *Proc
	Dir  string
}

// PrometheusOptions shape a test Prometheus.
type PrometheusOptions struct {
	Dir         string        // its TSDB and config (required)
	OpenMetrics string        // a file backfilled into the TSDB before start (may be empty)
	EvalEvery   time.Duration // rule evaluation interval (default 1m)
	RuleFiles   []string
	Host        string // address to listen on (default 127.0.0.1)
	// Scrape are host:port targets scraped at /metrics every second (job
	// "scrape", honor_labels as lab's ServiceMonitor for the agent sets).
	Scrape []string
}

// StartPrometheus backfills o.OpenMetrics into the TSDB with `promtool tsdb
// create-blocks-from openmetrics`, then serves it with the real Prometheus
// on a free port, evaluating o.RuleFiles. The server is stopped with Stop.
func StartPrometheus(ctx context.Context, o PrometheusOptions) (*Prometheus, error) {
	dir, openMetrics, evalEvery, ruleFiles := o.Dir, o.OpenMetrics, o.EvalEvery, o.RuleFiles
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	promtool, err := Bin("promtool")
	if err != nil {
		return nil, err
	}
	bin, err := Bin("prometheus")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	if openMetrics != "" {
		out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", "--max-block-duration=24h", openMetrics, data).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("promtool backfill: %v\n%s", err, out)
		}
	}
	if evalEvery <= 0 {
		evalEvery = time.Minute
	}
	var rules strings.Builder
	for _, f := range ruleFiles {
		fmt.Fprintf(&rules, "  - %q\n", f)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  evaluation_interval: %s\n  scrape_interval: 1m\n", evalEvery)
	if len(ruleFiles) > 0 {
		conf += "rule_files:\n" + rules.String()
	}
	if len(o.Scrape) > 0 {
		conf += "scrape_configs:\n  - job_name: scrape\n    scrape_interval: 1s\n    honor_labels: true\n    static_configs:\n      - targets: ["
		for i, t := range o.Scrape {
			if i > 0 {
				conf += ", "
			}
			conf += strconv.Quote(t)
		}
		conf += "]\n"
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p := &Prometheus{URL: "http://" + o.Host + ":" + strconv.Itoa(port), Dir: dir}
	p.Proc, err = StartProc(dir, "prometheus", bin, []string{
		"--config.file=" + cfg, "--storage.tsdb.path=" + data, "--storage.tsdb.retention.time=30d",
		"--web.listen-address=" + o.Host + ":" + strconv.Itoa(port), "--log.level=warn",
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.Proc.WaitFor(wctx, "prometheus /-/ready", answers200(p.URL+"/-/ready")); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// answers200 is a WaitFor condition: GET url answers 200 (the Prometheus
// projects' /-/ready).
func answers200(url string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}
}

// Stop stops the server.
func (p *Prometheus) Stop() {
	if p.Proc != nil {
		p.Proc.Stop(5 * time.Second)
	}
}
