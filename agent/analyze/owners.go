package analyze

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
)

// Failures the pod's owner records: a Job that gave up, a controller whose pods are refused.

func detectJobBackoff(b *collect.Bundle) []Finding {
	for _, o := range b.Owners {
		if o.Kind != "Job" {
			continue
		}
		if v, ok := o.Condition["Failed"]; ok && strings.Contains(v, "BackoffLimitExceeded") {
			f := Finding{Category: "JobBackoffLimitExceeded", Severity: Critical, Evidence: []string{"owner:Job/" + o.Name, "pod:phase"},
				Cause:   fmt.Sprintf("Job %s gave up: its pods failed more times than backoffLimit allows (%s)", o.Name, strings.TrimSpace(strings.TrimPrefix(v, "True: "))),
				Runbook: []string{"Read the failed pods' logs: the Job only retried the same failure.", "Fix the cause, then re-run the Job (delete and re-create it through git)."}}
			for _, s := range statuses(b, false) {
				if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
					f.Cause += fmt.Sprintf("; this pod's container %s exited with code %d", s.Name, t.ExitCode)
					if c, ok := decisive(b, s.Name); ok {
						f.Evidence = append(f.Evidence, c.ID)
						f.Cause += fmt.Sprintf(", and the decisive log line is %q", c.Excerpt)
					}
					break
				}
			}
			return []Finding{f}
		}
	}
	return nil
}

var (
	quotaExceeded = regexp.MustCompile(`exceeded quota: ([^,]+), (requested: .*)`)
	webhookDenied = regexp.MustCompile(`admission webhook "([^"]+)" denied the request:?\s*([\s\S]*)`)
	kyvernoPolicy = regexp.MustCompile(`(?m)^\s*([a-z0-9][a-z0-9-]*):\s*$`)
	podSecurity   = regexp.MustCompile(`violates PodSecurity "([^"]+)": (.*)`)
)

// detectOwnerRejected: the pod's controller cannot create pods — a
// ResourceQuota, an admission webhook (Kyverno, Gatekeeper) or Pod Security
// admission refuses them. The pod at hand may be fine; its owner is short.
func detectOwnerRejected(b *collect.Bundle) []Finding {
	ids, evs := events(b, regexp.MustCompile(`forbidden|denied the request|exceeded quota`), "FailedCreate")
	for _, d := range b.Owners {
		if v, ok := d.Condition["ReplicaFailure"]; ok && strings.HasPrefix(v, "True") && len(evs) == 0 {
			evs = append(evs, corev1.Event{Message: v})
			ids = append(ids, "owner:"+d.Kind+"/"+d.Name)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	e := evs[len(evs)-1]
	owner := e.InvolvedObject.Kind + " " + e.InvolvedObject.Name
	if e.InvolvedObject.Kind == "" {
		owner = "the pod's controller"
	}
	f := Finding{Severity: Warning, Evidence: ids[len(ids)-1:]}
	msg := strings.Join(strings.Fields(e.Message), " ")
	switch {
	case quotaExceeded.MatchString(msg):
		m := quotaExceeded.FindStringSubmatch(msg)
		f.Category = "QuotaExceeded"
		f.Cause = fmt.Sprintf("%s cannot create pods: the ResourceQuota %s refuses them (%s)", owner, m[1], clip(m[2], 200))
		f.Runbook = []string{"kubectl describe resourcequota " + m[1] + ": compare used and hard with what the new pods request.",
			"Lower the pods' requests/limits, scale something else down, or raise the quota through git."}
	case webhookDenied.MatchString(e.Message):
		m := webhookDenied.FindStringSubmatch(e.Message)
		var policies []string
		for _, p := range kyvernoPolicy.FindAllStringSubmatch(m[2], -1) {
			policies = append(policies, p[1])
		}
		f.Category = "AdmissionDenied"
		f.Cause = fmt.Sprintf("%s cannot create pods: the admission webhook %s denies them", owner, m[1])
		if len(policies) > 0 {
			f.Cause += " under the policy " + strings.Join(policies, ", ")
		}
		f.Cause += ": " + clip(strings.Join(strings.Fields(m[2]), " "), 240)
		f.Runbook = []string{"Read the policy named in the denial and change the pod template in git to satisfy it (an exception only through the policy's own review).",
			"The policy applies at admission: existing pods keep running, new ones (rollouts, rescheduling) are refused."}
	case podSecurity.MatchString(msg):
		m := podSecurity.FindStringSubmatch(msg)
		f.Category = "AdmissionDenied"
		f.Cause = fmt.Sprintf("%s cannot create pods: Pod Security admission (PodSecurity %q) rejects them: %s", owner, m[1], clip(m[2], 240))
		f.Runbook = []string{"Set the securityContext fields the message lists in the pod template, in git.",
			"Or, if the workload really needs it, label the namespace with a less strict pod-security.kubernetes.io/enforce level."}
	default:
		f.Category = "AdmissionDenied"
		f.Cause = fmt.Sprintf("%s cannot create pods: %s", owner, clip(msg, 240))
	}
	return []Finding{f}
}
