package collect

import (
	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/redact"
)

// redactBundle masks secrets in every text of the bundle that is not a log
// (the log digest redacts each log line it reads): the pod's status message
// and condition messages, every container's waiting and terminated
// messages — a termination message with FallbackToLogsOnError is the last
// lines of the log — events, owners' conditions and collection errors. It
// runs before the evidence is built, so the evidence, the timeline, the
// findings, the prompt, the reports, the sinks and the incident memory all
// start from redacted text: the one choke point (agent/redact).
func redactBundle(b *Bundle) {
	s := func(p *string) { *p, _ = redact.String(*p) }
	if p := b.Pod; p != nil {
		s(&p.Status.Message)
		for i := range p.Status.Conditions {
			s(&p.Status.Conditions[i].Message)
		}
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for i := range list {
				for _, st := range []*corev1.ContainerState{&list[i].State, &list[i].LastTerminationState} {
					if st.Waiting != nil {
						s(&st.Waiting.Message)
					}
					if st.Terminated != nil {
						s(&st.Terminated.Message)
					}
				}
			}
		}
	}
	for i := range b.Events {
		s(&b.Events[i].Message)
	}
	for i := range b.Owners {
		for k, v := range b.Owners[i].Condition {
			b.Owners[i].Condition[k], _ = redact.String(v)
		}
	}
	for i := range b.Errors {
		s(&b.Errors[i])
	}
}
