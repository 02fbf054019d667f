package harness

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Collector is a real OpenTelemetry Collector (test/bin/otelcol: the OTLP
// receiver over HTTP and the file exporter), receiving at Endpoint and
// writing each batch of spans as a line of OTLP JSON to File.
type Collector struct {
	Endpoint, File string
	cmd            *exec.Cmd
}

// StartCollector starts bin (the built otelcol) in dir and waits until it
// accepts OTLP/HTTP.
func StartCollector(bin, dir string) (*Collector, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	c := &Collector{Endpoint: "http://" + addr, File: filepath.Join(dir, "spans.json")}
	cfg := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: %s\n"+
		"exporters:\n  file:\n    path: %s\n    flush_interval: 100ms\n"+
		"service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n", addr, c.File)), 0o644); err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "--config", cfg)
	logf, err := os.Create(filepath.Join(dir, "otelcol.log"))
	if err != nil {
		return nil, err
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		if resp, err := http.Post(c.Endpoint+"/v1/traces", "application/json", strings.NewReader("{}")); err == nil {
			resp.Body.Close()
			return c, nil
		}
		if i > 100 {
			c.Stop()
			b, _ := os.ReadFile(filepath.Join(dir, "otelcol.log"))
			return nil, fmt.Errorf("the collector did not start:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the collector.
func (c *Collector) Stop() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}
