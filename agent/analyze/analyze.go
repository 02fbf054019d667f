// Package analyze holds the detectors, as a table: each one reads the
// evidence bundle and returns findings with a severity, a plain-language
// cause and the ids of the evidence that proves it. Rules detect; the model
// only explains.
package analyze

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/redact"
)

// Severity orders findings.
type Severity string

// Severities, most urgent first.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

var rank = map[Severity]int{Critical: 0, Warning: 1, Info: 2}

// Finding is one detected problem.
type Finding struct {
	Detector    string   `json:"detector"`
	Category    string   `json:"category"`
	Severity    Severity `json:"severity"`
	Container   string   `json:"container,omitempty"`
	Cause       string   `json:"cause"`
	Evidence    []string `json:"evidence"`
	Remediation []string `json:"remediation,omitempty"` // whitelisted actions that may help
	Runbook     []string `json:"runbook,omitempty"`     // steps for a human
	Fix         *Fix     `json:"fix,omitempty"`         // the field change that fixes it, where one does
}

// Fix is a change to one field of a container in the workload's pod
// template: what the GitOps-aware remediation proposes as a diff in git.
type Fix struct {
	Container string   `json:"container"`
	Path      []string `json:"path"`  // under the container, e.g. resources, limits, memory
	Value     any      `json:"value"` // string or int
	Why       string   `json:"why"`
}

// Detector is one rule.
type Detector struct {
	Name     string
	Category string
	Detect   func(b *collect.Bundle) []Finding
}

// Analyze runs every detector and returns the findings, most severe first
// (stable within a severity, in detector order).
func Analyze(b *collect.Bundle) []Finding {
	out := run(b, Detectors())
	if len(out) == 0 {
		// No rule explains it: Kubernetes' own reason, from the vocabulary.
		out = run(b, []Detector{{Name: "vocabulary", Detect: fromVocabulary}})
	}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].Severity] < rank[out[j].Severity] })
	return out
}

func run(b *collect.Bundle, ds []Detector) []Finding {
	var out []Finding
	for _, d := range ds {
		for _, f := range d.Detect(b) {
			f.Detector, f.Category = d.Name, pick(f.Category, d.Category)
			// Causes quote log lines and events: secrets in them are redacted
			// here, before any report, prompt or incident memory sees them.
			f.Cause, _ = redact.String(f.Cause)
			out = append(out, f)
		}
	}
	return out
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// --- helpers shared by detectors ---

func statuses(b *collect.Bundle, init bool) []corev1.ContainerStatus {
	if init {
		return b.Pod.Status.InitContainerStatuses
	}
	return b.Pod.Status.ContainerStatuses
}

func container(b *collect.Bundle, name string) *corev1.Container {
	for _, c := range append(append([]corev1.Container{}, b.Pod.Spec.InitContainers...), b.Pod.Spec.Containers...) {
		if c.Name == name {
			return &c
		}
	}
	return nil
}

// events returns the ids and events whose reason is in reasons and whose
// message matches re (nil = any).
func events(b *collect.Bundle, re *regexp.Regexp, reasons ...string) ([]string, []corev1.Event) {
	var ids []string
	var evs []corev1.Event
	for i, e := range b.Events {
		ok := len(reasons) == 0
		for _, r := range reasons {
			ok = ok || e.Reason == r
		}
		if ok && (re == nil || re.MatchString(e.Message)) {
			ids = append(ids, fmt.Sprintf("event:%d", i))
			evs = append(evs, e)
		}
	}
	return ids, evs
}

// LogMatch is a log line a detector cites.
type LogMatch struct {
	ID   string // log:app:previous#L12
	Line string
}

// logLines finds lines matching re in every container's logs, previous first
// (the previous instance is the one that failed).
func logLines(b *collect.Bundle, re *regexp.Regexp, max int) []LogMatch {
	var out []LogMatch
	for _, l := range b.Logs {
		for _, src := range []struct{ which, text string }{{"previous", l.Previous}, {"current", l.Current}} {
			for i, line := range strings.Split(src.text, "\n") {
				if re.MatchString(line) {
					out = append(out, LogMatch{ID: fmt.Sprintf("log:%s:%s#L%d", l.Container, src.which, i+1), Line: strings.TrimSpace(line)})
					if len(out) >= max {
						return out
					}
				}
			}
		}
	}
	return out
}

func ids(ms []LogMatch) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func controlled(b *collect.Bundle) (kind, name string) {
	for i := len(b.Owners) - 1; i >= 0; i-- {
		switch b.Owners[i].Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
			return b.Owners[i].Kind, b.Owners[i].Name
		}
	}
	return "", ""
}
