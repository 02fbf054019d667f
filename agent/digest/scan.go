package digest

import (
	"regexp"
	"strings"
)

// The digest's hot path reads every byte of up to hundreds of megabytes of
// log: it scans bytes with cheap prefilters and leaves regular expressions
// for the rare lines that pass them.

// errorWords are the words that make a line read as an error.
var errorWords = map[string]bool{"error": true, "err": true, "fatal": true, "panic": true, "exception": true, "failed": true,
	"failure": true, "refused": true, "denied": true, "cannot": true, "unable": true, "timeout": true, "oom": true, "killed": true}

// isError: the line holds an error word (case-insensitive, whole words) or
// "timed out".
func isError(l string) bool {
	var w [16]byte
	n := 0
	prevTimed := false
	flush := func() bool {
		if n == 0 || n > len(w) {
			n = 0
			return false
		}
		word := string(w[:n]) // no allocation: the compiler keys the map lookup on the bytes
		n = 0
		if prevTimed && word == "out" {
			return true
		}
		prevTimed = word == "timed"
		return errorWords[word]
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		default:
			if flush() {
				return true
			}
			continue
		}
		if n < len(w) {
			w[n] = c
		}
		n++
	}
	return flush()
}

var traceBody = regexp.MustCompile(`^(\s+|at |File "|goroutine |\t|created by |\.\.\.|\S+\.go:\d+|\S+\(.*\)$)`)

// traceHead: a line that starts a stack trace (Go, Python, Java).
func traceHead(l string) bool {
	for _, p := range []string{"panic: ", "fatal error: ", "Traceback (most recent call last)", "Exception in thread", "Caused by: "} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	if strings.HasPrefix(l, "goroutine ") {
		rest := l[len("goroutine "):]
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		return i > 0 && strings.HasPrefix(rest[i:], " [")
	}
	first, _, _ := strings.Cut(l, " ")
	if first == "" || strings.ContainsAny(first, "\t") {
		return false
	}
	f := strings.TrimSuffix(first, ":")
	if (strings.HasSuffix(f, "Error") || strings.HasSuffix(f, "Exception")) && (f == l || strings.HasPrefix(l[len(f):], ": ")) {
		return true
	}
	return false
}

// stackTrace finds the first trace: a head line and the indented or
// frame-looking lines after it.
func stackTrace(lines []string) (int, int) {
	for i, l := range lines {
		if !traceHead(l) {
			continue
		}
		end := i
		for j := i + 1; j < len(lines) && j < i+80; j++ {
			if traceBody.MatchString(lines[j]) || traceHead(lines[j]) || strings.TrimSpace(lines[j]) == "" {
				end = j
				continue
			}
			break
		}
		if end > i {
			return i, end
		}
	}
	return -1, -1
}

// Template is the line's template: values (numbers, ids, addresses) as <*>.
func Template(line string) string { return string(templateKey(nil, Clean(line))) }

// templateKey appends the line's template to key: tokens that are values
// (numbers with units, hex ids, UUIDs, addresses) become <*>, key=value with
// a value holding digits keeps its key, and digit runs inside other tokens
// become <*> (/orders/42 → /orders/<*>) — the core of Drain.
func templateKey(key []byte, l string) []byte {
	first := true
	for i := 0; i < len(l); {
		for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
			i++
		}
		j := i
		for j < len(l) && l[j] != ' ' && l[j] != '\t' {
			j++
		}
		if i == j {
			break
		}
		if !first {
			key = append(key, ' ')
		}
		first = false
		key = appendToken(key, l[i:j])
		i = j
	}
	return key
}

func appendToken(key []byte, tok string) []byte {
	if strings.IndexAny(tok, "0123456789") < 0 {
		return append(key, tok...)
	}
	if variable(tok) {
		return append(key, "<*>"...)
	}
	if k, v, ok := strings.Cut(tok, "="); ok && k != "" && strings.IndexAny(k, "0123456789") < 0 && strings.IndexAny(v, "0123456789") >= 0 &&
		strings.IndexAny(k, " \t") < 0 && isLowerWord(k) {
		key = append(key, k...)
		return append(key, "=<*>"...)
	}
	// runs of hex characters holding a digit become <*>
	for i := 0; i < len(tok); {
		if !isHex(tok[i]) {
			key = append(key, tok[i])
			i++
			continue
		}
		j, digit := i, false
		for j < len(tok) && isHex(tok[j]) {
			digit = digit || tok[j] <= '9'
			j++
		}
		if digit {
			key = append(key, "<*>"...)
		} else {
			key = append(key, tok[i:j]...)
		}
		i = j
	}
	return key
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isLowerWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// variable: the whole token is a value — a number with separators and a unit
// (12ms, 3.5, 10.0.0.1:8080, 42%), 0x-hex, a hex id of 8+ characters, or a UUID.
func variable(t string) bool {
	s := strings.TrimLeft(t, "+-")
	if s == "" {
		return false
	}
	if strings.HasPrefix(s, "0x") && len(s) > 2 && allHex(s[2:]) {
		return true
	}
	if len(s) >= 8 && allHex(s) {
		return true
	}
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && allHex(strings.ReplaceAll(s, "-", "")) {
		return true
	}
	// digits ([.,:] digits)* then letters, µ or %
	i := 0
	for {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return false
		}
		i = j
		if i < len(s) && (s[i] == '.' || s[i] == ',' || s[i] == ':') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			i++
			continue
		}
		break
	}
	rest := s[i:]
	rest = strings.TrimSuffix(rest, "%")
	rest = strings.ReplaceAll(rest, "µ", "")
	for k := 0; k < len(rest); k++ {
		if c := rest[k]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

// isoPrefix is the length of a leading RFC 3339 / ISO 8601 timestamp
// ("2026-11-23T10:00:00.123Z ", "[2026-11-23 10:00:00,123] "), or 0.
func isoPrefix(s string) int {
	i := 0
	if i < len(s) && s[i] == '[' {
		i++
	}
	digits := func(n int) bool {
		if i+n > len(s) {
			return false
		}
		for k := 0; k < n; k++ {
			if s[i+k] < '0' || s[i+k] > '9' {
				return false
			}
		}
		i += n
		return true
	}
	lit := func(cs string) bool {
		if i < len(s) && strings.IndexByte(cs, s[i]) >= 0 {
			i++
			return true
		}
		return false
	}
	if !(digits(4) && lit("-") && digits(2) && lit("-") && digits(2) && lit("T ") && digits(2) && lit(":") && digits(2) && lit(":") && digits(2)) {
		return 0
	}
	if lit(".,") {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if !lit("Z") {
		save := i
		if !(lit("+-") && digits(2) && (lit(":") || true) && digits(2)) {
			i = save
		}
	}
	lit("]")
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
