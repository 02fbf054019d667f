package kube

// PodTemplatePath is where an object of a workload kind keeps the pod it
// makes — its pod template, or for a Pod the object itself (an empty path):
// the template's metadata and spec sit under it. ok is false for kinds that
// make no pods.
func PodTemplatePath(kind string) (path []string, ok bool) {
	switch kind {
	case "Pod":
		return []string{}, true
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		return []string{"spec", "template"}, true
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template"}, true
	}
	return nil, false
}
