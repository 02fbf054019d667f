package analyze

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"lab.dev/lab/agent/collect"
)

// Probes that fail, with the port they dial against the ports the container uses.

var probeFailed = regexp.MustCompile(`(?i)(liveness|readiness|startup) probe failed`)

func detectProbes(b *collect.Bundle) []Finding {
	evIDs, evs := events(b, probeFailed, "Unhealthy")
	killIDs, _ := events(b, regexp.MustCompile(`(?i)failed (liveness|startup) probe`), "Killing")
	if len(evIDs) == 0 {
		return nil
	}
	kinds := map[string]bool{}
	for _, e := range evs {
		kinds[strings.ToLower(probeFailed.FindStringSubmatch(e.Message)[1])] = true
	}
	var out []Finding
	for _, kind := range []string{"liveness", "startup", "readiness"} {
		if !kinds[kind] {
			continue
		}
		f := Finding{Category: "ProbeFailure", Severity: Warning, Evidence: evIDs}
		var cname string
		for _, c := range b.Pod.Spec.Containers {
			p := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}[kind]
			if p != nil {
				cname = c.Name
				f.Container = c.Name
				f.Evidence = append(f.Evidence, "container:"+c.Name+":spec")
				f.Cause = fmt.Sprintf("the %s probe of %s (%s) keeps failing", kind, c.Name, collect.ProbeString(p))
				break
			}
		}
		if f.Cause == "" {
			f.Cause = "the " + kind + " probe keeps failing"
		}
		msg := ""
		for _, e := range evs {
			if strings.Contains(strings.ToLower(e.Message), kind) {
				msg = e.Message
				break
			}
		}
		switch {
		case strings.Contains(msg, "connection refused"):
			f.Cause += ": nothing listens on the probed port"
			if pair, fix := portPair(b, cname, kind); pair != "" {
				f.Cause += " — " + pair
				f.Fix = fix
			} else {
				f.Cause += " — the probe may target the wrong port, or the app is not up yet"
			}
		case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded"):
			f.Cause += ": the endpoint answers too slowly (timeout)"
		case regexp.MustCompile(`statuscode: [45]\d\d`).MatchString(msg):
			f.Cause += ": the endpoint answers with an error status"
		}
		if i := strings.Index(strings.ToLower(msg), "probe failed: "); i >= 0 {
			f.Cause += fmt.Sprintf("; the kubelet reports %q", clip(strings.TrimSpace(msg[i+len("probe failed: "):]), 160))
		}
		if kind == "liveness" || kind == "startup" {
			f.Severity = Critical
			f.Evidence = append(f.Evidence, killIDs...)
			f.Cause += "; the kubelet kills and restarts the container each time"
			if healthyStart(b, cname) {
				f.Cause += " — the app was still starting (a slow start killed before it is ready: raise initialDelaySeconds or add a startupProbe)"
			}
			f.Runbook = []string{"Compare how long the app takes to start (its log) with the probe's initialDelaySeconds × period × failureThreshold.", "Add a startupProbe for slow starters instead of a long liveness delay."}
		} else {
			f.Cause += "; the pod receives no traffic from its Services while not Ready"
			f.Runbook = []string{"Check the probe's port and path against what the container listens on (its log, its Service).", "Fix the probe in git; readiness failures do not restart the container."}
		}
		out = append(out, f)
	}
	return out
}

var listenPort = regexp.MustCompile(`(?i)\blisten\w*\b[^\n]*?:(\d{2,5})\b`)

// portPair names the port a probe dials and the ports the container declares
// and its log says it listens on, when they differ, and the fix.
func portPair(b *collect.Bundle, name, kind string) (string, *Fix) {
	c := container(b, name)
	if c == nil {
		return "", nil
	}
	p := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}[kind]
	if p == nil {
		return "", nil
	}
	var port intstr.IntOrString
	var handler string
	switch {
	case p.HTTPGet != nil:
		port, handler = p.HTTPGet.Port, "httpGet"
	case p.TCPSocket != nil:
		port, handler = p.TCPSocket.Port, "tcpSocket"
	case p.GRPC != nil:
		port, handler = intstr.FromInt32(p.GRPC.Port), "grpc"
	default:
		return "", nil
	}
	probed := port.String()
	declared := map[string]bool{}
	var decl []string
	for _, cp := range c.Ports {
		if port.Type == intstr.String && cp.Name == port.StrVal {
			probed = fmt.Sprintf("%d (%s)", cp.ContainerPort, cp.Name)
		}
		decl = append(decl, fmt.Sprint(cp.ContainerPort))
		declared[fmt.Sprint(cp.ContainerPort)] = true
	}
	var logged []string
	for _, m := range logLines(b, listenPort, 5) {
		if !strings.HasPrefix(m.ID, "log:"+name+":") {
			continue
		}
		lp := listenPort.FindStringSubmatch(m.Line)[1]
		if !slices.Contains(logged, lp) {
			logged = append(logged, lp)
		}
	}
	num := strings.Fields(probed)[0]
	if declared[num] || slices.Contains(logged, num) || (len(decl) == 0 && len(logged) == 0) {
		return "", nil
	}
	out := fmt.Sprintf("the %s probe dials port %s, but", kind, probed)
	if len(decl) > 0 {
		out += " the container declares port " + strings.Join(decl, ", ")
		if len(logged) > 0 {
			out += " and"
		}
	}
	if len(logged) > 0 {
		out += " its log says it listens on " + strings.Join(logged, ", ")
	}
	want := append(logged, decl...)[0]
	n, _ := strconv.Atoi(want)
	return out + fmt.Sprintf(": point the probe at %s", want),
		&Fix{Container: name, Path: []string{kind + "Probe", handler, "port"}, Value: n, Why: fmt.Sprintf("the port the container %s", map[bool]string{true: "listens on", false: "declares"}[len(logged) > 0])}
}

// healthyStart: the log shows the app still starting when it was killed.
func healthyStart(b *collect.Bundle, container string) bool {
	for _, l := range b.Logs {
		if l.Container == container && regexp.MustCompile(`(?i)starting|initiali[sz]ing|loading|warming`).MatchString(lastLines(l.Previous, 3)) {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
