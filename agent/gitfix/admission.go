package gitfix

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/analyze"
)

// Admitted asks the API server whether the workload with fix applied would
// be admitted: a server-side dry-run strategic-merge patch of the one field,
// which runs every admission webhook (Kyverno in Enforce) and
// ValidatingAdmissionPolicy as a real change would, and persists nothing.
// nil: admitted. A *RejectedError: a policy would reject it (the proposal is
// not worth making). Other errors: the check could not run.
func Admitted(ctx context.Context, cs kubernetes.Interface, kind, name, namespace string, fix *analyze.Fix) error {
	c := map[string]any{"name": fix.Container}
	cur := c
	for i, k := range fix.Path {
		if i == len(fix.Path)-1 {
			cur[k] = fix.Value
			break
		}
		next := map[string]any{}
		cur[k] = next
		cur = next
	}
	pod := map[string]any{"spec": map[string]any{"containers": []any{c}}}
	spec := map[string]any{"template": pod}
	if kind == "CronJob" {
		spec = map[string]any{"jobTemplate": map[string]any{"spec": spec}}
	}
	patch, _ := json.Marshal(map[string]any{"spec": spec})
	opts := metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: "lab-agent"}
	var err error
	switch kind {
	case "Deployment":
		_, err = cs.AppsV1().Deployments(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, opts)
	case "StatefulSet":
		_, err = cs.AppsV1().StatefulSets(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, opts)
	case "DaemonSet":
		_, err = cs.AppsV1().DaemonSets(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, opts)
	case "CronJob":
		_, err = cs.BatchV1().CronJobs(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, opts)
	default:
		return fmt.Errorf("no admission check for a %s (its pod template cannot change)", kind)
	}
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "cannot patch resource"):
		return fmt.Errorf("no admission check (RBAC lets this identity not even dry-run a patch): %w", err)
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err):
		return &RejectedError{Msg: err.Error()}
	}
	return err
}

// RejectedError is an admission (policy, webhook, validation) refusal.
type RejectedError struct{ Msg string }

func (e *RejectedError) Error() string { return e.Msg }
