package replay

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/agent"
	"lab.dev/lab/bootstrap/cluster/kwok"
)

// sets are the frozen scenario suites every detector change must keep right.
var sets = []string{"regression:../../manifests/scenarios", "heldout:../../manifests/scenarios/heldout"}

func load(t *testing.T, dir string) []*kwok.Scenario {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no scenarios in %s", dir)
	}
	var out []*kwok.Scenario
	for _, f := range files {
		s, err := kwok.LoadScenario(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// Diagnose replays one scenario and returns the primary finding's category
// and cause (empty: no finding).
func diagnose(t *testing.T, s *kwok.Scenario) (string, string, []string) {
	t.Helper()
	w, err := Build(s, "replay", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Pods) == 0 {
		t.Fatalf("%s: no pod", s.Name)
	}
	r, err := agent.Diagnose(context.Background(), w.Client, "replay", w.Pods[0].Name, agent.Options{NoLLM: true, Logs: w.Logs})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, f := range r.Findings {
		all = append(all, f.Category+": "+f.Cause)
	}
	if p := r.Primary(); p != nil {
		return p.Category, p.Cause, all
	}
	return "", "", all
}

// Every scenario of the regression and held-out suites, through the real
// collect → analyze → report path on a replayed world: the primary finding
// is the expected one, or a healthy pod gets none. Seconds, no cluster —
// a detector change shows its effect here first.
func TestScenariosReplayed(t *testing.T) {
	for _, set := range sets {
		name, dir, _ := strings.Cut(set, ":")
		right, total := 0, 0
		for _, s := range load(t, dir) {
			if ok, why := Replayable(s); !ok {
				t.Logf("%s/%s: not replayed: %s (the integration suite runs it)", name, s.Name, why)
				continue
			}
			total++
			t.Run(name+"/"+s.Name, func(t *testing.T) {
				cat, cause, all := diagnose(t, s)
				if ok, why := s.Expect.Judge(cat, cause); !ok {
					t.Errorf("%s; findings:\n  %s", why, strings.Join(all, "\n  "))
					return
				}
				right++
			})
		}
		t.Logf("%s: %d/%d right (replayed)", name, right, total)
	}
}

// The sources suite (manifests/scenarios/sources): a pod for each reason
// Kubernetes writes and each runtime's error grammar, written from those
// sources and frozen before the detectors were changed for them. Scored
// here and in BENCHMARKS.md; the floor below is the score it must keep.
func TestSourcesSuite(t *testing.T) {
	right, total := 0, 0
	var wrong []string
	for _, s := range load(t, "../../manifests/scenarios/sources") {
		if ok, _ := Replayable(s); !ok {
			continue
		}
		total++
		cat, cause, _ := diagnose(t, s)
		if ok, why := s.Expect.Judge(cat, cause); ok {
			right++
		} else {
			wrong = append(wrong, s.Name+": "+why+" — got "+cat+": "+cause)
		}
	}
	t.Logf("sources: %d/%d right\n  %s", right, total, strings.Join(wrong, "\n  "))
	if right < sourcesFloor {
		t.Errorf("sources suite: %d/%d right, below the published %d", right, total, sourcesFloor)
	}
}

// sourcesFloor is the sources suite's published score (BENCHMARKS.md).
const sourcesFloor = 34

// The replay is not a mirror of the answer: a scenario whose status says
// OOMKilled is diagnosed OOMKilled, and the same pod with its status taken
// away is healthy.
func TestReplayFollowsTheEvidence(t *testing.T) {
	all, err := kwok.EmbeddedScenarios()
	if err != nil {
		t.Fatal(err)
	}
	s := all["crashloop-oom"]
	if cat, _, _ := diagnose(t, s); cat != "OOMKilled" {
		t.Fatalf("crashloop-oom: %q", cat)
	}
	healthy := *s
	healthy.Status, healthy.Events, healthy.Logs = nil, nil, nil
	if cat, cause, _ := diagnose(t, &healthy); cat != "" {
		t.Fatalf("without its status the pod runs: got %s: %s", cat, cause)
	}
}
