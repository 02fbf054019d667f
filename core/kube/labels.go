package kube

// ManagedByLabel marks what lab made (objects, the doctor's probe
// containers) with the value ManagedBy, as Kubernetes' recommended labels
// name a managing tool; `lab down --all` finds a lab's cluster by it.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "lab"
)

// Managed is the label set of an object lab made: extra, and the managed-by
// label (which extra cannot change).
func Managed(extra map[string]string) map[string]string {
	out := make(map[string]string, len(extra)+1)
	for k, v := range extra {
		out[k] = v
	}
	out[ManagedByLabel] = ManagedBy
	return out
}
