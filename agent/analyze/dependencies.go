package analyze

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"lab.dev/lab/agent/collect"
)

// Crash signatures and dependencies in the logs, and the NetworkPolicies that block them.

var crashSignature = regexp.MustCompile(`^(panic: |fatal error: |Traceback \(most recent call last\)|Exception in thread |Unhandled exception|FATAL|.*\bSegmentation fault\b|.*\bOutOfMemoryError\b|.*\bNullPointerException\b)`)

func detectLogCrash(b *collect.Bundle) []Finding {
	ms := quietless(logLines(b, crashSignature, 3))
	if len(ms) == 0 || !present(b, ms[0], crashSignature) {
		return nil
	}
	return []Finding{{Category: "ApplicationCrash", Severity: Warning, Evidence: ids(ms),
		Cause:   fmt.Sprintf("the application crashed with %q", clip(ms[0].Line, 160)),
		Runbook: []string{"Read the full stack trace in the log around the cited lines.", "Fix the code path or the input that triggers it; roll back to the last good image if it is a new release."}}}
}

var (
	depRefused = regexp.MustCompile(`(?i)(connection refused|ECONNREFUSED|connect: connection refused)`)
	depTimeout = regexp.MustCompile(`(?i)(i/o timeout|connection timed out|ETIMEDOUT|context deadline exceeded|no route to host)`)
	depDNS     = regexp.MustCompile(`(?i)(no such host|could not resolve|Name or service not known|Temporary failure in name resolution|NXDOMAIN|getaddrinfo ENOTFOUND)`)
	hostPort   = regexp.MustCompile(`(?:dial tcp |connect to |host[= ]|tcp://|//)([a-zA-Z0-9._-]+(?::\d+)?)`)
	loopback   = regexp.MustCompile(`^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$`)
)

// quietless drops the lines a structured logger marked info or debug.
func quietless(ms []LogMatch) []LogMatch {
	out := ms[:0:0]
	for _, m := range ms {
		if !quietLevel(m.Line) {
			out = append(out, m)
		}
	}
	return out
}

func detectDependency(b *collect.Bundle) []Finding {
	var out []Finding
	for _, d := range []struct {
		re       *regexp.Regexp
		category string
	}{{depDNS, "DNSFailure"}, {depRefused, "DependencyUnreachable"}, {depTimeout, "DependencyUnreachable"}} {
		ms := quietless(logLines(b, d.re, 3))
		if len(ms) == 0 || !present(b, ms[0], d.re) {
			continue // a settled pod that retried and recovered has no finding
		}
		target := "a dependency"
		if m := hostPort.FindStringSubmatch(ms[0].Line); m != nil {
			target = m[1]
		}
		f := Finding{Category: d.category, Severity: Warning, Evidence: ids(ms)}
		quote := clip(ms[0].Line, 160)
		blocked := ""
		if d.re == depTimeout {
			blocked = blockedBy(b, target)
		}
		switch {
		case d.category == "DNSFailure":
			f.Cause = fmt.Sprintf("the application cannot resolve %s (DNS): %q", target, quote)
			f.Runbook = []string{"Check the Service name and namespace in the app's config (svc.namespace.svc.cluster.local).", "Check CoreDNS is running and the Service exists."}
		case loopback.MatchString(target):
			f.Severity = Critical // the address, not the dependency, is wrong
			f.Cause = fmt.Sprintf("the application dials %s — its own pod, where no container listens there: the dependency's address is not configured (a default of localhost) rather than the dependency being down: %q", target, quote)
			f.Runbook = []string{"Set the dependency's host in the app's config (env or ConfigMap) to its Service name, in git.", "Only a sidecar in the same pod is reachable on localhost."}
		case blocked != "":
			f.Category, f.Severity = "NetworkPolicyBlocked", Critical
			f.Cause = fmt.Sprintf("%s; so the application's connections to %s time out: %q", blocked, target, quote)
			f.Runbook = []string{"Add an egress rule for the dependency's port (and namespace) to the policy, in git — or remove the policy if it is not meant to apply here.",
				"Check the dependency's side too: an ingress policy there must admit this pod."}
			for _, np := range b.NetworkPolicies {
				f.Evidence = append(f.Evidence, "networkpolicy:"+np.Name)
			}
		case d.re == depTimeout:
			f.Cause = fmt.Sprintf("the application's connections to %s time out (i/o timeout): the dependency does not answer — it is overloaded, or a NetworkPolicy or the network drops the packets: %q", target, quote)
			f.Runbook = []string{"Check the dependency's pods and Service endpoints (kubectl get endpointslices), and NetworkPolicies that select either side.", "Test from a debug pod in the same namespace: nc -vz HOST PORT."}
		default:
			f.Cause = fmt.Sprintf("the application's connections to %s are refused: nothing listens there (the dependency is down or the port is wrong): %q", target, quote)
			f.Runbook = []string{"Check the dependency's pods and Service endpoints (kubectl get endpointslices).", "Check the port in the app's config matches the Service port."}
		}
		if readinessErrors(b) {
			f.Severity = Critical // the dependency is why the readiness probe fails
			f.Cause += "; this is why the readiness probe fails — the probe is right, the dependency is not"
		}
		out = append(out, f)
		if d.category == "DependencyUnreachable" {
			break // one finding for an unreachable dependency
		}
	}
	return out
}

// dependencyExplains: a log line the dependency detector turns into a
// critical finding of its own — a dial to the pod's own loopback, or a
// timeout to a port the pod's NetworkPolicies do not allow.
func dependencyExplains(b *collect.Bundle, line string) bool {
	m := hostPort.FindStringSubmatch(line)
	return m != nil && (loopback.MatchString(m[1]) || (depTimeout.MatchString(line) && blockedBy(b, m[1]) != ""))
}

// blockedBy names the NetworkPolicies that select the pod for egress and
// have no rule that could let it reach target's port; "" when none blocks
// (or when a rule's peers need labels lab cannot see to decide).
func blockedBy(b *collect.Bundle, target string) string {
	_, portText, ok := strings.Cut(target, ":")
	port, err := strconv.Atoi(portText)
	if !ok || err != nil {
		return ""
	}
	var names, allowed []string
	for _, np := range b.NetworkPolicies {
		egress := slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || (len(np.Spec.PolicyTypes) == 0 && len(np.Spec.Egress) > 0)
		if !egress {
			continue
		}
		names = append(names, np.Name)
		for _, r := range np.Spec.Egress {
			portOK := len(r.Ports) == 0
			for _, p := range r.Ports {
				if p.Port == nil || (p.Port.Type == intstr.Int && int(p.Port.IntVal) == port) || (p.EndPort != nil && p.Port.Type == intstr.Int && int(p.Port.IntVal) <= port && port <= int(*p.EndPort)) {
					portOK = true
				}
				if p.Port != nil {
					proto := "TCP"
					if p.Protocol != nil {
						proto = string(*p.Protocol)
					}
					allowed = append(allowed, fmt.Sprintf("%s/%s", p.Port.String(), proto))
				}
			}
			if portOK {
				return "" // some rule may allow it: the peers decide, which lab does not evaluate
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	only := "no egress at all"
	if len(allowed) > 0 {
		slices.Sort(allowed)
		only = "egress to " + strings.Join(slices.Compact(allowed), ", ") + " only"
	}
	return fmt.Sprintf("the NetworkPolicy %s selects this pod and allows %s — nothing to port %d", strings.Join(names, ", "), only, port)
}

// readinessErrors: the readiness probe fails with an error status (the app
// answers, and says it is not ready).
func readinessErrors(b *collect.Bundle) bool {
	_, evs := events(b, regexp.MustCompile(`(?i)readiness probe failed: HTTP probe failed with statuscode: 5\d\d`), "Unhealthy")
	return len(evs) > 0
}
