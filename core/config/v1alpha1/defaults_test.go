package v1alpha1

import (
	"reflect"
	"strings"
	"testing"
)

// A zero written in the file is a value, not "unset": it survives loading.
// Absent fields still get their defaults.
func TestZerosInTheFileSurviveDefaults(t *testing.T) {
	src := `apiVersion: lab.dev/v1alpha1
kind: Lab
agent:
  llm:
    retry: {jitter: 0}
    breaker: {failureRatio: 0}
  remediation: {maxReplicas: 0}
`
	l, err := Load("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Agent.Remediation.MaxReplicas; got != 0 {
		t.Errorf("maxReplicas: 0 loaded as %d", got)
	}
	if got := l.Agent.LLM.Retry.Jitter; got != 0 {
		t.Errorf("jitter: 0 loaded as %v", got)
	}
	if got := l.Agent.LLM.Breaker.FailureRatio; got != 0 {
		t.Errorf("failureRatio: 0 loaded as %v", got)
	}
	d := Default()
	if l.Agent.LLM.Retry.Multiplier != d.Agent.LLM.Retry.Multiplier || l.Agent.LLM.TokenBudget != d.Agent.LLM.TokenBudget {
		t.Errorf("absent fields lost their defaults: %+v", l.Agent.LLM)
	}
	// null leaves the default, as before.
	l, err = Load("lab.yaml", []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nagent: {llm: {retry: {jitter: null}}}\n"))
	if err != nil || l.Agent.LLM.Retry.Jitter != 0.1 {
		t.Errorf("jitter: null → %v, %v; want the default 0.1", l.Agent.LLM.Retry.Jitter, err)
	}
}

// Every path setDefaults names must be a field of lab.yaml, or a zero in the
// file would silently be overwritten again.
func TestDefaultPathsAreFields(t *testing.T) {
	l := &Lab{Cluster: Cluster{PortMappings: []PortMapping{{}}}}
	var asked []string
	setDefaults(l, defaulter{given: func(p string) bool { asked = append(asked, p); return false }})
	if len(asked) < 20 {
		t.Fatalf("only %d paths asked", len(asked))
	}
	for _, p := range asked {
		if !fieldPathExists(reflect.TypeOf(Lab{}), p) {
			t.Errorf("setDefaults names %q, which is not a lab.yaml field", p)
		}
	}
}

func fieldPathExists(t reflect.Type, path string) bool {
	for _, part := range strings.Split(path, ".") {
		part, _, _ = strings.Cut(part, "[")
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		f, ok := fieldsOf(t)[part]
		if !ok {
			return false
		}
		t = f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return true
}
