package llm

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Whatever the model answers, Validate keeps only evidence ids that exist,
// an action from the whitelist (or none) and a known confidence — never a
// panic, never an action it was not allowed.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte(`{"summary":"s","root_cause":"the pod crashed because the database refused","evidence":["container:app:last","log:app:previous#L3"],"confidence":"high","remediation":{"action":"restart"},"runbook":["Check the database."]}`))
	f.Add([]byte(`{"root_cause":"x","evidence":["nope"],"remediation":{"action":"delete-namespace","replicas":-5}}`))
	f.Add([]byte(`{"evidence":null,"runbook":[""],"confidence":7}`))
	known := []string{"container:app:last", "log:app:previous", "event:0"}
	whitelist := []string{"restart", "rollback"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var a Answer
		if json.Unmarshal(raw, &a) != nil {
			return
		}
		got, _ := Validate(a, known, whitelist)
		if act := got.Remediation.Action; act != "" && act != "none" && !slices.Contains(whitelist, act) {
			t.Fatalf("action %q survived", act)
		}
		for _, id := range got.Evidence {
			base, _, _ := strings.Cut(id, "#")
			if !slices.Contains(known, id) && !slices.Contains(known, base) {
				t.Fatalf("evidence %q survived", id)
			}
		}
		if !slices.Contains([]string{"low", "medium", "high"}, got.Confidence) {
			t.Fatalf("confidence %q", got.Confidence)
		}
	})
}
