package analyze

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
)

// What keeps a scheduled pod from starting: volumes and init containers.

func detectVolumes(b *collect.Bundle) []Finding {
	var out []Finding
	for _, pvc := range b.PVCs {
		if pvc.Status.Phase == corev1.ClaimPending {
			evIDs, _ := events(b, nil, "FailedScheduling", "ProvisioningFailed")
			out = append(out, Finding{Category: "PVCPending", Severity: Critical, Evidence: append([]string{"pvc:" + pvc.Name}, evIDs...),
				Cause:   fmt.Sprintf("PersistentVolumeClaim %s is Pending: no volume was bound (no matching PersistentVolume or no provisioner for storageClass %s)", pvc.Name, deref(pvc.Spec.StorageClassName)),
				Runbook: []string{"Check the StorageClass exists and has a provisioner (kubectl get storageclass).", "Check the claim's size and access mode against available volumes."}})
		}
	}
	if evIDs, evs := events(b, nil, "FailedMount", "FailedAttachVolume"); len(evIDs) > 0 && !transientMount(b, evs) {
		msg := evs[len(evs)-1].Message
		for i := len(evs) - 1; i >= 0; i-- { // the specific message, not the kubelet's generic timeout
			if !genericMount.MatchString(evs[i].Message) {
				msg = evs[i].Message
				break
			}
		}
		out = append(out, Finding{Category: "VolumeMountFailure", Severity: Critical, Evidence: evIDs,
			Cause:   "a volume cannot be mounted: " + clip(msg, 240),
			Runbook: []string{"Check the referenced ConfigMap/Secret/PVC exists and the volume is not attached elsewhere (RWO)."}})
	}
	return out
}

var genericMount = regexp.MustCompile(`Unable to attach or mount volumes|timed out waiting for the condition`)

// transientMount: the mount failures were only for the service-account token
// volume and every container started since — a kubelet hiccup, not a cause.
func transientMount(b *collect.Bundle, evs []corev1.Event) bool {
	for _, e := range evs {
		if !strings.Contains(e.Message, "kube-api-access-") || strings.Contains(e.Message, "unmounted volumes=[") {
			return false
		}
	}
	for _, s := range statuses(b, false) {
		if s.State.Running == nil && s.State.Terminated == nil {
			return false
		}
	}
	return len(statuses(b, false)) > 0
}

func deref(s *string) string {
	if s == nil {
		return "(default)"
	}
	return *s
}

// initStuck is how long an init container may run before lab calls it the
// thing that blocks the pod.
const initStuck = 5 * time.Minute

func detectInit(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range statuses(b, true) {
		t := s.State.Terminated
		if t == nil {
			t = s.LastTerminationState.Terminated
		}
		waitingCrash := s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff"
		var running time.Duration
		if r := s.State.Running; r != nil && !r.StartedAt.IsZero() {
			running = b.Collected.Sub(r.StartedAt.Time).Round(time.Minute)
		}
		stuck := running >= initStuck && b.Pod.Status.Phase == corev1.PodPending
		if (t == nil || t.ExitCode == 0 || s.State.Running != nil) && !waitingCrash && !stuck {
			continue
		}
		f := Finding{Category: "InitContainerFailure", Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state"}}
		var cause string
		if stuck {
			cause = fmt.Sprintf("init container %s has been running for %s without finishing, so the app containers never start", s.Name, shortDuration(running))
			if c, ok := decisive(b, s.Name); ok {
				f.Evidence = append(f.Evidence, c.ID)
				cause += fmt.Sprintf("; it is waiting, and its log says: %q", c.Excerpt)
			} else if m, ok := lastLine(b, s.Name); ok {
				f.Evidence = append(f.Evidence, m.ID)
				cause += fmt.Sprintf("; it is waiting, and its last log line is %q", clip(m.Line, 160))
			}
		} else {
			cause = fmt.Sprintf("init container %s fails, so the app containers never start", s.Name)
			if t != nil {
				if s.LastTerminationState.Terminated != nil {
					f.Evidence = append(f.Evidence, "container:"+s.Name+":last")
				}
				cause += "; it exited with " + ExitCodeMeaning(t.ExitCode)
			}
			clue, _, _ := logClue(b, s.Name, &f)
			cause += clue
		}
		f.Cause = cause
		f.Runbook = []string{"Read the init container's log (kubectl logs -c " + s.Name + " --previous).", "Init containers usually wait for a dependency (DNS, a database, a migration): check that dependency first."}
		out = append(out, f)
	}
	return out
}

func shortDuration(d time.Duration) string {
	if d < time.Hour {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
