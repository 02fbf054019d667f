package kwok

import (
	"strings"
	"testing"
)

func TestEmbeddedScenariosParse(t *testing.T) {
	all, err := EmbeddedScenarios()
	if err != nil {
		t.Fatal(err)
	}
	heldout := 0
	for name, s := range all {
		if s.Expect.Cause == "" {
			t.Errorf("%s: no ground-truth cause", name)
		}
		if len(s.Expect.Mentions) > 0 || s.Expect.Category == "" {
			heldout++
		}
		if _, err := DecodeYAML([]byte(s.Objects)); err != nil {
			t.Errorf("%s: objects: %v", name, err)
		}
	}
	if heldout < 25 {
		t.Errorf("%d held-out scenarios with decisive facts, want at least 25", heldout)
	}
}

func TestJudge(t *testing.T) {
	e := Expect{Category: "ProbeFailure", Mentions: []string{"8080", "timeout|timed out"}}
	for _, c := range []struct {
		cat, cause string
		ok         bool
		why        string
	}{
		{"ProbeFailure", "probe dials 8080 and TIMED OUT", true, ""},
		{"ProbeFailure", "probe dials 8080", false, `"timeout|timed out"`},
		{"CrashLoopBackOff", "probe dials 8080 timeout", false, "category"},
		{"", "", false, "category"},
	} {
		ok, why := e.Judge(c.cat, c.cause)
		if ok != c.ok || !strings.Contains(why, c.why) {
			t.Errorf("Judge(%q, %q) = %v, %q", c.cat, c.cause, ok, why)
		}
	}
	healthy := Expect{}
	if ok, _ := healthy.Judge("", ""); !ok {
		t.Error("a healthy pod with no finding must pass")
	}
	if ok, why := healthy.Judge("DependencyUnreachable", "x"); ok || !strings.Contains(why, "healthy") {
		t.Errorf("a finding on a healthy pod must fail: %q", why)
	}
}
