package stacks

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NotReady explains every pod of namespace that is not Ready: its phase, the
// waiting/terminated reason of each unready container, or the scheduler's
// message, plus the newest warning event.
func NotReady(ctx context.Context, cs kubernetes.Interface, namespace string) []string {
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{"cannot list pods: " + err.Error()}
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || podReady(&p) {
			continue
		}
		why := string(p.Status.Phase)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				why += ", unschedulable: " + c.Message
			}
		}
		for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			switch {
			case s.State.Waiting != nil:
				why += fmt.Sprintf(", %s: %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
			case s.State.Terminated != nil && s.State.Terminated.ExitCode != 0:
				why += fmt.Sprintf(", %s: exited %d (%s)", s.Name, s.State.Terminated.ExitCode, s.State.Terminated.Reason)
			case !s.Ready:
				why += fmt.Sprintf(", %s: running but not ready", s.Name)
			}
		}
		if evs, err := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name + ",type=Warning"}); err == nil && len(evs.Items) > 0 {
			sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
			e := evs.Items[len(evs.Items)-1]
			why += fmt.Sprintf("; last event %s: %s", e.Reason, e.Message)
		}
		out = append(out, p.Name+": "+why)
	}
	sort.Strings(out)
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
