package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// AppStatus is one Application as lab reports it.
type AppStatus struct {
	Name       string   `json:"name"`
	Sync       string   `json:"sync"`   // Synced, OutOfSync, Unknown, "" (no status yet)
	Health     string   `json:"health"` // Healthy, Progressing, Degraded, Missing, Suspended, Unknown
	Message    string   `json:"message,omitempty"`
	Operation  string   `json:"operation,omitempty"` // Running, Succeeded, Failed, Error
	Revision   string   `json:"revision,omitempty"`
	Conditions []string `json:"conditions,omitempty"`
	OutOfSync  []string `json:"outOfSync,omitempty"` // resources that differ from git
	Unhealthy  []string `json:"unhealthy,omitempty"` // resources not Healthy, with messages
	ReadError  string   `json:"readError,omitempty"` // the Application could not be read
}

// Ready is Synced and Healthy.
func (s AppStatus) Ready() bool { return s.Sync == "Synced" && s.Health == "Healthy" }

// Explain says in one line why an Application is not ready.
func (s AppStatus) Explain() string {
	switch {
	case s.ReadError != "":
		return s.Name + ": cannot read it: " + s.ReadError
	case s.Sync == "" && s.Health == "":
		return s.Name + ": no status yet (is the Argo CD application controller running?)"
	case s.Ready():
		return s.Name + ": Synced, Healthy"
	}
	parts := []string{fmt.Sprintf("%s: %s/%s", s.Name, or(s.Sync, "Unknown"), or(s.Health, "Unknown"))}
	if s.Message != "" {
		parts = append(parts, s.Message)
	}
	if s.Operation != "" && s.Operation != "Succeeded" {
		parts = append(parts, "last sync "+s.Operation)
	}
	if len(s.OutOfSync) > 0 {
		parts = append(parts, "out of sync: "+strings.Join(s.OutOfSync, ", "))
	}
	if len(s.Unhealthy) > 0 {
		parts = append(parts, "not healthy: "+strings.Join(s.Unhealthy, ", "))
	}
	if len(s.Conditions) > 0 {
		parts = append(parts, "conditions: "+strings.Join(s.Conditions, "; "))
	}
	return strings.Join(parts, "; ")
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Evaluate reads an Application's .status.
func Evaluate(u *unstructured.Unstructured) AppStatus {
	s := AppStatus{Name: u.GetName()}
	s.Sync, _, _ = unstructured.NestedString(u.Object, "status", "sync", "status")
	s.Revision, _, _ = unstructured.NestedString(u.Object, "status", "sync", "revision")
	s.Health, _, _ = unstructured.NestedString(u.Object, "status", "health", "status")
	s.Message, _, _ = unstructured.NestedString(u.Object, "status", "health", "message")
	s.Operation, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "phase")
	if msg, _, _ := unstructured.NestedString(u.Object, "status", "operationState", "message"); msg != "" && s.Operation != "Succeeded" {
		s.Operation += ": " + msg
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		s.Conditions = append(s.Conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	res, _, _ := unstructured.NestedSlice(u.Object, "status", "resources")
	for _, r := range res {
		m, _ := r.(map[string]any)
		id := fmt.Sprintf("%v/%v", m["kind"], m["name"])
		if ns, ok := m["namespace"].(string); ok && ns != "" {
			id = ns + "/" + id
		}
		if st, _ := m["status"].(string); st != "" && st != "Synced" {
			s.OutOfSync = append(s.OutOfSync, id+" ("+st+")")
		}
		if h, ok := m["health"].(map[string]any); ok {
			if hs, _ := h["status"].(string); hs != "" && hs != "Healthy" {
				item := id + " " + hs
				if msg, _ := h["message"].(string); msg != "" {
					item += ": " + msg
				}
				s.Unhealthy = append(s.Unhealthy, item)
			}
		}
	}
	sort.Strings(s.OutOfSync)
	sort.Strings(s.Unhealthy)
	return s
}

// List reads every Application in the namespace.
func List(ctx context.Context, dyn dynamic.Interface, ns string) ([]AppStatus, error) {
	list, err := dyn.Resource(ApplicationGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]AppStatus, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, Evaluate(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Wait polls the named Applications until all are Synced and Healthy, or
// ctx ends; the error explains every one that is not ready, from the last
// round of reads that ctx's end did not cut short (a read cut short used to
// show as "no status yet": the integration test's flake under load).
func Wait(ctx context.Context, dyn dynamic.Interface, ns string, names []string, poll time.Duration) ([]AppStatus, error) {
	var last []AppStatus // the last round whose reads were not cut short by ctx
	for {
		var sts []AppStatus
		ready, cut := true, false
		for _, n := range names {
			u, err := dyn.Resource(ApplicationGVR).Namespace(ns).Get(ctx, n, metav1.GetOptions{})
			st := AppStatus{Name: n}
			switch {
			case err != nil && ended(ctx):
				cut = true
			case err != nil:
				st.ReadError = err.Error()
			default:
				st = Evaluate(u)
			}
			ready = ready && st.Ready()
			sts = append(sts, st)
		}
		if !cut {
			last = sts
		}
		if ready && !cut {
			return sts, nil
		}
		select {
		case <-ctx.Done():
			if last == nil { // not one round finished: say so, not "no status"
				return sts, fmt.Errorf("Applications not read before the deadline: %w", ctx.Err())
			}
			var why []string
			for _, st := range last {
				if !st.Ready() {
					why = append(why, st.Explain())
				}
			}
			return last, fmt.Errorf("Applications not Synced/Healthy: %s", strings.Join(why, " | "))
		case <-time.After(poll):
		}
	}
}

// ended says whether ctx is over: cancelled, or past its deadline even when
// its timer has not fired yet (under load client-go's rate limiter already
// refuses the read then, with "would exceed context deadline", while
// ctx.Err() is still nil).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// Sync asks Argo CD to sync an Application now, the way its CLI does: by
// setting .operation (prune as configured).
func Sync(ctx context.Context, dyn dynamic.Interface, ns, name, revision string, prune bool) error {
	op := map[string]any{"operation": map[string]any{
		"initiatedBy": map[string]any{"username": "lab"},
		"sync":        map[string]any{"revision": revision, "prune": prune},
	}}
	return mergePatch(ctx, dyn, ns, name, op)
}

// Refresh asks Argo CD to re-read git (hard: also bypass its manifest cache).
func Refresh(ctx context.Context, dyn dynamic.Interface, ns, name string, hard bool) error {
	kind := "normal"
	if hard {
		kind = "hard"
	}
	return mergePatch(ctx, dyn, ns, name, map[string]any{"metadata": map[string]any{"annotations": map[string]any{"argocd.argoproj.io/refresh": kind}}})
}

func mergePatch(ctx context.Context, dyn dynamic.Interface, ns, name string, patch map[string]any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = dyn.Resource(ApplicationGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: "lab"})
	return err
}
