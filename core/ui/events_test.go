package ui

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEventLogFormats(t *testing.T) {
	var b strings.Builder
	EventLog(&b, true).Info("alert received", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736", "pod", "demo/web\nforged=1")
	var ev map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(b.String())), &ev); err != nil || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("not one JSON object on one line: %q (%v)", b.String(), err)
	}
	if ev["msg"] != "alert received" || ev["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || ev["level"] != "INFO" {
		t.Errorf("event %v", ev)
	}
	b.Reset()
	EventLog(&b, false).Warn("diagnosis failed", "pod", "demo/web\nlevel=ERROR msg=forged")
	if got := b.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `level=WARN msg="diagnosis failed"`) {
		t.Errorf("text event (a value with a newline must stay on its line): %q", got)
	}
}

func TestLogFormatFlagAndEnv(t *testing.T) {
	t.Setenv(LogFormatEnv, "")
	for flag, want := range map[string]bool{"": false, "text": false, "json": true, " JSON ": true} {
		if got, err := JSONLogs(flag); err != nil || got != want {
			t.Errorf("%q: %v %v", flag, got, err)
		}
	}
	t.Setenv(LogFormatEnv, "json")
	if got, err := JSONLogs(""); err != nil || !got {
		t.Errorf("$%s=json: %v %v", LogFormatEnv, got, err)
	}
	if got, _ := JSONLogs("text"); got {
		t.Error("the flag wins over the environment")
	}
	t.Setenv(LogFormatEnv, "yaml")
	if _, err := JSONLogs(""); err == nil || !strings.Contains(err.Error(), "$LAB_LOG_FORMAT") {
		t.Errorf("a bad format from the environment must name it: %v", err)
	}
	if _, err := JSONLogs("xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("a bad flag must name it: %v", err)
	}
}
