package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/remediate"
	"lab.dev/lab/agent/report"
)

// Verify follows a remediation that ran: it waits (up to timeout) for the
// workload's rollout, diagnoses its newest pod with the rules, and says
// whether the failure of r is gone, persists, or became another one.
func Verify(ctx context.Context, cs kubernetes.Interface, r *report.Report, a remediate.Action, o Options, timeout time.Duration) (string, error) {
	kind, name, _ := strings.Cut(a.Target, "/")
	var selector *metav1.LabelSelector
	rolled := func(ctx context.Context) (bool, error) { return true, nil }
	switch kind {
	case "Deployment":
		rolled = func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments(a.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			selector = d.Spec.Selector
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want && d.Status.Replicas == want, nil
		}
	case "StatefulSet":
		rolled = func(ctx context.Context) (bool, error) {
			s, err := cs.AppsV1().StatefulSets(a.Namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			selector = s.Spec.Selector
			return s.Status.ObservedGeneration >= s.Generation && s.Status.UpdateRevision == s.Status.CurrentRevision && s.Status.ReadyReplicas == s.Status.Replicas, nil
		}
	case "Pod": // a deleted failed pod: its controller's replacement
		rolled = func(ctx context.Context) (bool, error) { return newest(ctx, cs, r, nil) != nil, nil }
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	err := wait.PollUntilContextCancel(wctx, 2*time.Second, true, rolled)
	cancel()
	state := "the rollout completed"
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		state = fmt.Sprintf("the rollout did not complete within %s", timeout)
	}
	p := newest(ctx, cs, r, selector)
	if p == nil {
		return fmt.Sprintf("verified: %s, and no new pod of %s to diagnose", state, a.Target), nil
	}
	after, err := Diagnose(ctx, cs, p.Namespace, p.Name, o)
	if err != nil {
		return "", err
	}
	was := "failure"
	if before := r.Primary(); before != nil {
		was = before.Category
	}
	switch now := after.Primary(); {
	case now == nil:
		return fmt.Sprintf("verified: %s; pod %s has no failure — the %s is gone", state, p.Name, was), nil
	case now.Category == was:
		return fmt.Sprintf("verified: %s; pod %s still shows %s — the remediation did not fix it: %s", state, p.Name, now.Category, now.Cause), nil
	default:
		return fmt.Sprintf("verified: %s; pod %s now shows %s: %s", state, p.Name, now.Category, now.Cause), nil
	}
}

// newest is the most recent pod of the workload (its selector, or the
// original pod's labels) other than the one diagnosed, when there is one.
func newest(ctx context.Context, cs kubernetes.Interface, r *report.Report, sel *metav1.LabelSelector) *corev1.Pod {
	lo := metav1.ListOptions{}
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil
		}
		lo.LabelSelector = s.String()
	} else if r.Source != nil && r.Source.Pod != nil {
		var parts []string
		for k, v := range r.Source.Pod.Labels {
			if k != "pod-template-hash" && k != "controller-revision-hash" {
				parts = append(parts, k+"="+v)
			}
		}
		lo.LabelSelector = strings.Join(parts, ",")
	}
	list, err := cs.CoreV1().Pods(r.Namespace).List(ctx, lo)
	if err != nil {
		return nil
	}
	var best *corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if p.Name == r.Pod || p.DeletionTimestamp != nil {
			continue
		}
		if best == nil || p.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = p
		}
	}
	return best
}
