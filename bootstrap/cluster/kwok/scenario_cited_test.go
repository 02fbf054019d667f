package kwok

import "testing"

func TestExpectCited(t *testing.T) {
	e := Expect{Evidence: []string{"event:FailedScheduling", "pod:status"}}
	for _, c := range []struct {
		got  []string
		want bool
	}{
		{[]string{"pod:status#conditions", "event:FailedScheduling#1"}, true},
		{[]string{"pod:status#conditions"}, false},
		{nil, false},
	} {
		if e.Cited(c.got) != c.want {
			t.Errorf("Cited(%v) = %v", c.got, !c.want)
		}
	}
	if !(Expect{}).Cited(nil) {
		t.Error("nothing expected is cited by anything")
	}
}
