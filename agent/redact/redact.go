// Package redact is the one place lab masks secrets: every text that
// leaves the process — a prompt, a report, a sink, the incident memory —
// has passed through it. collect redacts what it gathers (statuses,
// termination messages, events) before anything reads it; the log digest
// redacts each log line. A secret is replaced by [REDACTED:kind]: private
// keys, JWTs, passwords in URLs, bearer/basic credentials, cloud and chat
// tokens, and the value of any secret-named key (password=…, "api_key": …).
package redact

import (
	"bytes"
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
		for v < len(s) && !strings.ContainsRune(" \t\r\n\"',;&}", rune(s[v])) {
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

// String replaces secrets in s with [REDACTED:kind] and reports how many.
func String(s string) (string, int) {
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

// Line is String with a reused lower-case buffer, so a line without any
// hint costs one pass and no allocation (the log digest's hot path).
func Line(s string, lower []byte) (string, int, []byte) {
	lower = lower[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	if !anyHint(lower) {
		return s, 0, lower
	}
	out, n := String(s)
	return out, n, lower
}

// hintBytes are every redactor's hints and the secret key names.
var hintBytes = func() [][]byte {
	var out [][]byte
	for _, r := range redactors {
		for _, h := range r.hint {
			out = append(out, []byte(h))
		}
	}
	for _, k := range []string{"pass", "pwd", "secret", "token", "key", "credential", "auth"} {
		out = append(out, []byte(k))
	}
	return out
}()

func anyHint(lower []byte) bool {
	for _, h := range hintBytes {
		if bytes.Contains(lower, h) {
			return true
		}
	}
	return false
}
