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

// redactor is one secret pattern.
type redactor struct {
	kind string
	re   *regexp.Regexp
	keep int      // leading submatch groups to keep (e.g. "password=")
	hint []string // lower-case substrings one of which must occur (cheap prefilter)
}

var redactors = []redactor{
	{kind: "private-key", hint: []string{"private key"}, re: regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`)},
	{kind: "jwt", hint: []string{"eyj"}, re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}`)},
	{kind: "url-credentials", hint: []string{"://"}, re: regexp.MustCompile(`\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)`), keep: 2},
	{kind: "bearer", hint: []string{"bearer"}, re: regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`), keep: 1},
	{kind: "basic-auth", hint: []string{"basic"}, re: regexp.MustCompile(`(?i)\b(basic\s+)[A-Za-z0-9+/=]{8,}`), keep: 1},
	{kind: "aws-key", hint: []string{"akia", "asia"}, re: regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{kind: "github-token", hint: []string{"gh"}, re: regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{30,}\b`)},
	{kind: "slack-token", hint: []string{"xox"}, re: regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}\b`)},
	{kind: "api-key", hint: []string{"sk-"}, re: regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{16,}\b`)},
	{kind: "assignment", hint: []string{"pass", "pwd", "secret", "token", "key", "credential", "auth"}, re: regexp.MustCompile(`(?i)\b((?:[a-z0-9_.-]*?)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth)["']?\s*[:=]\s*["']?)([^\s"',;&}]{3,})`), keep: 1},
}

// Redact replaces secrets in s with [REDACTED:kind] and reports how many.
func Redact(s string) (string, int) {
	n := 0
	lower := strings.ToLower(s)
	for _, r := range redactors {
		hit := false
		for _, h := range r.hint {
			hit = hit || strings.Contains(lower, h)
		}
		if !hit {
			continue
		}
		s = r.re.ReplaceAllStringFunc(s, func(m string) string {
			n++
			prefix := ""
			if r.keep > 0 {
				sub := r.re.FindStringSubmatch(m)
				prefix = sub[1]
				if r.kind == "url-credentials" {
					return sub[1] + "[REDACTED:password]" + sub[2]
				}
			}
			return prefix + "[REDACTED:" + r.kind + "]"
		})
	}
	return s, n
}

var (
	ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	// Leading timestamps: RFC 3339 / ISO 8601, "2026-11-23 10:00:00,123",
	// klog "I1123 10:00:00.123456  1234 file.go:12]", syslog "Nov 23 10:00:00".
	leadingTS = regexp.MustCompile(`^\s*(?:\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s*|[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\]]+\]\s*|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}\s+|time="[^"]+"\s*|ts=\S+\s*)`)
)

// Clean strips ANSI escape codes, leading timestamps and control characters.
func Clean(line string) string {
	line = ansi.ReplaceAllString(line, "")
	line = leadingTS.ReplaceAllString(line, "")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return -1
		}
		return r
	}, strings.TrimRight(line, " \t\r"))
}
