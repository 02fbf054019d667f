package analyze

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
)

// Pod-level reasons the kubelet, the scheduler and the controllers write on
// a pod or its owner (the vocabulary in manifests/agent/vocabulary.yaml):
// what ended the pod when its containers did not fail on their own.

// kubeletRejected are the pod status reasons of the kubelet's admission
// (pkg/kubelet/lifecycle: "OutOf"+resource, NodeAffinity, NodeLabel,
// UnexpectedAdmissionError, and the rest of its predicates' failures).
var kubeletRejected = regexp.MustCompile(`^(OutOf\w+|NodeAffinity|NodeLabel|NodePorts|NodeName|UnexpectedAdmissionError|InvalidNodeInfo|Unknown|PodOSNotSupported|PodOSSelectorNodeLabelDoesNotMatch|SysctlForbidden|AppArmor|UnsupportedPodSpec)$`)

func detectPodEnded(b *collect.Bundle) []Finding {
	p := b.Pod
	st := p.Status
	disruption := func(reason string) *corev1.PodCondition {
		for i, c := range st.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && (reason == "" || c.Reason == reason) {
				return &st.Conditions[i]
			}
		}
		return nil
	}
	byKubelet := disruption("TerminationByKubelet")
	switch {
	case st.Phase == corev1.PodFailed && st.Reason == "DeadlineExceeded":
		return []Finding{deadline(b, "pod")}
	case st.Phase == corev1.PodFailed && kubeletRejected.MatchString(st.Reason):
		f := Finding{Category: "NodeRejected", Severity: Critical, Evidence: []string{"pod:phase"},
			Cause: fmt.Sprintf("the kubelet on node %s rejected the pod at admission (%s): %s", p.Spec.NodeName, st.Reason, clip(st.Message, 240)),
			Runbook: []string{"The scheduler placed the pod where the kubelet cannot run it: compare the pod's requests, node selector and devices with the node.",
				"A controller's pod is replaced by a new one; a bare pod must be re-created (delete it once the node or the spec is fixed)."}}
		if strings.HasPrefix(st.Reason, "OutOf") {
			if req := requests(p, strings.TrimPrefix(st.Reason, "OutOf")); req != "" {
				f.Cause += "; the pod requests " + req
			}
		}
		return []Finding{f}
	case byKubelet != nil && strings.Contains(strings.ToLower(st.Message+byKubelet.Message), "shutdown"),
		st.Phase == corev1.PodFailed && st.Reason == "Terminated" && strings.Contains(st.Message, "node shutdown"):
		return []Finding{{Category: "NodeShutdown", Severity: Critical, Evidence: []string{"pod:phase", "pod:condition:DisruptionTarget"},
			Cause: fmt.Sprintf("the pod was terminated because its node %s shut down (the kubelet's graceful node shutdown): %s", p.Spec.NodeName, clip(st.Message, 160)),
			Runbook: []string{"Nothing in the pod failed: a controller re-creates it elsewhere; a bare pod or a Job with restartPolicy Never must be re-run.",
				"Give workloads more than one replica and a PodDisruptionBudget so a node's shutdown is not an outage."}}}
	}
	if c := disruption("PreemptionByScheduler"); c != nil || hasEvent(b, "Preempted") {
		ids, evs := events(b, nil, "Preempted")
		msg := "a higher-priority pod needed its node"
		if len(evs) > 0 {
			msg = evs[len(evs)-1].Message
		}
		return []Finding{{Category: "Preempted", Severity: Critical, Evidence: append([]string{"pod:phase"}, ids...),
			Cause: fmt.Sprintf("the scheduler preempted the pod (priorityClassName %q) to make room for a higher-priority pod: %s", p.Spec.PriorityClassName, clip(msg, 160)),
			Runbook: []string{"Give the workload a higher PriorityClass, or the cluster more capacity, if it must not be preempted.",
				"Preemption respects PodDisruptionBudgets only on a best-effort basis."}}}
	}
	return nil
}

func hasEvent(b *collect.Bundle, reason string) bool {
	ids, _ := events(b, nil, reason)
	return len(ids) > 0
}

// requests names the pod's requests of a resource ("memory", "cpu", …).
func requests(p *corev1.Pod, resource string) string {
	var parts []string
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Requests[corev1.ResourceName(resource)]; ok {
			parts = append(parts, fmt.Sprintf("%s %s (container %s)", resource, q.String(), c.Name))
		}
	}
	return strings.Join(parts, ", ")
}

// deadline is a DeadlineExceeded finding tied to the deadline in the spec.
func deadline(b *collect.Bundle, what string) Finding {
	secs := b.Pod.Spec.ActiveDeadlineSeconds
	where := "the pod's"
	for _, o := range b.Owners {
		if j, ok := o.Object.(*batchv1.Job); ok && j.Spec.ActiveDeadlineSeconds != nil {
			secs, where = j.Spec.ActiveDeadlineSeconds, "Job "+j.Name+"'s"
		}
	}
	limit := "its activeDeadlineSeconds"
	if secs != nil {
		limit = fmt.Sprintf("%s activeDeadlineSeconds (%d s = %s)", where, *secs, time.Duration(*secs)*time.Second)
	}
	return Finding{Category: "DeadlineExceeded", Severity: Critical, Evidence: []string{"pod:phase"},
		Cause: fmt.Sprintf("the %s ran longer than %s and was stopped: nothing crashed, it ran out of time", what, limit),
		Runbook: []string{"Read the last log lines: how far it got tells whether it is slow or stuck.",
			"Raise activeDeadlineSeconds in git if the work legitimately takes longer, or make it faster (batch size, parallelism)."}}
}

func detectJobDeadline(b *collect.Bundle) []Finding {
	for _, o := range b.Owners {
		if v, ok := o.Condition["Failed"]; o.Kind == "Job" && ok && strings.Contains(v, "DeadlineExceeded") {
			f := deadline(b, "Job "+o.Name)
			f.Evidence = append(f.Evidence, "owner:Job/"+o.Name)
			return []Finding{f}
		}
	}
	return nil
}

// sandbox: the runtime or the network plugin could not create the pod's
// sandbox, so no container of it can start.
func detectSandbox(b *collect.Bundle) []Finding {
	ids, evs := events(b, nil, "FailedCreatePodSandBox", "NetworkNotReady", "FailedPodSandBoxStatus")
	if len(evs) == 0 || b.Pod.Status.Phase != corev1.PodPending {
		return nil
	}
	e := evs[len(evs)-1]
	what := "the container runtime could not create the pod's sandbox"
	if e.Reason == "NetworkNotReady" || strings.Contains(e.Message, "network") || strings.Contains(e.Message, "CNI") || strings.Contains(e.Message, "cni") {
		what = "the node's pod network (its CNI plugin) could not set up the pod's sandbox"
	}
	return []Finding{{Category: "PodSandboxFailed", Severity: Critical, Evidence: append([]string{"pod:phase"}, ids...),
		Cause: fmt.Sprintf("%s on node %s, so no container can start: %s", what, b.Pod.Spec.NodeName, clip(e.Message, 260)),
		Runbook: []string{"This is the node's problem, not the pod's: check the CNI plugin's pods (kube-system) and /etc/cni/net.d on the node.",
			"kubectl describe node: NetworkUnavailable / Ready conditions; restart or fix the CNI DaemonSet."}}}
}

// lifecycle: a postStart or preStop hook failed; for postStart the kubelet
// kills the container, which then crash-loops with nothing in its log.
func detectLifecycleHook(b *collect.Bundle) []Finding {
	ids, evs := events(b, nil, "FailedPostStartHook", "FailedPreStopHook")
	if len(evs) == 0 {
		return nil
	}
	e := evs[len(evs)-1]
	hook, get := "postStart", func(l *corev1.Lifecycle) *corev1.LifecycleHandler { return l.PostStart }
	if e.Reason == "FailedPreStopHook" {
		hook, get = "preStop", func(l *corev1.Lifecycle) *corev1.LifecycleHandler { return l.PreStop }
	}
	for _, c := range b.Pod.Spec.Containers {
		if c.Lifecycle == nil || get(c.Lifecycle) == nil {
			continue
		}
		h := get(c.Lifecycle)
		what := "its handler"
		switch {
		case h.Exec != nil:
			what = strings.Join(h.Exec.Command, " ")
		case h.HTTPGet != nil:
			what = fmt.Sprintf("GET %s on port %s", h.HTTPGet.Path, h.HTTPGet.Port.String())
		}
		cause := fmt.Sprintf("container %s's %s hook (%s) failed", c.Name, hook, what)
		if hook == "postStart" {
			cause += ", so the kubelet killed the container: it restarts and fails the same way"
		}
		if e.Message != "" && e.Message != "PostStartHook failed" && e.Message != "PreStopHook failed" {
			cause += ": " + clip(e.Message, 200)
		}
		return []Finding{{Category: "LifecycleHookFailed", Severity: Critical, Container: c.Name,
			Evidence: append([]string{"container:" + c.Name + ":spec"}, ids...), Cause: cause,
			Runbook: []string{"Run the hook's command in the container by hand (kubectl exec) and read its output: the kubelet's event does not keep it.",
				"A hook must finish quickly and succeed; move slow warm-up work into the application or an init container."}}}
	}
	return nil
}

// intermittent: the container runs and is Ready now, but restarted several
// times within the hour — the previous instance's log says why. A fallback:
// the specific detectors (OOM, probes) run before it and outrank it.
func detectIntermittent(b *collect.Bundle) []Finding {
	for _, s := range statuses(b, false) {
		t := s.LastTerminationState.Terminated
		if s.State.Running == nil || t == nil || t.ExitCode == 0 || s.RestartCount < 3 || b.Collected.Sub(t.FinishedAt.Time) >= history {
			continue
		}
		if t.ExitCode == 143 && t.Reason != "OOMKilled" {
			continue // SIGTERM: asked to stop, not a crash
		}
		f := Finding{Category: "IntermittentCrash", Severity: Warning, Container: s.Name, Evidence: []string{"container:" + s.Name + ":last", "container:" + s.Name + ":state"},
			Cause: fmt.Sprintf("container %s runs now, but it restarted %d times and its last instance ended %s ago with exit code %d (%s)",
				s.Name, s.RestartCount, b.Collected.Sub(t.FinishedAt.Time).Round(time.Minute), t.ExitCode, t.Reason),
			Runbook: []string{"Read the previous instance's log (kubectl logs --previous): it failed, this one has not yet.",
				"Look for what the crashes have in common: a request, a time, a load."}}
		if c, ok := decisive(b, s.Name); ok {
			f.Cause += fmt.Sprintf("; the previous instance's decisive line: %q", c.Excerpt)
			f.Evidence = append(f.Evidence, c.ID)
		}
		return []Finding{f}
	}
	return nil
}
