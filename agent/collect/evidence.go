package collect

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Evidence is one fact with a stable id that findings and the model cite:
// pod:phase, pod:condition:PodScheduled, container:app:state,
// container:app:last, container:app:spec, event:3, owner:Deployment/web,
// node:worker-1, pvc:data, log:app:previous#L12-L14.
type Evidence struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"` // pod, container, event, owner, node, pvc, log
	Summary string `json:"summary"`
}

// BuildEvidence turns a bundle into its evidence list (logs are cited by the
// detectors and the digest with line ranges; their base ids are listed here).
func BuildEvidence(b *Bundle) []Evidence {
	var ev []Evidence
	add := func(id, kind, format string, a ...any) {
		ev = append(ev, Evidence{ID: id, Kind: kind, Summary: fmt.Sprintf(format, a...)})
	}
	p := b.Pod
	phase := fmt.Sprintf("phase %s", p.Status.Phase)
	if p.Status.Reason != "" {
		phase += ", reason " + p.Status.Reason
	}
	if p.Status.Message != "" {
		phase += ": " + p.Status.Message
	}
	add("pod:phase", "pod", "%s", phase)
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			add("pod:condition:"+string(c.Type), "pod", "%s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, s := range allStatuses(p) {
		add("container:"+s.Name+":state", "container", "%s: %s, restarts %d, ready %v", s.Name, StateString(s.State), s.RestartCount, s.Ready)
		if s.LastTerminationState.Terminated != nil {
			add("container:"+s.Name+":last", "container", "%s last state: %s", s.Name, StateString(s.LastTerminationState))
		}
	}
	for _, c := range allContainers(p) {
		add("container:"+c.Name+":spec", "container", "%s", SpecString(c))
	}
	for i, e := range b.Events {
		count := e.Count
		if count == 0 {
			count = 1
		}
		add(fmt.Sprintf("event:%d", i), "event", "%s %s on %s/%s (x%d): %s", e.Type, e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, count, e.Message)
	}
	for _, o := range b.Owners {
		var conds []string
		for k, v := range o.Condition {
			conds = append(conds, k+"="+v)
		}
		sort.Strings(conds)
		add("owner:"+o.Kind+"/"+o.Name, "owner", "%s %s %s", o.Kind, o.Name, strings.Join(conds, "; "))
	}
	if n := b.Node; n != nil {
		var conds []string
		for _, c := range n.Status.Conditions {
			if (c.Type == corev1.NodeReady) != (c.Status == corev1.ConditionTrue) {
				conds = append(conds, fmt.Sprintf("%s=%s", c.Type, c.Status))
			}
		}
		if len(conds) == 0 {
			conds = []string{"healthy"}
		}
		add("node:"+n.Name, "node", "node %s: %s; allocatable cpu %s memory %s gpu %s", n.Name, strings.Join(conds, ", "),
			n.Status.Allocatable.Cpu(), n.Status.Allocatable.Memory(), n.Status.Allocatable.Name("nvidia.com/gpu", "DecimalSI"))
	}
	for _, np := range b.NetworkPolicies {
		add("networkpolicy:"+np.Name, "networkpolicy", "NetworkPolicy %s selects the pod: policyTypes %v, %d ingress and %d egress rules", np.Name, np.Spec.PolicyTypes, len(np.Spec.Ingress), len(np.Spec.Egress))
	}
	for _, pvc := range b.PVCs {
		add("pvc:"+pvc.Name, "pvc", "PVC %s: %s (storageClass %s)", pvc.Name, pvc.Status.Phase, deref(pvc.Spec.StorageClassName))
	}
	for _, s := range b.Metrics {
		ev = append(ev, MetricEvidence(s))
	}
	for _, l := range b.Logs {
		if l.Current != "" {
			add("log:"+l.Container+":current", "log", "%s current log, %d lines", l.Container, strings.Count(l.Current, "\n"))
		}
		if l.Previous != "" {
			add("log:"+l.Container+":previous", "log", "%s previous log, %d lines", l.Container, strings.Count(l.Previous, "\n"))
		}
	}
	return ev
}

func deref(s *string) string {
	if s == nil {
		return "(default)"
	}
	return *s
}

func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
}

func allContainers(p *corev1.Pod) []corev1.Container {
	return append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
}

// StateString renders a container state in one line.
func StateString(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return strings.TrimSpace("waiting " + s.Waiting.Reason + " " + s.Waiting.Message)
	case s.Terminated != nil:
		t := s.Terminated
		return strings.TrimSpace(fmt.Sprintf("terminated %s exit code %d %s", t.Reason, t.ExitCode, t.Message))
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.UTC().Format("15:04:05")
	}
	return "unknown"
}

// SpecString is a container's spec facts: image, resources, probes and the
// ConfigMaps/Secrets it reads (names only, never values).
func SpecString(c corev1.Container) string {
	parts := []string{c.Name + " image " + c.Image}
	if r := c.Resources; len(r.Requests)+len(r.Limits) > 0 {
		parts = append(parts, fmt.Sprintf("requests cpu=%s memory=%s, limits cpu=%s memory=%s", r.Requests.Cpu(), r.Requests.Memory(), r.Limits.Cpu(), r.Limits.Memory()))
		if g, ok := r.Limits["nvidia.com/gpu"]; ok {
			parts = append(parts, "nvidia.com/gpu="+g.String())
		}
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p != nil {
			parts = append(parts, name+" probe "+ProbeString(p))
		}
	}
	var refs []string
	for _, e := range c.Env {
		if s := e.ValueFrom; s != nil {
			if s.ConfigMapKeyRef != nil {
				refs = append(refs, fmt.Sprintf("env %s from configmap %s key %s", e.Name, s.ConfigMapKeyRef.Name, s.ConfigMapKeyRef.Key))
			}
			if s.SecretKeyRef != nil {
				refs = append(refs, fmt.Sprintf("env %s from secret %s key %s", e.Name, s.SecretKeyRef.Name, s.SecretKeyRef.Key))
			}
		}
	}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			refs = append(refs, "envFrom configmap "+e.ConfigMapRef.Name)
		}
		if e.SecretRef != nil {
			refs = append(refs, "envFrom secret "+e.SecretRef.Name)
		}
	}
	sort.Strings(parts[1:])
	return strings.Join(append(parts, refs...), "; ")
}

// ProbeString renders a probe's handler and timing.
func ProbeString(p *corev1.Probe) string {
	h := "exec"
	switch {
	case p.HTTPGet != nil:
		h = fmt.Sprintf("http-get :%s%s", p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		h = "tcp :" + p.TCPSocket.Port.String()
	case p.GRPC != nil:
		h = fmt.Sprintf("grpc :%d", p.GRPC.Port)
	}
	return fmt.Sprintf("%s delay=%ds period=%ds timeout=%ds failureThreshold=%d", h, p.InitialDelaySeconds, p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold)
}
