package analyze

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"lab.dev/lab/agent/collect"
)

// Detectors is the table of rules, in the order their findings are listed
// within one severity.
func Detectors() []Detector {
	return []Detector{
		{Name: "oom-killed", Category: "OOMKilled", Detect: detectOOM},
		{Name: "crash-loop", Category: "CrashLoopBackOff", Detect: detectCrashLoop},
		{Name: "cannot-run", Category: "ContainerCannotRun", Detect: detectCannotRun},
		{Name: "container-ended", Category: "ApplicationCrash", Detect: detectEnded},
		{Name: "image-pull", Category: "ImagePullBackOff", Detect: detectImagePull},
		{Name: "config-error", Category: "CreateContainerConfigError", Detect: detectConfigError},
		{Name: "probe-failure", Category: "ProbeFailure", Detect: detectProbes},
		{Name: "volume", Category: "VolumeFailure", Detect: detectVolumes},
		{Name: "unschedulable", Category: "Unschedulable", Detect: detectUnschedulable},
		{Name: "init-container", Category: "InitContainerFailure", Detect: detectInit},
		{Name: "evicted", Category: "Evicted", Detect: detectEvicted},
		{Name: "job-backoff", Category: "JobBackoffLimitExceeded", Detect: detectJobBackoff},
		{Name: "owner-rejected", Category: "AdmissionDenied", Detect: detectOwnerRejected},
		{Name: "node-not-ready", Category: "NodeNotReady", Detect: detectNodeNotReady},
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
			if st.t == nil || st.t.Reason != "OOMKilled" || past(b, s, st.t) {
				continue
			}
			limit := "no memory limit (the node ran out of memory)"
			var fix *Fix
			if c := container(b, s.Name); c != nil && !c.Resources.Limits.Memory().IsZero() {
				limit = "its memory limit of " + c.Resources.Limits.Memory().String()
				mi := (2*c.Resources.Limits.Memory().Value() + (1<<20 - 1)) >> 20
				fix = &Fix{Container: s.Name, Path: []string{"resources", "limits", "memory"}, Value: fmt.Sprintf("%dMi", mi),
					Why: "twice the limit it was killed at; size it from the working set if metrics show a steady need, and look for a leak if it climbs"}
			}
			f := Finding{Severity: Critical, Container: s.Name, Fix: fix,
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
			if heap, where := jvmHeap(b, s.Name); heap != "" {
				f.Cause += fmt.Sprintf("; the JVM is told to use a heap of -Xmx%s (%s)", heap, where)
				if c := container(b, s.Name); c != nil && !c.Resources.Limits.Memory().IsZero() {
					if q, err := resource.ParseQuantity(strings.TrimSuffix(strings.ToUpper(heap), "B") + "i"); err == nil && q.Cmp(*c.Resources.Limits.Memory()) >= 0 {
						f.Cause += ", as large as the whole limit or larger: the heap alone cannot fit — lower -Xmx (or use -XX:MaxRAMPercentage) or raise the limit"
					}
				}
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
		backoff := s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff"
		// between two restarts a crash-looping container is "terminated"
		between := s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 && s.RestartCount > 0 && b.Pod.Spec.RestartPolicy != corev1.RestartPolicyNever
		if !backoff && !between {
			continue
		}
		f := Finding{Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state"}, Remediation: []string{"rollout-restart"}}
		cause := fmt.Sprintf("container %s is in CrashLoopBackOff after %d restarts", s.Name, s.RestartCount)
		t := s.LastTerminationState.Terminated
		if between {
			cause = fmt.Sprintf("container %s is crash-looping: it has just exited again, after %d restarts", s.Name, s.RestartCount)
			t = s.State.Terminated
		}
		if t != nil {
			if s.LastTerminationState.Terminated != nil {
				f.Evidence = append(f.Evidence, "container:"+s.Name+":last")
			}
			cause += "; it last exited with " + ExitCodeMeaning(t.ExitCode)
			switch {
			case t.Reason == "OOMKilled", cannotRun(t), killedByProbe(b, s.Name):
				f.Severity = Warning // the oom-killed, cannot-run or probe finding carries the cause
			}
		}
		if ids, _ := events(b, nil, "BackOff"); len(ids) > 0 {
			f.Evidence = append(f.Evidence, ids[0])
		}
		if t != nil && cannotRun(t) {
			cause += "; the runtime could not start it: " + clip(t.Message, 200)
		} else {
			cause += logClue(b, s.Name, &f)
			if c, ok := decisive(b, s.Name); ok {
				if m := hostPort.FindStringSubmatch(c.Line); m != nil && (loopback.MatchString(m[1]) || (depTimeout.MatchString(c.Line) && blockedBy(b, m[1]) != "")) {
					f.Severity = Warning // the dependency finding explains it: a wrong address, or a NetworkPolicy
				}
			}
		}
		f.Cause = cause
		f.Runbook = []string{"Read the previous container's log (kubectl logs --previous): the crash is there, not in the current one.",
			"Fix the cause (config, dependency, code) in git; a restart alone only helps for transient failures."}
		if t != nil && t.ExitCode == 0 {
			f.Runbook = []string{"A container that finishes its work belongs in a Job (or a CronJob), not a Deployment: move it there in git.",
				"If it should run forever, find why its main process returns (a foreground flag, a missing command)."}
		}
		out = append(out, f)
	}
	return out
}

// logClue is the part of a cause that quotes the decisive log line of
// container (and cites it), or says that the evidence is insufficient.
func logClue(b *collect.Bundle, name string, f *Finding) string {
	if c, ok := decisive(b, name); ok {
		f.Evidence = append(f.Evidence, c.ID)
		return fmt.Sprintf("; the decisive log line: %q", c.Excerpt)
	}
	if m, ok := lastLine(b, name); ok {
		f.Evidence = append(f.Evidence, m.ID)
		return fmt.Sprintf("; insufficient evidence for a specific cause: no error in its log, whose last line is %q — more needs the application's own diagnostics (a verbose flag, its exit path)", clip(m.Line, 160))
	}
	if !hasLog(b, name) {
		return "; insufficient evidence for a specific cause: the container wrote no log before exiting — run it with verbose logging, or check its command, arguments and config against the image's documentation"
	}
	return ""
}

// cannotRun: the runtime failed to start the process (no binary, not
// executable, a bad mount), so the application never ran.
func cannotRun(t *corev1.ContainerStateTerminated) bool {
	return t.Reason == "StartError" || t.Reason == "ContainerCannotRun"
}

// killedByProbe: the kubelet restarted the container because a liveness or
// startup probe failed.
func killedByProbe(b *collect.Bundle, name string) bool {
	_, evs := events(b, regexp.MustCompile(`(?i)failed (liveness|startup) probe`), "Killing")
	for _, e := range evs {
		if strings.Contains(e.Message, "Container "+name+" ") {
			return true
		}
	}
	return false
}

// past: the container has been Ready and running for longer than history
// since this termination: a restart long ago is not a present failure.
func past(b *collect.Bundle, s corev1.ContainerStatus, t *corev1.ContainerStateTerminated) bool {
	return s.Ready && s.State.Running != nil && t != nil && !t.FinishedAt.IsZero() && b.Collected.Sub(t.FinishedAt.Time) > history
}

var startErrorDetail = regexp.MustCompile(`(?:unable to start container process: |starting container process caused: )(.*?)(?:: unknown)?$`)

func detectCannotRun(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range append(statuses(b, true), statuses(b, false)...) {
		t := s.State.Terminated
		if t == nil || !cannotRun(t) {
			t = s.LastTerminationState.Terminated
		}
		if t == nil || !cannotRun(t) {
			continue
		}
		detail := t.Message
		if m := startErrorDetail.FindStringSubmatch(t.Message); m != nil {
			detail = m[1]
		}
		image := s.Image
		if c := container(b, s.Name); c != nil {
			image = c.Image
		}
		out = append(out, Finding{Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":last", "container:" + s.Name + ":spec"},
			Cause: fmt.Sprintf("the container runtime cannot start container %s (exit %d, %s): %s — the command or entrypoint does not exist in image %s or cannot be executed",
				s.Name, t.ExitCode, t.Reason, clip(detail, 200), image),
			Runbook: []string{"Compare the pod's command/args with the image's entrypoint and files (docker run --entrypoint sh IMAGE -c 'ls -l PATH').",
				"Fix the command in git or rebuild the image with the binary; a restart cannot help."}})
	}
	return out
}

// detectEnded: a container that ended with a failure and will not run again
// (restartPolicy Never, or the pod failed): the pod is finished, not looping.
func detectEnded(b *collect.Bundle) []Finding {
	if b.Pod.Status.Reason == "Evicted" || (b.Pod.Spec.RestartPolicy != corev1.RestartPolicyNever && b.Pod.Status.Phase != corev1.PodFailed) {
		return nil
	}
	var out []Finding
	for _, s := range statuses(b, false) {
		t := s.State.Terminated
		if t == nil || t.ExitCode == 0 || t.Reason == "OOMKilled" || cannotRun(t) {
			continue
		}
		f := Finding{Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state"}}
		if owned(b, "Job") {
			f.Severity = Warning // the Job's finding leads; this one adds the container's exit
		}
		f.Cause = fmt.Sprintf("container %s ended with %s and will not be restarted (pod %s, restartPolicy %s)", s.Name, ExitCodeMeaning(t.ExitCode), b.Pod.Status.Phase, restartPolicy(b))
		f.Cause += logClue(b, s.Name, &f)
		f.Runbook = []string{"Read the container's log (kubectl logs " + b.Pod.Name + " -c " + s.Name + "): it ran once and its last words are there.",
			"Fix the cause and run it again (a new pod, or the Job re-created through git)."}
		out = append(out, f)
	}
	return out
}

func restartPolicy(b *collect.Bundle) string {
	if b.Pod.Spec.RestartPolicy == "" {
		return string(corev1.RestartPolicyAlways)
	}
	return string(b.Pod.Spec.RestartPolicy)
}

func owned(b *collect.Bundle, kind string) bool {
	for _, o := range b.Owners {
		if o.Kind == kind {
			return true
		}
	}
	return false
}

// jvmHeap finds a JVM heap size (-Xmx) in the container's args, env or log.
func jvmHeap(b *collect.Bundle, name string) (heap, where string) {
	re := regexp.MustCompile(`-Xmx(\d+[kKmMgG]?)`)
	if c := container(b, name); c != nil {
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			if m := re.FindStringSubmatch(a); m != nil {
				return m[1], "in its arguments"
			}
		}
		for _, e := range c.Env {
			if m := re.FindStringSubmatch(e.Value); m != nil {
				return m[1], "in its env " + e.Name
			}
		}
	}
	if ms := logLines(b, re, 1); len(ms) > 0 {
		return re.FindStringSubmatch(ms[0].Line)[1], "in its log"
	}
	return "", ""
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
			f.Category, f.Cause = "InvalidImageName", fmt.Sprintf("image reference %q of container %s is not a valid image name: %s", image, s.Name, clip(invalidDetail(w.Message), 200))
			f.Runbook = []string{"Fix the image reference in git: lowercase repository names, one tag after ':', a digest after '@'."}
		case pullAuth.MatchString(text):
			f.Category, f.Cause = "ImagePullAuth", fmt.Sprintf("the registry refused to serve %q to this node (authorization failed): the pod needs an image pull secret (spec.imagePullSecrets) for this private registry, or has a wrong one", image)
			f.Runbook = []string{"Create a docker-registry Secret with credentials for the registry and list it in spec.imagePullSecrets (or on the ServiceAccount).", "Check the image's repository name: registries also answer 'denied' for repositories that do not exist."}
		case pullNotFound.MatchString(text):
			f.Category, f.Cause = "ImageNotFound", fmt.Sprintf("image %q is not found in its registry: the tag or repository name is wrong (typo or an unpublished tag)", image)
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

// invalidDetail is the reason part of an InvalidImageName message.
func invalidDetail(msg string) string {
	if i := strings.LastIndex(msg, "invalid reference format"); i >= 0 {
		return msg[i:]
	}
	return msg
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
		f := Finding{Category: w.Reason, Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state", "container:" + s.Name + ":spec"}}
		evIDs, _ := events(b, regexp.MustCompile(`not found|couldn't find key|runAsNonRoot|no space left`), "Failed")
		f.Evidence = append(f.Evidence, evIDs...)
		switch {
		case missingKey.MatchString(w.Message):
			m := missingKey.FindStringSubmatch(w.Message)
			f.Cause = fmt.Sprintf("container %s reads key %s from %s %s, which does not have that key", s.Name, m[1], m[2], m[3])
		case missingRef.MatchString(w.Message):
			m := missingRef.FindStringSubmatch(w.Message)
			f.Cause = fmt.Sprintf("container %s needs %s %q, which does not exist in namespace %s", s.Name, m[1], m[2], b.Pod.Namespace)
		case strings.Contains(w.Message, "runAsNonRoot"):
			f.Cause = fmt.Sprintf("container %s must run as non-root (runAsNonRoot) but its image runs as root: set securityContext.runAsUser to a non-zero UID, or use an image with a non-root USER (%s)", s.Name, clip(w.Message, 160))
		case w.Reason == "CreateContainerError":
			f.Cause = fmt.Sprintf("the container runtime cannot create container %s: %s", s.Name, clip(w.Message, 240))
		default:
			f.Cause = fmt.Sprintf("container %s cannot be created: %s", s.Name, w.Message)
		}
		f.Runbook = []string{"Create the missing ConfigMap/Secret (or key) through git, or fix the reference in the pod spec.", "The pod starts by itself once it exists: no restart needed."}
		if w.Reason == "CreateContainerError" {
			f.Runbook = []string{"Read the runtime's message: a full disk (no space left on device), a name conflict or a mount the runtime refuses.", "On the node: df -h /var/lib/containerd, crictl ps -a; free space or move the pod."}
		}
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
	if evIDs, evs := events(b, nil, "FailedMount", "FailedAttachVolume"); len(evIDs) > 0 && !transientMount(b, evs) {
		msg := evs[len(evs)-1].Message
		for i := len(evs) - 1; i >= 0; i-- { // the specific message, not the kubelet's generic timeout
			if !genericMount.MatchString(evs[i].Message) {
				msg = evs[i].Message
				break
			}
		}
		out = append(out, Finding{Category: "VolumeMountFailure", Severity: Critical, Evidence: evIDs,
			Cause:   "a volume cannot be mounted: " + clip(msg, 240),
			Runbook: []string{"Check the referenced ConfigMap/Secret/PVC exists and the volume is not attached elsewhere (RWO)."}})
	}
	return out
}

var genericMount = regexp.MustCompile(`Unable to attach or mount volumes|timed out waiting for the condition`)

// transientMount: the mount failures were only for the service-account token
// volume and every container started since — a kubelet hiccup, not a cause.
func transientMount(b *collect.Bundle, evs []corev1.Event) bool {
	for _, e := range evs {
		if !strings.Contains(e.Message, "kube-api-access-") || strings.Contains(e.Message, "unmounted volumes=[") {
			return false
		}
	}
	for _, s := range statuses(b, false) {
		if s.State.Running == nil && s.State.Terminated == nil {
			return false
		}
	}
	return len(statuses(b, false)) > 0
}

func deref(s *string) string {
	if s == nil {
		return "(default)"
	}
	return *s
}

// initStuck is how long an init container may run before lab calls it the
// thing that blocks the pod.
const initStuck = 5 * time.Minute

func detectInit(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range statuses(b, true) {
		t := s.State.Terminated
		if t == nil {
			t = s.LastTerminationState.Terminated
		}
		waitingCrash := s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff"
		var running time.Duration
		if r := s.State.Running; r != nil && !r.StartedAt.IsZero() {
			running = b.Collected.Sub(r.StartedAt.Time).Round(time.Minute)
		}
		stuck := running >= initStuck && b.Pod.Status.Phase == corev1.PodPending
		if (t == nil || t.ExitCode == 0 || s.State.Running != nil) && !waitingCrash && !stuck {
			continue
		}
		f := Finding{Category: "InitContainerFailure", Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state"}}
		var cause string
		if stuck {
			cause = fmt.Sprintf("init container %s has been running for %s without finishing, so the app containers never start", s.Name, shortDuration(running))
			if c, ok := decisive(b, s.Name); ok {
				f.Evidence = append(f.Evidence, c.ID)
				cause += fmt.Sprintf("; it is waiting, and its log says: %q", c.Excerpt)
			} else if m, ok := lastLine(b, s.Name); ok {
				f.Evidence = append(f.Evidence, m.ID)
				cause += fmt.Sprintf("; it is waiting, and its last log line is %q", clip(m.Line, 160))
			}
		} else {
			cause = fmt.Sprintf("init container %s fails, so the app containers never start", s.Name)
			if t != nil {
				if s.LastTerminationState.Terminated != nil {
					f.Evidence = append(f.Evidence, "container:"+s.Name+":last")
				}
				cause += "; it exited with " + ExitCodeMeaning(t.ExitCode)
			}
			cause += logClue(b, s.Name, &f)
		}
		f.Cause = cause
		f.Runbook = []string{"Read the init container's log (kubectl logs -c " + s.Name + " --previous).", "Init containers usually wait for a dependency (DNS, a database, a migration): check that dependency first."}
		out = append(out, f)
	}
	return out
}

func shortDuration(d time.Duration) string {
	if d < time.Hour {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
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
			f := Finding{Category: "JobBackoffLimitExceeded", Severity: Critical, Evidence: []string{"owner:Job/" + o.Name, "pod:phase"},
				Cause:   fmt.Sprintf("Job %s gave up: its pods failed more times than backoffLimit allows (%s)", o.Name, strings.TrimSpace(strings.TrimPrefix(v, "True: "))),
				Runbook: []string{"Read the failed pods' logs: the Job only retried the same failure.", "Fix the cause, then re-run the Job (delete and re-create it through git)."}}
			for _, s := range statuses(b, false) {
				if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
					f.Cause += fmt.Sprintf("; this pod's container %s exited with code %d", s.Name, t.ExitCode)
					if c, ok := decisive(b, s.Name); ok {
						f.Evidence = append(f.Evidence, c.ID)
						f.Cause += fmt.Sprintf(", and the decisive log line is %q", c.Excerpt)
					}
					break
				}
			}
			return []Finding{f}
		}
	}
	return nil
}

var (
	quotaExceeded = regexp.MustCompile(`exceeded quota: ([^,]+), (requested: .*)`)
	webhookDenied = regexp.MustCompile(`admission webhook "([^"]+)" denied the request:?\s*([\s\S]*)`)
	kyvernoPolicy = regexp.MustCompile(`(?m)^\s*([a-z0-9][a-z0-9-]*):\s*$`)
	podSecurity   = regexp.MustCompile(`violates PodSecurity "([^"]+)": (.*)`)
)

// detectOwnerRejected: the pod's controller cannot create pods — a
// ResourceQuota, an admission webhook (Kyverno, Gatekeeper) or Pod Security
// admission refuses them. The pod at hand may be fine; its owner is short.
func detectOwnerRejected(b *collect.Bundle) []Finding {
	ids, evs := events(b, regexp.MustCompile(`forbidden|denied the request|exceeded quota`), "FailedCreate")
	for _, d := range b.Owners {
		if v, ok := d.Condition["ReplicaFailure"]; ok && strings.HasPrefix(v, "True") && len(evs) == 0 {
			evs = append(evs, corev1.Event{Message: v})
			ids = append(ids, "owner:"+d.Kind+"/"+d.Name)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	e := evs[len(evs)-1]
	owner := e.InvolvedObject.Kind + " " + e.InvolvedObject.Name
	if e.InvolvedObject.Kind == "" {
		owner = "the pod's controller"
	}
	f := Finding{Severity: Warning, Evidence: ids[len(ids)-1:]}
	msg := strings.Join(strings.Fields(e.Message), " ")
	switch {
	case quotaExceeded.MatchString(msg):
		m := quotaExceeded.FindStringSubmatch(msg)
		f.Category = "QuotaExceeded"
		f.Cause = fmt.Sprintf("%s cannot create pods: the ResourceQuota %s refuses them (%s)", owner, m[1], clip(m[2], 200))
		f.Runbook = []string{"kubectl describe resourcequota " + m[1] + ": compare used and hard with what the new pods request.",
			"Lower the pods' requests/limits, scale something else down, or raise the quota through git."}
	case webhookDenied.MatchString(e.Message):
		m := webhookDenied.FindStringSubmatch(e.Message)
		var policies []string
		for _, p := range kyvernoPolicy.FindAllStringSubmatch(m[2], -1) {
			policies = append(policies, p[1])
		}
		f.Category = "AdmissionDenied"
		f.Cause = fmt.Sprintf("%s cannot create pods: the admission webhook %s denies them", owner, m[1])
		if len(policies) > 0 {
			f.Cause += " under the policy " + strings.Join(policies, ", ")
		}
		f.Cause += ": " + clip(strings.Join(strings.Fields(m[2]), " "), 240)
		f.Runbook = []string{"Read the policy named in the denial and change the pod template in git to satisfy it (an exception only through the policy's own review).",
			"The policy applies at admission: existing pods keep running, new ones (rollouts, rescheduling) are refused."}
	case podSecurity.MatchString(msg):
		m := podSecurity.FindStringSubmatch(msg)
		f.Category = "AdmissionDenied"
		f.Cause = fmt.Sprintf("%s cannot create pods: Pod Security admission (PodSecurity %q) rejects them: %s", owner, m[1], clip(m[2], 240))
		f.Runbook = []string{"Set the securityContext fields the message lists in the pod template, in git.",
			"Or, if the workload really needs it, label the namespace with a less strict pod-security.kubernetes.io/enforce level."}
	default:
		f.Category = "AdmissionDenied"
		f.Cause = fmt.Sprintf("%s cannot create pods: %s", owner, clip(msg, 240))
	}
	return []Finding{f}
}

func podReady(b *collect.Bundle) bool {
	for _, c := range b.Pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// detectNodeNotReady: the pod's node stopped reporting (the node controller
// marks its pods not ready and, later, evicts them).
func detectNodeNotReady(b *collect.Bundle) []Finding {
	ids, _ := events(b, nil, "NodeNotReady")
	node := b.Pod.Spec.NodeName
	notReady := len(ids) > 0 && !podReady(b) // the event, and the pod still marked not ready
	since := ""
	if b.Node != nil {
		for _, c := range b.Node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
				notReady = true
				{
					ids = append(ids, "node:"+b.Node.Name)
					since = fmt.Sprintf(" since %s (%s: %s)", c.LastTransitionTime.UTC().Format(time.RFC3339), c.Reason, clip(c.Message, 120))
				}
			}
		}
	}
	if !notReady {
		return nil
	}
	return []Finding{{Severity: Critical, Evidence: ids,
		Cause: fmt.Sprintf("the pod's node %s is NotReady%s: its kubelet stopped reporting, so the pod is marked not ready (and will be evicted); the pod itself did not fail", node, since),
		Runbook: []string{"kubectl describe node " + node + ": read its conditions and when it last reported.",
			"On the node: is the kubelet running (systemctl status kubelet, journalctl -u kubelet), is the container runtime up, is the disk or memory full?",
			"For a kind lab: docker ps / docker start the node container, then lab up."}}}
}

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
		switch {
		case d.category == "DNSFailure":
			f.Cause = fmt.Sprintf("the application cannot resolve %s (DNS): %q", target, quote)
			f.Runbook = []string{"Check the Service name and namespace in the app's config (svc.namespace.svc.cluster.local).", "Check CoreDNS is running and the Service exists."}
		case loopback.MatchString(target):
			f.Severity = Critical // the address, not the dependency, is wrong
			f.Cause = fmt.Sprintf("the application dials %s — its own pod, where no container listens there: the dependency's address is not configured (a default of localhost) rather than the dependency being down: %q", target, quote)
			f.Runbook = []string{"Set the dependency's host in the app's config (env or ConfigMap) to its Service name, in git.", "Only a sidecar in the same pod is reachable on localhost."}
		case d.re == depTimeout && blockedBy(b, target) != "":
			f.Category, f.Severity = "NetworkPolicyBlocked", Critical
			f.Cause = fmt.Sprintf("%s; so the application's connections to %s time out: %q", blockedBy(b, target), target, quote)
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

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
