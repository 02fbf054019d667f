package stacks

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
)

// The rules render from lab.yaml's agent.prediction into PromQL's own
// duration syntax; Prometheus' {{ }} templates pass through; without a
// history guard (minHistory: 0) the offset clause is gone.
func TestSaturationRulesRender(t *testing.T) {
	b, err := SaturationRules(config.Prediction{Window: 10 * time.Minute, Horizon: 30 * time.Minute, For: 30 * time.Second, MinHistory: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"[10m], 1800)", "[10m:1m], 1800)", "for: 30s", "offset 1m30s)", "within 30m", "{{ $labels.namespace }}"} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered rules lack %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "<%") || strings.Contains(s, "7200") {
		t.Errorf("unrendered or default values left:\n%s", s)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr, For string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil || len(rules.Groups) != 2 || len(rules.Groups[0].Rules) != 4 {
		t.Fatalf("not the rule file: %v %+v", err, rules)
	}
	def, err := SaturationRules(config.Default().Agent.Prediction)
	if err != nil || !strings.Contains(string(def), "[1h], 7200)") || !strings.Contains(string(def), "offset 30m)") || !strings.Contains(string(def), "for: 10m") {
		t.Errorf("defaults: %v\n%s", err, def)
	}
	p := config.Default().Agent.Prediction
	p.MinHistory = 0
	none, _ := SaturationRules(p)
	if strings.Contains(string(none), "} offset") || strings.Contains(string(none), "bytes offset") {
		t.Errorf("a negative minHistory keeps the guard:\n%s", none)
	}
}
