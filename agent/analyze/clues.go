package analyze

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
)

// The decisive line of a failed container's log is rarely the last one and
// often carries no "error" word: an OS or library message says what broke.
// Clues are tried tier by tier; the first tier with a match wins, and within
// a tier the first matching line (the first error is usually the cause, what
// follows its consequence).
var clueTiers = []*regexp.Regexp{
	// specific causes: a missing file or setting, a refused permission, a
	// wrong binary, a taken port, an untrusted certificate, a full disk
	regexp.MustCompile(`(?i)no such file or directory|permission denied|operation not permitted|exec format error|address already in use|` +
		`x509: |certificate signed by unknown authority|certificate has expired|flag provided but not defined|unknown (flag|option|shorthand flag)|` +
		`\b(is not set|not set|is missing|is required|required key|must be set|not defined|undefined variable)\b|` +
		`no space left on device|read-only file system|too many open files|cannot allocate memory|` +
		`can't find|NXDOMAIN|no such host|could not resolve|does not exist|not found`),
	// an unreachable dependency
	regexp.MustCompile(`(?i)connection refused|ECONNREFUSED|i/o timeout|connection timed out|context deadline exceeded|connection reset|no route to host|network is unreachable`),
	// generic failure words and crash signatures
	regexp.MustCompile(`(?i)\b(error|fatal|panic|exception|failed|failure|refused|denied|missing|invalid|cannot|could not|unable to)\b|Traceback \(most recent call last\)`),
}

// Clue is the decisive line of a container's log.
type Clue struct {
	LogMatch
	Excerpt string // the line, clipped around what matched
	Tier    int    // -1: a runtime's crash report (Crash), else the clue tier
	Crash   *Crash
}

// decisive finds the decisive line in the failed instance of container's log:
// the previous instance when it restarted, else the current one. It skips
// lines a structured logger marked info or debug (their text is data).
func decisive(b *collect.Bundle, container string) (Clue, bool) {
	for _, l := range b.Logs {
		if l.Container != container {
			continue
		}
		srcs := []struct{ which, text string }{{"previous", l.Previous}, {"current", l.Current}}
		if strings.TrimSpace(l.Previous) == "" {
			srcs = srcs[1:]
		}
		// A runtime's own crash report, read by its grammar, outranks any
		// keyword — except a specific cause logged before it (a missing
		// setting, then the nil pointer it leads to): that line stays the
		// decisive one and the crash follows it.
		for _, src := range srcs {
			lines := strings.Split(src.text, "\n")
			c, ok := ParseCrash(lines)
			if !ok {
				continue
			}
			crash := Clue{LogMatch: LogMatch{ID: fmt.Sprintf("log:%s:%s#L%d", container, src.which, c.Line+1), Line: strings.TrimSpace(lines[c.Line])},
				Excerpt: excerpt(c.Text(), 0, 300), Tier: -1, Crash: &c}
			for i, line := range lines[:c.Line] {
				if loc := clueTiers[0].FindStringIndex(line); loc != nil && !quietLevel(line) {
					t := strings.TrimSpace(line)
					crash.LogMatch = LogMatch{ID: fmt.Sprintf("log:%s:%s#L%d", container, src.which, i+1), Line: t}
					crash.Excerpt = excerpt(t, loc[0]-(len(line)-len(strings.TrimLeft(line, " \t"))), 200) + " — then " + excerpt(c.Text(), 0, 160)
					break
				}
			}
			return crash, true
		}
		for tier, re := range clueTiers {
			for _, src := range srcs {
				for i, line := range strings.Split(src.text, "\n") {
					loc := re.FindStringIndex(line)
					if loc == nil || quietLevel(line) {
						continue
					}
					return Clue{LogMatch: LogMatch{ID: fmt.Sprintf("log:%s:%s#L%d", container, src.which, i+1), Line: strings.TrimSpace(line)},
						Excerpt: excerpt(strings.TrimSpace(line), loc[0]-(len(line)-len(strings.TrimLeft(line, " \t"))), 200), Tier: tier}, true
				}
			}
		}
	}
	return Clue{}, false
}

// lastLine is the last non-empty line of the failed instance's log.
func lastLine(b *collect.Bundle, container string) (LogMatch, bool) {
	for _, l := range b.Logs {
		if l.Container != container {
			continue
		}
		which, text := "previous", l.Previous
		if strings.TrimSpace(text) == "" {
			which, text = "current", l.Current
		}
		lines := strings.Split(text, "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if s := strings.TrimSpace(lines[i]); s != "" {
				return LogMatch{ID: fmt.Sprintf("log:%s:%s#L%d", container, which, i+1), Line: s}, true
			}
		}
	}
	return LogMatch{}, false
}

// hasLog reports whether a container wrote anything.
func hasLog(b *collect.Bundle, container string) bool {
	for _, l := range b.Logs {
		if l.Container == container {
			return strings.TrimSpace(l.Previous+l.Current) != ""
		}
	}
	return false
}

// excerpt clips line to about n bytes around position at, so a long JSON
// line still shows the part that matched.
func excerpt(line string, at, n int) string {
	if len(line) <= n {
		return line
	}
	start := max(0, at-n/3)
	end := min(len(line), start+n)
	start = max(0, end-n)
	out := line[start:end]
	if start > 0 {
		out = "…" + out
	}
	if end < len(line) {
		out += "…"
	}
	return out
}

// quietLevel: a structured log line (JSON or logfmt) whose level says info
// or debug — failure words in it are the application's data, not its state.
func quietLevel(line string) bool {
	s := strings.TrimSpace(line)
	lvl := ""
	if strings.HasPrefix(s, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return false
		}
		for _, k := range []string{"level", "lvl", "severity", "log.level"} {
			if v, ok := m[k].(string); ok {
				lvl = v
				break
			}
		}
	} else if i := strings.Index(s, "level="); i >= 0 {
		lvl = strings.Fields(s[i+len("level="):] + " ")[0]
	}
	switch strings.ToLower(strings.Trim(lvl, `"`)) {
	case "info", "debug", "trace", "notice":
		return true
	}
	return false
}

// history is how long ago a termination must have ended, with the container
// Ready since, to be the past rather than the present.
const history = time.Hour

// settled: the pod completed, or every container is running and Ready and
// none terminated within the last hour. A settled pod gets no finding from
// its logs alone unless its last lines are still errors.
func settled(b *collect.Bundle) bool { return Settled(b.Pod, b.Collected) }

// Settled: the pod completed, or every container is running and Ready and
// none terminated within the last hour (at now).
func Settled(p *corev1.Pod, now time.Time) bool {
	if p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			return false
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if !s.Ready || s.State.Running == nil {
			return false
		}
		if t := s.LastTerminationState.Terminated; t != nil && now.Sub(t.FinishedAt.Time) < history {
			return false
		}
	}
	return true
}

// present: a log line matching re is a present failure — the pod has not
// completed, and if it is settled the error is still among its last lines.
func present(b *collect.Bundle, m LogMatch, re *regexp.Regexp) bool {
	switch {
	case b.Pod.Status.Phase == corev1.PodSucceeded:
		return false // it completed: what it logged on the way is history
	case settled(b):
		return stillFailing(b, m, re)
	}
	return true
}

// stillFailing: among the last three non-empty lines of the log that holds
// match m there is one matching re — the error is the present, not a
// failure the application retried and recovered from.
func stillFailing(b *collect.Bundle, m LogMatch, re *regexp.Regexp) bool {
	for _, l := range b.Logs {
		for _, src := range []struct{ which, text string }{{"previous", l.Previous}, {"current", l.Current}} {
			if !strings.HasPrefix(m.ID, fmt.Sprintf("log:%s:%s#", l.Container, src.which)) {
				continue
			}
			lines := strings.Split(src.text, "\n")
			seen := 0
			for i := len(lines) - 1; i >= 0 && seen < 3; i-- {
				if strings.TrimSpace(lines[i]) == "" {
					continue
				}
				seen++
				if re.MatchString(lines[i]) && !quietLevel(lines[i]) {
					return true
				}
			}
		}
	}
	return false
}
