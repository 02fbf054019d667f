package ui

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// LogFormatEnv names the log format of lab's servers (`lab agent serve`,
// `lab mcp`) when --log-format does not.
const LogFormatEnv = "LAB_LOG_FORMAT"

// JSONLogs reads a server's --log-format (flag; "" takes $LAB_LOG_FORMAT,
// else text): whether its events are JSON (true) or logfmt text (false).
func JSONLogs(flag string) (bool, error) {
	src, format := "--log-format", flag
	if format == "" {
		src, format = "$"+LogFormatEnv, os.Getenv(LogFormatEnv)
	}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "", "text":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("%s: %q is not a log format (text or json)", src, format)
}

// EventLog is a server's structured log: one line per event, through the
// standard library's log/slog — one JSON object per line (what Loki,
// Elasticsearch or `jq` read) or logfmt text. Each event of lab's servers
// carries the trace id of the work it is about (trace_id).
func EventLog(w io.Writer, json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// NoEvents is a structured log that drops everything.
var NoEvents = slog.New(slog.DiscardHandler)
