package agent

import "testing"

func TestFact(t *testing.T) {
	for cause, want := range map[string]string{
		`container app is in CrashLoopBackOff after 8 restarts; it last exited with general application error (1): see its logs; the decisive log line: "listen tcp :8080: bind: address already in use"`: `container app is in CrashLoopBackOff after 8 restarts — "listen tcp :8080: bind: address already in use"`,
		`image "r/x:1" is not found in its registry: the tag is wrong`: `image "r/x:1" is not found in its registry: the tag is wrong`,
		"the pod's node w1 is NotReady; its kubelet stopped":           "the pod's node w1 is NotReady",
	} {
		if got := fact(cause); got != want {
			t.Errorf("fact(%q) = %q, want %q", cause, got, want)
		}
	}
}
