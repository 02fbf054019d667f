package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"lab.dev/lab/test/harness"
)

// ProtocolsResult measures the agent through its ecosystem protocols (#27)
// on one scenario pod of a harness control plane, rules only (--no-llm: a
// model call would dominate every figure): `lab diagnose` as a process per
// diagnosis (what a person or a script runs) against `lab mcp` over stdio
// (one long-lived process, what an assistant starts), each with no trace
// exporter and with a real OpenTelemetry Collector receiving; and the size
// of what an assistant gets back against the report.
type ProtocolsResult struct {
	Scenario string `json:"scenario"`
	Runs     int    `json:"runs"`
	// Wall time per diagnosis, ms: the CLI's includes the process' start.
	CLI       Latency `json:"cli"`
	CLITraced Latency `json:"cliTraced"`
	// MCP: one tools/call of diagnose, measured at the SDK's client; the
	// first call of the process apart (its caches cold).
	MCPFirstMs float64 `json:"mcpFirstMs"`
	MCP        Latency `json:"mcp"`
	MCPTraced  Latency `json:"mcpTraced"`
	// Sizes, bytes: the report as `lab diagnose -o json` and as text; the
	// tool result as the client decodes it (its text content, its
	// structured content, and the JSON-RPC result whole).
	ReportJSON     int `json:"reportJsonBytes"`
	ReportText     int `json:"reportTextBytes"`
	ToolText       int `json:"toolTextBytes"`
	ToolStructured int `json:"toolStructuredBytes"`
	ToolResult     int `json:"toolResultBytes"`
	// Spans the collector received for one CLI diagnosis.
	SpansPerDiagnosis int `json:"spansPerDiagnosis"`
}

func runProtocols(ctx context.Context, lab string, runs int) ProtocolsResult {
	res := ProtocolsResult{Scenario: "crashloop-exit1", Runs: runs}
	c, err := harness.Start(ctx, harness.Options{Nodes: harness.ScenarioNodes()})
	check(err)
	defer c.Stop()
	s, err := harness.LoadScenario(filepath.Join("manifests", "scenarios", res.Scenario+".yaml"))
	check(err)
	const ns = "protocols-bench"
	pods, err := c.Apply(ctx, s, ns)
	check(err)
	pod := pods[0].Name
	home, err := os.MkdirTemp("", "lab-protocols-bench-")
	check(err)
	defer os.RemoveAll(home)
	cfg := filepath.Join(home, "lab.yaml")
	check(os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: bench}\nagent: {namespaces: ["+ns+"]}\n"), 0o644))
	col, err := harness.StartCollector(filepath.Join(os.Getenv("LAB_TESTBIN"), "otelcol"), home)
	check(err)
	defer col.Stop()
	env := func(traced bool) []string {
		e := append(os.Environ(), "LAB_HOME="+home, "NO_COLOR=1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=")
		if traced {
			return append(e, "OTEL_EXPORTER_OTLP_ENDPOINT="+col.Endpoint)
		}
		return append(e, "OTEL_EXPORTER_OTLP_ENDPOINT=")
	}

	cli := func(traced bool, format string) ([]byte, float64) {
		cmd := exec.CommandContext(ctx, lab, "diagnose", pod, "-n", ns, "--no-llm", "-o", format, "-c", cfg, "--kubeconfig", c.Kubeconfig)
		cmd.Env = env(traced)
		start := time.Now()
		out, err := cmd.Output()
		check(err)
		return out, float64(time.Since(start).Microseconds()) / 1000
	}
	js, _ := cli(false, "json")
	txt, _ := cli(false, "text")
	res.ReportJSON, res.ReportText = len(js), len(txt)
	for _, traced := range []bool{false, true} {
		var lat []float64
		for i := 0; i < runs; i++ {
			_, ms := cli(traced, "json")
			lat = append(lat, ms)
		}
		if traced {
			res.CLITraced = summarize(lat)
		} else {
			res.CLI = summarize(lat)
		}
	}
	var rep struct{ TraceID string }
	out, _ := cli(true, "json")
	check(json.Unmarshal(out, &rep))
	res.SpansPerDiagnosis = countSpans(col.File, rep.TraceID)

	for _, traced := range []bool{false, true} {
		cmd := exec.CommandContext(ctx, lab, "mcp", "--no-llm", "-c", cfg, "--kubeconfig", c.Kubeconfig)
		cmd.Env = env(traced)
		client := mcp.NewClient(&mcp.Implementation{Name: "labbench", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
		check(err)
		var lat []float64
		for i := 0; i <= runs; i++ {
			start := time.Now()
			r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "diagnose", Arguments: map[string]any{"pod": pod, "namespace": ns}})
			ms := float64(time.Since(start).Microseconds()) / 1000
			check(err)
			if r.IsError {
				check(fmt.Errorf("mcp diagnose: %+v", r.Content))
			}
			switch {
			case i == 0 && !traced:
				res.MCPFirstMs = ms
				all, _ := json.Marshal(r)
				st, _ := json.Marshal(r.StructuredContent)
				res.ToolResult, res.ToolStructured = len(all), len(st)
				res.ToolText = len(r.Content[0].(*mcp.TextContent).Text)
			case i > 0:
				lat = append(lat, ms)
			}
		}
		cs.Close()
		if traced {
			res.MCPTraced = summarize(lat)
		} else {
			res.MCP = summarize(lat)
		}
	}
	return res
}

// countSpans counts the spans of trace in the collector's file (waiting up
// to 10 s for the exporter's batch).
func countSpans(file, trace string) int {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		n := 0
		if f, err := os.Open(file); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				n += strings.Count(sc.Text(), `"traceId":"`+trace+`"`)
			}
			f.Close()
		}
		if n > 0 || time.Now().After(deadline) {
			return n
		}
	}
}

func protocolsTable(r ProtocolsResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "One pod of the %s scenario, rules only (`--no-llm`), %d diagnoses per row; ms at the caller.\n\n", r.Scenario, r.Runs)
	b.WriteString("| Path | No exporter: p50 | max | A Collector receiving: p50 | max |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| `lab diagnose` (a process per diagnosis) | %.0f | %.0f | %.0f | %.0f |\n", r.CLI.P50, r.CLI.P99, r.CLITraced.P50, r.CLITraced.P99)
	fmt.Fprintf(&b, "| `lab mcp` over stdio, tools/call diagnose | %.1f | %.1f | %.1f | %.1f |\n", r.MCP.P50, r.MCP.P99, r.MCPTraced.P50, r.MCPTraced.P99)
	fmt.Fprintf(&b, "\nThe MCP server's first diagnose: %.0f ms. Spans exported per diagnosis: %d.\n\n", r.MCPFirstMs, r.SpansPerDiagnosis)
	b.WriteString("| What the caller gets | Bytes |\n|---|---|\n")
	fmt.Fprintf(&b, "| report, `lab diagnose -o json` | %d |\n| report, text | %d |\n", r.ReportJSON, r.ReportText)
	fmt.Fprintf(&b, "| MCP tool result: text content | %d |\n| MCP tool result: structured content | %d |\n| MCP tool result, whole | %d |\n", r.ToolText, r.ToolStructured, r.ToolResult)
	fmt.Fprintf(&b, "\nAn assistant's diagnose costs %.1f× less than a `lab diagnose` process (p50: no process start, no kubeconfig load, clients kept);"+
		" a Collector receiving adds %+.1f ms to the CLI's p50 (the exporter flushes at exit) and %+.1f ms to the MCP call's (batched in the background)."+
		" The tool result is the report's text and its JSON together: %.1f× the JSON report alone.\n",
		r.CLI.P50/r.MCP.P50, r.CLITraced.P50-r.CLI.P50, r.MCPTraced.P50-r.MCP.P50, float64(r.ToolResult)/float64(r.ReportJSON))
	return b.String()
}
