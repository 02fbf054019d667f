package analyze

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
)

// Detectors is the table of rules, in the order their findings are listed
// within one severity.
func Detectors() []Detector {
	return []Detector{
		{Name: "oom-killed", Category: "OOMKilled", Detect: detectOOM},
		{Name: "crash-loop", Category: "CrashLoopBackOff", Detect: detectCrashLoop},
		{Name: "image-pull", Category: "ImagePullBackOff", Detect: detectImagePull},
		{Name: "config-error", Category: "CreateContainerConfigError", Detect: detectConfigError},
		{Name: "probe-failure", Category: "ProbeFailure", Detect: detectProbes},
		{Name: "volume", Category: "VolumeFailure", Detect: detectVolumes},
		{Name: "unschedulable", Category: "Unschedulable", Detect: detectUnschedulable},
		{Name: "init-container", Category: "InitContainerFailure", Detect: detectInit},
		{Name: "evicted", Category: "Evicted", Detect: detectEvicted},
		{Name: "job-backoff", Category: "JobBackoffLimitExceeded", Detect: detectJobBackoff},
		{Name: "log-crash-signature", Category: "ApplicationCrash", Detect: detectLogCrash},
		{Name: "dependency", Category: "DependencyUnreachable", Detect: detectDependency},
	}
}

func detectOOM(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range append(statuses(b, true), statuses(b, false)...) {
		for _, st := range []struct {
			id string
			t  *corev1.ContainerStateTerminated
		}{{"container:" + s.Name + ":last", s.LastTerminationState.Terminated}, {"container:" + s.Name + ":state", s.State.Terminated}} {
			if st.t == nil || st.t.Reason != "OOMKilled" {
				continue
			}
			limit := "no memory limit (the node ran out of memory)"
			if c := container(b, s.Name); c != nil && !c.Resources.Limits.Memory().IsZero() {
				limit = "its memory limit of " + c.Resources.Limits.Memory().String()
			}
			f := Finding{Severity: Critical, Container: s.Name,
				Cause:       fmt.Sprintf("container %s was OOM-killed (exit code %d): it used more than %s; it has restarted %d times", s.Name, st.t.ExitCode, limit, s.RestartCount),
				Evidence:    []string{st.id, "container:" + s.Name + ":spec"},
				Remediation: []string{"rollout-restart"},
				Runbook: []string{"Compare the container's memory usage before the kill with its limit (metrics, or the last lines of the previous log).",
					"If usage grows steadily, look for a leak or an unbounded cache; if it is a steady need, raise resources.limits.memory.",
					"Apply the change through git (ArgoCD syncs it) and watch restarts stop."},
			}
			for _, m := range b.Metrics {
				if m.Metric == "memory" && m.Container == s.Name {
					f.Evidence = append(f.Evidence, "metric:memory:"+s.Name)
					f.Cause += fmt.Sprintf("; its working set went from %.0fMiB to a peak of %.0fMiB", m.Min()/(1<<20), m.Max()/(1<<20))
					if m.Last() > m.First()*1.5 {
						f.Cause += " — a steady climb, the shape of a leak"
					}
				}
			}
			if ms := logLines(b, regexp.MustCompile(`(?i)(heap|memory|rss|alloc)[^a-z]`), 3); len(ms) > 0 {
				f.Evidence = append(f.Evidence, ids(ms)...)
			}
			out = append(out, f)
			break
		}
	}
	return out
}

func detectCrashLoop(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range statuses(b, false) {
		if s.State.Waiting == nil || s.State.Waiting.Reason != "CrashLoopBackOff" {
			continue
		}
		f := Finding{Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state"}, Remediation: []string{"rollout-restart"}}
		cause := fmt.Sprintf("container %s is in CrashLoopBackOff after %d restarts", s.Name, s.RestartCount)
		if t := s.LastTerminationState.Terminated; t != nil {
			f.Evidence = append(f.Evidence, "container:"+s.Name+":last")
			cause += fmt.Sprintf("; it last exited with %s", ExitCodeMeaning(t.ExitCode))
			if t.Reason == "OOMKilled" {
				f.Severity = Warning // the oom-killed finding carries the cause
			}
		}
		if ids, _ := events(b, nil, "BackOff"); len(ids) > 0 {
			f.Evidence = append(f.Evidence, ids[0])
		}
		if ms := logLines(b, errorLine, 2); len(ms) > 0 {
			f.Evidence = append(f.Evidence, ids(ms)...)
			cause += fmt.Sprintf("; its log says: %q", clip(ms[0].Line, 160))
		}
		f.Cause = cause
		f.Runbook = []string{"Read the previous container's log (kubectl logs --previous): the crash is there, not in the current one.",
			"Fix the cause (config, dependency, code) in git; a restart alone only helps for transient failures."}
		out = append(out, f)
	}
	return out
}

var initFailLine = regexp.MustCompile(`(?i)\b(error|fatal|failed|refused|denied|missing|timed out|no such host|could not resolve)\b`)

var errorLine = regexp.MustCompile(`(?i)\b(error|fatal|panic|exception|failed|refused|denied|missing|not set|required)\b`)

var (
	pullNotFound    = regexp.MustCompile(`(?i)manifest unknown|not found|no such manifest|manifest for .* not found`)
	pullAuth        = regexp.MustCompile(`(?i)unauthorized|authentication required|pull access denied|denied: |forbidden|401|403`)
	pullUnreachable = regexp.MustCompile(`(?i)dial tcp|i/o timeout|no such host|connection refused|TLS handshake timeout|network is unreachable|context deadline exceeded`)
)

func detectImagePull(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range append(statuses(b, true), statuses(b, false)...) {
		w := s.State.Waiting
		if w == nil || (w.Reason != "ImagePullBackOff" && w.Reason != "ErrImagePull" && w.Reason != "InvalidImageName") {
			continue
		}
		image := s.Image
		if c := container(b, s.Name); c != nil {
			image = c.Image
		}
		evIDs, evs := events(b, nil, "Failed")
		text := w.Message
		for _, e := range evs {
			text += "\n" + e.Message
		}
		f := Finding{Severity: Critical, Container: s.Name, Evidence: append([]string{"container:" + s.Name + ":state", "container:" + s.Name + ":spec"}, evIDs...)}
		switch {
		case w.Reason == "InvalidImageName":
			f.Category, f.Cause = "ImagePullBackOff", fmt.Sprintf("image reference %q of container %s is not a valid image name", image, s.Name)
		case pullAuth.MatchString(text):
			f.Category, f.Cause = "ImagePullAuth", fmt.Sprintf("the registry refused to serve %q to this node: the pod has no (or a wrong) imagePullSecret for a private registry", image)
			f.Runbook = []string{"Create a docker-registry Secret with credentials for the registry and list it in spec.imagePullSecrets (or on the ServiceAccount).", "Check the image's repository name: registries also answer 'denied' for repositories that do not exist."}
		case pullNotFound.MatchString(text):
			f.Category, f.Cause = "ImageNotFound", fmt.Sprintf("image %q does not exist in its registry: the tag or repository name is wrong (typo or an unpublished tag)", image)
			f.Runbook = []string{"List the repository's tags and correct the tag in the manifest in git.", "Prefer immutable tags or digests for deployments."}
		case pullUnreachable.MatchString(text):
			f.Category, f.Cause = "RegistryUnreachable", fmt.Sprintf("the node cannot reach the registry of %q (network, DNS or proxy)", image)
			f.Runbook = []string{"From the node, resolve and reach the registry host; check proxies and mirrors (lab.yaml cluster.registryMirrors).", "For air-gapped labs, load the image from the bundle (lab up --offline)."}
		default:
			f.Category, f.Cause = "ImagePullBackOff", fmt.Sprintf("image %q cannot be pulled: %s", image, clip(strings.TrimSpace(text), 200))
		}
		out = append(out, f)
	}
	return out
}

var (
	missingRef = regexp.MustCompile(`(configmap|secret) "([^"]+)" not found`)
	missingKey = regexp.MustCompile(`couldn't find key (\S+) in (ConfigMap|Secret) ([^ ]+)`)
)

func detectConfigError(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range append(statuses(b, true), statuses(b, false)...) {
		w := s.State.Waiting
		if w == nil || (w.Reason != "CreateContainerConfigError" && w.Reason != "CreateContainerError") {
			continue
		}
		f := Finding{Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state", "container:" + s.Name + ":spec"}}
		evIDs, _ := events(b, regexp.MustCompile(`not found|couldn't find key`), "Failed")
		f.Evidence = append(f.Evidence, evIDs...)
		switch {
		case missingKey.MatchString(w.Message):
			m := missingKey.FindStringSubmatch(w.Message)
			f.Cause = fmt.Sprintf("container %s reads key %s from %s %s, which does not have that key", s.Name, m[1], m[2], m[3])
		case missingRef.MatchString(w.Message):
			m := missingRef.FindStringSubmatch(w.Message)
			f.Cause = fmt.Sprintf("container %s needs %s %q, which does not exist in namespace %s", s.Name, m[1], m[2], b.Pod.Namespace)
		default:
			f.Cause = fmt.Sprintf("container %s cannot be created: %s", s.Name, w.Message)
		}
		f.Runbook = []string{"Create the missing ConfigMap/Secret (or key) through git, or fix the reference in the pod spec.", "The pod starts by itself once it exists: no restart needed."}
		out = append(out, f)
	}
	return out
}

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
			f.Cause += ": nothing listens on the probed port — the probe may target the wrong port, or the app is not up yet"
		case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded"):
			f.Cause += ": the endpoint answers too slowly (timeout)"
		case regexp.MustCompile(`statuscode: [45]\d\d`).MatchString(msg):
			f.Cause += ": the endpoint answers with an error status"
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

var insufficient = regexp.MustCompile(`Insufficient ([\w./-]+)`)

func detectUnschedulable(b *collect.Bundle) []Finding {
	for _, c := range b.Pod.Status.Conditions {
		if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse {
			continue
		}
		evIDs, _ := events(b, nil, "FailedScheduling")
		f := Finding{Category: "Unschedulable", Severity: Critical, Evidence: append([]string{"pod:condition:PodScheduled"}, evIDs...)}
		msg := c.Message
		var reasons []string
		for _, m := range insufficient.FindAllStringSubmatch(msg, -1) {
			res := strings.TrimRight(m[1], ".,")
			reasons = append(reasons, "not enough free "+res)
			if res == "nvidia.com/gpu" {
				f.Category = "InsufficientGPU"
			}
		}
		if strings.Contains(msg, "untolerated taint") {
			reasons = append(reasons, "nodes carry taints the pod does not tolerate")
		}
		if strings.Contains(msg, "didn't match Pod's node affinity/selector") || strings.Contains(msg, "node(s) didn't match node selector") {
			reasons = append(reasons, "no node matches the pod's nodeSelector/affinity")
		}
		if strings.Contains(msg, "unbound immediate PersistentVolumeClaims") || strings.Contains(msg, "persistentvolumeclaim") {
			reasons = append(reasons, "a PersistentVolumeClaim is not bound")
		}
		if len(reasons) == 0 {
			reasons = append(reasons, msg)
		}
		for _, ctr := range b.Pod.Spec.Containers {
			f.Evidence = append(f.Evidence, "container:"+ctr.Name+":spec")
		}
		f.Cause = "the scheduler cannot place the pod: " + strings.Join(reasons, "; ") + " (" + clip(msg, 200) + ")"
		f.Runbook = []string{"Compare the pod's requests, nodeSelector, affinity and tolerations with the nodes (kubectl describe nodes).",
			"Lower the requests, fix the selector, or add capacity (lab.yaml cluster.workers / gpuWorkers)."}
		return []Finding{f}
	}
	return nil
}

func detectVolumes(b *collect.Bundle) []Finding {
	var out []Finding
	for _, pvc := range b.PVCs {
		if pvc.Status.Phase == corev1.ClaimPending {
			evIDs, _ := events(b, nil, "FailedScheduling", "ProvisioningFailed")
			out = append(out, Finding{Category: "PVCPending", Severity: Critical, Evidence: append([]string{"pvc:" + pvc.Name}, evIDs...),
				Cause:   fmt.Sprintf("PersistentVolumeClaim %s is Pending: no volume was bound (no matching PersistentVolume or no provisioner for storageClass %s)", pvc.Name, deref(pvc.Spec.StorageClassName)),
				Runbook: []string{"Check the StorageClass exists and has a provisioner (kubectl get storageclass).", "Check the claim's size and access mode against available volumes."}})
		}
	}
	if evIDs, evs := events(b, nil, "FailedMount", "FailedAttachVolume"); len(evIDs) > 0 {
		out = append(out, Finding{Category: "VolumeMountFailure", Severity: Critical, Evidence: evIDs,
			Cause:   "a volume cannot be mounted: " + clip(evs[len(evs)-1].Message, 240),
			Runbook: []string{"Check the referenced ConfigMap/Secret/PVC exists and the volume is not attached elsewhere (RWO)."}})
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "(default)"
	}
	return *s
}

func detectInit(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range statuses(b, true) {
		t := s.State.Terminated
		if t == nil {
			t = s.LastTerminationState.Terminated
		}
		waitingCrash := s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff"
		if (t == nil || t.ExitCode == 0) && !waitingCrash {
			continue
		}
		f := Finding{Category: "InitContainerFailure", Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state"}}
		cause := fmt.Sprintf("init container %s fails, so the app containers never start", s.Name)
		if t != nil {
			if s.LastTerminationState.Terminated != nil {
				f.Evidence = append(f.Evidence, "container:"+s.Name+":last")
			}
			cause += "; it exited with " + ExitCodeMeaning(t.ExitCode)
		}
		if ms := logLines(b, initFailLine, 2); len(ms) > 0 {
			f.Evidence = append(f.Evidence, ids(ms)...)
			cause += fmt.Sprintf("; its log says: %q", clip(ms[0].Line, 160))
		}
		f.Cause = cause
		f.Runbook = []string{"Read the init container's log (kubectl logs -c " + s.Name + " --previous).", "Init containers usually wait for a dependency (DNS, a database, a migration): check that dependency first."}
		out = append(out, f)
	}
	return out
}

func detectEvicted(b *collect.Bundle) []Finding {
	if b.Pod.Status.Reason != "Evicted" {
		return nil
	}
	f := Finding{Category: "Evicted", Severity: Warning, Evidence: []string{"pod:phase"}, Remediation: []string{"delete-failed-pod"},
		Cause: "the kubelet evicted the pod under node pressure: " + b.Pod.Status.Message}
	if b.Node != nil {
		f.Evidence = append(f.Evidence, "node:"+b.Node.Name)
	}
	if ids, _ := events(b, nil, "Evicted"); len(ids) > 0 {
		f.Evidence = append(f.Evidence, ids...)
	}
	f.Runbook = []string{"Check the node's pressure conditions and which pods use the most of that resource.", "Set requests close to real usage so the scheduler does not overcommit; delete the evicted pod (its controller made a new one)."}
	return []Finding{f}
}

func detectJobBackoff(b *collect.Bundle) []Finding {
	for _, o := range b.Owners {
		if o.Kind != "Job" {
			continue
		}
		if v, ok := o.Condition["Failed"]; ok && strings.Contains(v, "BackoffLimitExceeded") {
			return []Finding{{Category: "JobBackoffLimitExceeded", Severity: Critical, Evidence: []string{"owner:Job/" + o.Name, "pod:phase"},
				Cause:   fmt.Sprintf("Job %s gave up: its pods failed more times than backoffLimit allows (%s)", o.Name, strings.TrimPrefix(v, "True: ")),
				Runbook: []string{"Read the failed pods' logs: the Job only retried the same failure.", "Fix the cause, then re-run the Job (delete and re-create it through git)."}}}
		}
	}
	return nil
}

var crashSignature = regexp.MustCompile(`^(panic: |fatal error: |Traceback \(most recent call last\)|Exception in thread |Unhandled exception|FATAL|.*\bSegmentation fault\b|.*\bOutOfMemoryError\b|.*\bNullPointerException\b)`)

func detectLogCrash(b *collect.Bundle) []Finding {
	ms := logLines(b, crashSignature, 3)
	if len(ms) == 0 {
		return nil
	}
	return []Finding{{Category: "ApplicationCrash", Severity: Warning, Evidence: ids(ms),
		Cause:   fmt.Sprintf("the application crashed with %q", clip(ms[0].Line, 160)),
		Runbook: []string{"Read the full stack trace in the log around the cited lines.", "Fix the code path or the input that triggers it; roll back to the last good image if it is a new release."}}}
}

var (
	depRefused = regexp.MustCompile(`(?i)(connection refused|ECONNREFUSED|connect: connection refused)`)
	depDNS     = regexp.MustCompile(`(?i)(no such host|could not resolve|Name or service not known|Temporary failure in name resolution|NXDOMAIN|getaddrinfo ENOTFOUND)`)
	hostPort   = regexp.MustCompile(`(?:dial tcp |connect to |host[= ]|tcp://|//)([a-zA-Z0-9._-]+(?::\d+)?)`)
)

func detectDependency(b *collect.Bundle) []Finding {
	var out []Finding
	for _, d := range []struct {
		re       *regexp.Regexp
		category string
		what     string
	}{{depDNS, "DNSFailure", "cannot resolve"}, {depRefused, "DependencyUnreachable", "is refused by"}} {
		ms := logLines(b, d.re, 3)
		if len(ms) == 0 {
			continue
		}
		target := "a dependency"
		if m := hostPort.FindStringSubmatch(ms[0].Line); m != nil {
			target = m[1]
		}
		f := Finding{Category: d.category, Severity: Warning, Evidence: ids(ms)}
		if d.category == "DNSFailure" {
			f.Cause = fmt.Sprintf("the application cannot resolve %s (DNS): %q", target, clip(ms[0].Line, 160))
			f.Runbook = []string{"Check the Service name and namespace in the app's config (svc.namespace.svc.cluster.local).", "Check CoreDNS is running and the Service exists."}
		} else {
			f.Cause = fmt.Sprintf("the application's connections to %s are refused: nothing listens there (the dependency is down or the port is wrong): %q", target, clip(ms[0].Line, 160))
			f.Runbook = []string{"Check the dependency's pods and Service endpoints (kubectl get endpointslices).", "Check the port in the app's config matches the Service port."}
		}
		out = append(out, f)
	}
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
