package llm

import "strings"

// categoryWords are words an explanation of a category uses; an answer that
// uses none of its category's words but those of another category argues
// with the detectors instead of explaining them.
var categoryWords = map[string][]string{
	"OOMKilled":                  {"memory", "oom", "heap", "limit"},
	"ImagePullBackOff":           {"image", "pull", "registry", "tag"},
	"ImageNotFound":              {"image", "tag", "registry", "not found", "exist"},
	"ImagePullAuth":              {"image", "registry", "secret", "credential", "auth", "pull"},
	"RegistryUnreachable":        {"registry", "network", "dns", "reach", "image"},
	"InvalidImageName":           {"image", "reference", "name"},
	"Unschedulable":              {"schedul", "node", "taint", "affinity", "selector", "insufficient", "resource"},
	"InsufficientGPU":            {"gpu", "schedul", "node"},
	"ProbeFailure":               {"probe", "liveness", "readiness", "startup", "health", "port"},
	"CreateContainerConfigError": {"configmap", "secret", "key", "config", "root", "securitycontext"},
	"VolumeMountFailure":         {"volume", "mount", "attach", "secret", "configmap", "pvc", "claim"},
	"PVCPending":                 {"volume", "claim", "pvc", "storage", "provision"},
	"Evicted":                    {"evict", "pressure", "disk", "memory", "storage", "node"},
	"NodeNotReady":               {"node", "kubelet", "notready", "not ready"},
	"QuotaExceeded":              {"quota", "limit", "request"},
	"AdmissionDenied":            {"admission", "policy", "webhook", "denied", "security"},
}

// Contradicts reports whether an answer's text contradicts the detectors'
// category, and which category it argues for instead.
func Contradicts(category, text string) (bool, string) {
	own, ok := categoryWords[category]
	if !ok {
		return false, "" // a category the table does not know: nothing to compare
	}
	low := strings.ToLower(text)
	for _, w := range own {
		if strings.Contains(low, w) {
			return false, ""
		}
	}
	best, hits := "", 0
	for other, words := range categoryWords {
		n := 0
		for _, w := range words {
			if strings.Contains(low, w) {
				n++
			}
		}
		if n > hits || (n == hits && n > 0 && other < best) {
			best, hits = other, n
		}
	}
	return hits >= 2, best
}
