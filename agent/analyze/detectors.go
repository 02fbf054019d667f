package analyze

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"lab.dev/lab/agent/collect"
)

// Detectors is the table of rules, in the order their findings are listed
// within one severity.
func Detectors() []Detector {
	return []Detector{
		// What ended the pod from outside comes first: its containers may
		// show a kill (137, 143) that is only the consequence.
		{Name: "pod-ended", Category: "NodeRejected", Detect: detectPodEnded},
		{Name: "job-deadline", Category: "DeadlineExceeded", Detect: detectJobDeadline},
		{Name: "sandbox", Category: "PodSandboxFailed", Detect: detectSandbox},
		{Name: "lifecycle-hook", Category: "LifecycleHookFailed", Detect: detectLifecycleHook},
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
		{Name: "intermittent", Category: "IntermittentCrash", Detect: detectIntermittent},
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
			text, c, ok := logClue(b, s.Name, &f)
			cause += text
			if ok && dependencyExplains(b, c.Line) {
				f.Severity = Warning // the dependency finding carries the cause
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
// container (and cites it), or says that the evidence is insufficient; it
// returns the clue too, when there is one.
func logClue(b *collect.Bundle, name string, f *Finding) (string, Clue, bool) {
	if c, ok := decisive(b, name); ok {
		f.Evidence = append(f.Evidence, c.ID, "container:"+name+":spec")
		s := fmt.Sprintf("; the decisive log line: %q", c.Excerpt)
		if tie := specTie(b, name, c.Line); tie != "" {
			s += " — " + tie
		}
		return s, c, true
	}
	if m, ok := lastLine(b, name); ok {
		f.Evidence = append(f.Evidence, m.ID)
		return fmt.Sprintf("; insufficient evidence for a specific cause: no error in its log, whose last line is %q — more needs the application's own diagnostics (a verbose flag, its exit path)", clip(m.Line, 160)), Clue{}, false
	}
	if !hasLog(b, name) {
		return "; insufficient evidence for a specific cause: the container wrote no log before exiting — run it with verbose logging, or check its command, arguments and config against the image's documentation", Clue{}, false
	}
	return "", Clue{}, false
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
		clue, _, _ := logClue(b, s.Name, &f)
		f.Cause += clue
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

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
