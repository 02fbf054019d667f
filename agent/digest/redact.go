// Package digest turns raw logs into a small, redacted prompt: ANSI codes
// and timestamps stripped, secrets redacted, repeated lines collapsed into
// templates with counts (Drain-style), the first error, stack traces and the
// last lines before exit kept whole, everything fitted to a token budget.
// Log text is data: it is quoted, never obeyed.
package digest

import (
	"regexp"
	"strings"
)

var (
	ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	// Leading timestamps: RFC 3339 / ISO 8601, "2026-11-23 10:00:00,123",
	// klog "I1123 10:00:00.123456  1234 file.go:12]", syslog "Nov 23 10:00:00".
	leadingTS = regexp.MustCompile(`^\s*(?:\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s*|[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\]]+\]\s*|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}\s+|time="[^"]+"\s*|ts=\S+\s*)`)
	pemBegin  = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	pemEnd    = regexp.MustCompile(`-----END [A-Z ]*PRIVATE KEY-----`)
)

// Clean strips ANSI escape codes, leading timestamps and control characters.
// Each regular expression runs only on a line whose bytes can match it.
func Clean(line string) string {
	if strings.IndexByte(line, 0x1b) >= 0 {
		line = ansi.ReplaceAllString(line, "")
	}
	if t := strings.TrimLeft(line, " \t"); t != "" {
		switch c := t[0]; {
		case c >= '0' && c <= '9' || c == '[':
			if n := isoPrefix(t); n > 0 {
				line = t[n:]
			}
		case (c == 'I' || c == 'W' || c == 'E' || c == 'F') && len(t) > 1 && t[1] >= '0' && t[1] <= '9', // klog
			c >= 'A' && c <= 'Z' && len(t) > 3 && t[3] == ' ', // syslog "Nov 23 …"
			strings.HasPrefix(t, "time=\"") || strings.HasPrefix(t, "ts="):
			line = leadingTS.ReplaceAllString(line, "")
		}
	}
	line = strings.TrimRight(line, " \t\r")
	for i := 0; i < len(line); i++ {
		if line[i] < 0x20 && line[i] != '\t' {
			return strings.Map(func(r rune) rune {
				if r < 0x20 && r != '\t' {
					return -1
				}
				return r
			}, line)
		}
	}
	return line
}
