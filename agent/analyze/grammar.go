package analyze

import (
	"encoding/json"
	"path"
	"regexp"
	"strings"
)

// Crash is a runtime's own report of why a process died, parsed from its
// log by that runtime's grammar — not keyword-matched: the exception is the
// line the grammar says it is (CPython's last traceback line, the JVM's
// deepest "Caused by:", Go's "panic:" with the first goroutine's frame…).
type Crash struct {
	Runtime string // python, jvm, go, node, rust, dotnet, ruby, php, loader, shell, structured
	Type    string // the exception type, when the runtime names one
	Message string
	Frame   string // where it was raised (file:line, function)
	Cause   string // a chained cause (CPython's "During handling…")
	Line    int    // 0-based index of the decisive line
}

// Text is the crash as one line a person reads first.
func (c Crash) Text() string {
	s := c.Message
	if c.Type != "" {
		s = c.Type
		if c.Message != "" {
			s += ": " + c.Message
		}
	}
	if c.Frame != "" {
		s += " (at " + c.Frame + ")"
	}
	if c.Cause != "" {
		s += ", while handling " + c.Cause
	}
	return s
}

// grammars are tried in order on the failed instance's log; the first that
// recognises a crash wins.
var grammars = []func(lines []string) (Crash, bool){
	pythonCrash, jvmCrash, goCrash, rustCrash, dotnetCrash, nodeCrash, rubyCrash, phpCrash, loaderCrash, shellCrash, structuredCrash,
}

// ParseCrash finds the runtime's crash report in a log's lines, if it has
// one; Crash.Line indexes lines.
func ParseCrash(lines []string) (Crash, bool) {
	for _, g := range grammars {
		if c, ok := g(lines); ok {
			c.Message = strings.TrimSpace(c.Message)
			return c, true
		}
	}
	return Crash{}, false
}

var (
	pyFrame     = regexp.MustCompile(`^\s+File "([^"]+)", line (\d+), in (.+)$`)
	pyException = regexp.MustCompile(`^([A-Za-z_][\w.]*)(?::\s?(.*))?$`)
)

// pythonCrash: CPython prints "Traceback (most recent call last):", the
// frames indented, then the exception as the first unindented line. Chained
// tracebacks are joined by "During handling of the above exception…" or "The
// above exception was the direct cause…": the last one is what killed it,
// the one before is its cause.
func pythonCrash(lines []string) (Crash, bool) {
	var blocks []Crash
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "Traceback (most recent call last):" {
			continue
		}
		frame := ""
		j := i + 1
		for ; j < len(lines) && (strings.HasPrefix(lines[j], " ") || strings.HasPrefix(lines[j], "\t")); j++ {
			if m := pyFrame.FindStringSubmatch(lines[j]); m != nil {
				frame = m[1] + ":" + m[2]
			}
		}
		if j < len(lines) {
			if m := pyException.FindStringSubmatch(strings.TrimSpace(lines[j])); m != nil {
				blocks = append(blocks, Crash{Runtime: "python", Type: m[1], Message: m[2], Frame: frame, Line: j})
				i = j
			}
		}
	}
	if len(blocks) == 0 {
		return Crash{}, false
	}
	c := blocks[len(blocks)-1]
	if len(blocks) > 1 {
		p := blocks[len(blocks)-2]
		c.Cause = strings.TrimSpace(p.Type + " " + p.Message)
	}
	return c, true
}

var (
	jvmException = regexp.MustCompile(`^(?:Exception in thread "[^"]*" )?((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable))(?::\s?(.*))?$`)
	jvmCausedBy  = regexp.MustCompile(`^Caused by: ((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*)(?::\s?(.*))?$`)
	jvmAt        = regexp.MustCompile(`^\s+at (\S+)\((\S+?)\)`)
)

// jvmCrash: the exception line, then "\tat" frames; the deepest "Caused by:"
// is the root cause, its first frame where it was raised.
func jvmCrash(lines []string) (Crash, bool) {
	var c Crash
	found := false
	for i, l := range lines {
		m := jvmCausedBy.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil && !found {
			if m2 := jvmException.FindStringSubmatch(strings.TrimSpace(l)); m2 != nil && i+1 < len(lines) && jvmAt.MatchString(lines[i+1]) {
				m = m2
			}
		}
		if m == nil {
			continue
		}
		found = true
		c = Crash{Runtime: "jvm", Type: m[1], Message: m[2], Line: i}
		for _, f := range lines[i+1:] {
			if a := jvmAt.FindStringSubmatch(f); a != nil {
				c.Frame = a[1] + "(" + a[2] + ")"
				break
			}
		}
	}
	return c, found
}

var goFile = regexp.MustCompile(`^\s+(\S+\.go):(\d+)`)

// goCrash: "panic: …" or "fatal error: …", then "goroutine N [running]:",
// a function line and its file:line — the frame where it was raised.
func goCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		var c Crash
		switch {
		case strings.HasPrefix(l, "panic: ") && !strings.HasSuffix(l, "[recovered]"):
			c = Crash{Runtime: "go", Type: "panic", Message: strings.TrimPrefix(l, "panic: "), Line: i}
		case strings.HasPrefix(l, "fatal error: "):
			c = Crash{Runtime: "go", Type: "fatal error", Message: strings.TrimPrefix(l, "fatal error: "), Line: i}
		default:
			continue
		}
		for j := i + 1; j < len(lines) && j < i+40; j++ {
			if strings.HasPrefix(lines[j], "goroutine ") && j+2 < len(lines) {
				fn := strings.TrimSpace(lines[j+1])
				if k := strings.LastIndex(fn, "("); k > 0 {
					fn = fn[:k]
				}
				if m := goFile.FindStringSubmatch(lines[j+2]); m != nil {
					c.Frame = path.Base(fn) + " " + path.Base(m[1]) + ":" + m[2]
				}
				break
			}
		}
		return c, true
	}
	return Crash{}, false
}

var (
	rustPanic    = regexp.MustCompile(`^thread '([^']*)' panicked at (\S+?):?$`)
	rustPanicOld = regexp.MustCompile(`^thread '([^']*)' panicked at '(.*)', (\S+)$`)
)

// rustCrash: since Rust 1.73 "thread 'main' panicked at src/x.rs:1:2:" with
// the message on the next line; before, the message quoted on the same line.
func rustCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		if m := rustPanic.FindStringSubmatch(l); m != nil {
			c := Crash{Runtime: "rust", Type: "panic", Frame: m[2], Line: i}
			if i+1 < len(lines) {
				c.Message = lines[i+1]
			}
			return c, true
		}
		if m := rustPanicOld.FindStringSubmatch(l); m != nil {
			return Crash{Runtime: "rust", Type: "panic", Message: m[2], Frame: m[3], Line: i}, true
		}
	}
	return Crash{}, false
}

var (
	dotnetUnhandled = regexp.MustCompile(`^Unhandled exception\. ([\w.]+): (.*)$`)
	dotnetAt        = regexp.MustCompile(`^\s+at (.+?)(?: in (\S+))?$`)
)

// dotnetCrash: "Unhandled exception. System.X: message", then "   at" frames.
func dotnetCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		m := dotnetUnhandled.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		c := Crash{Runtime: "dotnet", Type: m[1], Message: m[2], Line: i}
		for _, f := range lines[i+1:] {
			if a := dotnetAt.FindStringSubmatch(f); a != nil {
				c.Frame = a[1]
				if a[2] != "" {
					c.Frame = a[2]
				}
				if !strings.HasPrefix(a[1], "Microsoft.") && !strings.HasPrefix(a[1], "System.") {
					break
				}
			}
		}
		return c, true
	}
	return Crash{}, false
}

var (
	nodeError     = regexp.MustCompile(`^(?:Uncaught )?([A-Z]\w*(?:Error|Exception)|Error)(?: \[(\w+)\])?(?::\s(.*))?$`)
	nodeAt        = regexp.MustCompile(`^\s+at .*?\(?(\S+:\d+:\d+)\)?$`)
	nodeRejection = regexp.MustCompile(`The promise rejected with the reason "(.*)"\.\]`)
)

// nodeCrash: an Error line followed by "    at" frames (node prints the
// source line and a caret before it), or an unhandled rejection whose
// reason is not an Error.
func nodeCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		if m := nodeRejection.FindStringSubmatch(l); m != nil {
			return Crash{Runtime: "node", Type: "unhandled promise rejection", Message: m[1], Line: i}, true
		}
		m := nodeError.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil || i+1 >= len(lines) {
			continue
		}
		if a := nodeAt.FindStringSubmatch(lines[i+1]); a != nil {
			return Crash{Runtime: "node", Type: m[1], Message: m[3], Frame: a[1], Line: i}, true
		}
	}
	return Crash{}, false
}

var rubyError = regexp.MustCompile("^(\\S+:\\d+):in [`']([^']*)': (.*) \\(([A-Z][\\w:]*)\\)$")

// rubyCrash: "file:line:in `method': message (ExceptionClass)".
func rubyCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		if m := rubyError.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			return Crash{Runtime: "ruby", Type: m[4], Message: m[3], Frame: m[1], Line: i}, true
		}
	}
	return Crash{}, false
}

var phpFatal = regexp.MustCompile(`PHP Fatal error:\s+Uncaught ([\w\\]+): (.*) in (\S+):(\d+)$`)

// phpCrash: "PHP Fatal error:  Uncaught X: message in file:line".
func phpCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		if m := phpFatal.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			return Crash{Runtime: "php", Type: m[1], Message: m[2], Frame: m[3] + ":" + m[4], Line: i}, true
		}
	}
	return Crash{}, false
}

var loaderError = regexp.MustCompile(`error while loading shared libraries: (\S+): (.*)$|Error relocating (\S+): (.*)$`)

// loaderCrash: glibc's ld.so ("error while loading shared libraries") and
// musl's ("Error relocating").
func loaderCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		if m := loaderError.FindStringSubmatch(l); m != nil {
			lib, msg := m[1], m[2]
			if lib == "" {
				lib, msg = m[3], m[4]
			}
			return Crash{Runtime: "loader", Type: "shared library " + lib, Message: msg, Line: i}, true
		}
	}
	return Crash{}, false
}

var shellError = regexp.MustCompile(`(?:^|: )(?:exec: )?([\w./-]+): (not found|command not found|Permission denied|exec format error|No such file or directory)$`)

// shellCrash: sh/bash/runc's "NAME: not found", "exec NAME: exec format error".
func shellCrash(lines []string) (Crash, bool) {
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if m := shellError.FindStringSubmatch(l); m != nil && (strings.HasPrefix(l, "exec ") || strings.HasPrefix(l, "/") || strings.Contains(l, "sh: ")) {
			return Crash{Runtime: "shell", Message: m[1] + ": " + m[2], Line: i}, true
		}
	}
	return Crash{}, false
}

// structuredCrash: the last fatal (or panic, else error) record of a JSON or
// logfmt log; its error field is the cause, its msg the context.
func structuredCrash(lines []string) (Crash, bool) {
	best, bestRank := Crash{}, 0
	for i, l := range lines {
		lvl, msg, errText, ok := record(strings.TrimSpace(l))
		if !ok {
			continue
		}
		rank := map[string]int{"error": 1, "err": 1, "critical": 2, "crit": 2, "fatal": 3, "panic": 3, "dpanic": 3}[strings.ToLower(lvl)]
		if rank == 0 || rank < bestRank {
			continue
		}
		best, bestRank = Crash{Runtime: "structured", Message: errText, Line: i}, rank
		if errText == "" {
			best.Message = msg
		} else if msg != "" {
			best.Message = errText + " (" + msg + ")"
		}
	}
	return best, bestRank > 0
}

var logfmtPair = regexp.MustCompile(`(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S+)`)

// record reads a structured log line's level, message and error.
func record(s string) (lvl, msg, errText string, ok bool) {
	pick := func(get func(string) string, keys ...string) string {
		for _, k := range keys {
			if v := get(k); v != "" {
				return v
			}
		}
		return ""
	}
	var get func(string) string
	switch {
	case strings.HasPrefix(s, "{"):
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return "", "", "", false
		}
		get = func(k string) string { v, _ := m[k].(string); return v }
	case strings.Contains(s, "level=") || strings.Contains(s, "lvl="):
		kv := map[string]string{}
		for _, p := range logfmtPair.FindAllStringSubmatch(s, -1) {
			v := p[2]
			if strings.HasPrefix(v, `"`) {
				if u, err := unquote(v); err == nil {
					v = u
				}
			}
			kv[p[1]] = v
		}
		get = func(k string) string { return kv[k] }
	default:
		return "", "", "", false
	}
	lvl = pick(get, "level", "lvl", "severity", "log.level")
	return lvl, pick(get, "msg", "message"), pick(get, "error", "err", "exception", "error.message"), lvl != ""
}

func unquote(s string) (string, error) {
	var out string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}
