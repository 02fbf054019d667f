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
	{kind: "github-token", hint: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}, re: regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{30,}\b`)},
	{kind: "slack-token", hint: []string{"xox"}, re: regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}\b`)},
	{kind: "api-key", hint: []string{"sk-"}, re: regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{16,}\b`)},
}

// assignmentKeys name secrets in "key: value" and "key=value" (password=…,
// DB_PASSWORD: …, "api_key":"…"); matched at the end of the key's name.
var assignmentKeys = []string{"password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key", "accesskey", "access_key",
	"access-key", "privatekey", "private_key", "private-key", "clientsecret", "client_secret", "client-secret", "credentials", "credential", "auth"}

// redactAssignments replaces the values of secret-named keys, scanning bytes:
// a key ends in one of assignmentKeys, then an optional quote, spaces, ':'
// or '=', spaces, an optional quote, and a value of 3+ characters.
func redactAssignments(s, lower string) (string, int) {
	var b strings.Builder
	n, last := 0, 0
	for i := 0; i < len(lower); {
		k := ""
		for _, key := range assignmentKeys {
			if strings.HasPrefix(lower[i:], key) {
				k = key
				break
			}
		}
		if k == "" { // any name may come before the key word (db_password, x.auth)
			i++
			continue
		}
		j := i + len(k)
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			j++
		}
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j >= len(s) || (s[j] != ':' && s[j] != '=') {
			i++
			continue
		}
		j++
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			j++
		}
		v := j
		for v < len(s) && !strings.ContainsRune(" \t\"',;&}", rune(s[v])) {
			v++
		}
		if v-j < 3 || strings.HasPrefix(s[j:v], "[REDACTED") {
			i = j
			continue
		}
		b.WriteString(s[last:j])
		b.WriteString("[REDACTED:assignment]")
		n++
		last, i = v, v
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// Redact replaces secrets in s with [REDACTED:kind] and reports how many.
func Redact(s string) (string, int) {
	n := 0
	lower := asciiLower(s)
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
		lower = asciiLower(s)
	}
	if strings.ContainsAny(s, ":=") {
		var m int
		s, m = redactAssignments(s, lower)
		n += m
	}
	return s, n
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay the same.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

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
