// Package remediate runs the agent's whitelisted, bounded fixes: rollout
// restart of the pod's Deployment/StatefulSet, scale within bounds, delete a
// failed pod that a controller will replace. Every action is first sent as a
// server-side dry run and shown; nothing runs outside the allowed namespaces,
// and nothing a log line says can add an action.
package remediate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/collect"
	"lab.dev/lab/core/telemetry"
)

// Actions lab knows.
const (
	RolloutRestart  = "rollout-restart"
	Scale           = "scale"
	DeleteFailedPod = "delete-failed-pod"
)

// ErrNotAllowed is returned for any action the policy does not permit.
var ErrNotAllowed = errors.New("remediation not allowed")

// Policy is lab.yaml's agent.remediation plus agent.namespaces.
type Policy struct {
	Enabled     bool
	Allowed     []string
	Namespaces  []string
	MaxReplicas int
	// ScaleDown: a person asked (--allow-scale-down) for fewer replicas
	// than the workload runs. Never from a model: a scale the agent plans
	// on its own is at least 1 and never below the current count.
	ScaleDown bool
}

// Action is one concrete fix.
type Action struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Target    string `json:"target"` // Deployment/web, StatefulSet/db, Pod/web-abc
	Replicas  int    `json:"replicas,omitempty"`
}

func (a Action) String() string {
	if a.Kind == Scale {
		return fmt.Sprintf("%s %s/%s to %d replicas", a.Kind, a.Namespace, a.Target, a.Replicas)
	}
	return fmt.Sprintf("%s %s/%s", a.Kind, a.Namespace, a.Target)
}

// Plan turns a requested action kind into a concrete action on b's workload,
// or says why it is not allowed.
func Plan(kind string, replicas int, b *collect.Bundle, p Policy) (Action, error) {
	ns := b.Pod.Namespace
	if !p.Enabled {
		return Action{}, fmt.Errorf("%w: agent.remediation.enabled is false", ErrNotAllowed)
	}
	if !slices.Contains(p.Allowed, kind) {
		return Action{}, fmt.Errorf("%w: %q is not in agent.remediation.allowed %v", ErrNotAllowed, kind, p.Allowed)
	}
	if !slices.Contains(p.Namespaces, ns) {
		return Action{}, fmt.Errorf("%w: namespace %s is not in agent.namespaces %v", ErrNotAllowed, ns, p.Namespaces)
	}
	ctrlKind, ctrlName := "", ""
	for i := len(b.Owners) - 1; i >= 0; i-- {
		if k := b.Owners[i].Kind; k == "Deployment" || k == "StatefulSet" {
			ctrlKind, ctrlName = k, b.Owners[i].Name
			break
		}
	}
	switch kind {
	case RolloutRestart, Scale:
		if ctrlKind == "" {
			return Action{}, fmt.Errorf("%w: pod %s has no Deployment or StatefulSet to %s", ErrNotAllowed, b.Pod.Name, kind)
		}
		a := Action{Kind: kind, Namespace: ns, Target: ctrlKind + "/" + ctrlName}
		if kind == Scale {
			cur := currentReplicas(b, ctrlKind)
			switch {
			case replicas < 0:
				return Action{}, fmt.Errorf("%w: a scale needs a replica count from a person (--replicas N); a model's number is not taken", ErrNotAllowed)
			case replicas < 1 || replicas > p.MaxReplicas:
				return Action{}, fmt.Errorf("%w: %d replicas is outside 1..%d (agent.remediation.maxReplicas)", ErrNotAllowed, replicas, p.MaxReplicas)
			case cur >= 0 && replicas < cur && !p.ScaleDown:
				return Action{}, fmt.Errorf("%w: %d replicas is fewer than the %d %s/%s runs: scaling down needs --allow-scale-down", ErrNotAllowed, replicas, cur, ctrlKind, ctrlName)
			}
			a.Replicas = replicas
		}
		return a, nil
	case DeleteFailedPod:
		if len(b.Owners) == 0 {
			return Action{}, fmt.Errorf("%w: pod %s has no controller to replace it", ErrNotAllowed, b.Pod.Name)
		}
		if b.Pod.Status.Phase != corev1.PodFailed && b.Pod.Status.Reason != "Evicted" {
			return Action{}, fmt.Errorf("%w: pod %s is %s, not failed", ErrNotAllowed, b.Pod.Name, b.Pod.Status.Phase)
		}
		return Action{Kind: kind, Namespace: ns, Target: "Pod/" + b.Pod.Name}, nil
	}
	return Action{}, fmt.Errorf("%w: unknown action %q", ErrNotAllowed, kind)
}

// currentReplicas is the controller's spec.replicas as collected, or -1.
func currentReplicas(b *collect.Bundle, kind string) int {
	for _, o := range b.Owners {
		switch w := o.Object.(type) {
		case *appsv1.Deployment:
			if kind == "Deployment" && w.Spec.Replicas != nil {
				return int(*w.Spec.Replicas)
			}
		case *appsv1.StatefulSet:
			if kind == "StatefulSet" && w.Spec.Replicas != nil {
				return int(*w.Spec.Replicas)
			}
		}
	}
	return -1
}

// Run performs a (server-side dry-run when dryRun) and describes what it did.
func Run(ctx context.Context, cs kubernetes.Interface, a Action, dryRun bool) (_ string, err error) {
	ctx, span := telemetry.Start(ctx, "", "remediate "+string(a.Kind), attribute.Bool("lab.remediation.dry_run", dryRun),
		attribute.String("k8s.namespace.name", a.Namespace), attribute.String("lab.remediation.target", a.Target))
	defer func() { telemetry.End(span, err) }()
	var dr []string
	verb := "done"
	if dryRun {
		dr, verb = []string{metav1.DryRunAll}, "server dry run OK"
	}
	kind, name, _ := cut(a.Target)
	switch a.Kind {
	case RolloutRestart:
		patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().UTC().Format(time.RFC3339))
		if kind == "Deployment" {
			_, err = cs.AppsV1().Deployments(a.Namespace).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{DryRun: dr, FieldManager: "lab-agent"})
		} else {
			_, err = cs.AppsV1().StatefulSets(a.Namespace).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{DryRun: dr, FieldManager: "lab-agent"})
		}
	case Scale:
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, a.Replicas)
		if kind == "Deployment" {
			_, err = cs.AppsV1().Deployments(a.Namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{DryRun: dr, FieldManager: "lab-agent"})
		} else {
			_, err = cs.AppsV1().StatefulSets(a.Namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{DryRun: dr, FieldManager: "lab-agent"})
		}
	case DeleteFailedPod:
		err = cs.CoreV1().Pods(a.Namespace).Delete(ctx, name, metav1.DeleteOptions{DryRun: dr})
	default:
		err = fmt.Errorf("%w: unknown action %q", ErrNotAllowed, a.Kind)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", a, err)
	}
	return fmt.Sprintf("%s: %s", a, verb), nil
}

func cut(target string) (string, string, bool) {
	for i := 0; i < len(target); i++ {
		if target[i] == '/' {
			return target[:i], target[i+1:], true
		}
	}
	return "", target, false
}
