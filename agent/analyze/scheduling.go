package analyze

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
)

// Where a pod runs, or cannot: the scheduler, evictions, the node.

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
