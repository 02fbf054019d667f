package analyze

import (
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/agent/collect"
	"lab.dev/lab/manifests"
)

// Term is one entry of the vocabulary: the reasons Kubernetes writes for one
// kind of event, and what a diagnosis makes of them.
type Term struct {
	Reasons  []string `json:"reasons"`            // exact, or a prefix ending in *
	Where    string   `json:"where"`              // event, container, pod, job, scheduler
	Category string   `json:"category,omitempty"` // the finding's category; empty with Info
	Info     bool     `json:"info,omitempty"`     // progress, not a failure: no finding
	Facts    []string `json:"facts"`              // what the cause must quote
	Action   string   `json:"action"`             // what to do
}

// Vocabulary is manifests/vocabulary/reasons.yaml.
type Vocabulary struct {
	Terms  []Term
	exact  map[string]*Term
	prefix map[string]*Term
}

var (
	vocOnce sync.Once
	voc     *Vocabulary
	vocErr  error
)

// LoadVocabulary reads the embedded vocabulary (once).
func LoadVocabulary() (*Vocabulary, error) {
	vocOnce.Do(func() { voc, vocErr = ParseVocabulary(manifests.VocabularyYAML) })
	return voc, vocErr
}

// ParseVocabulary decodes a vocabulary strictly and checks every term.
func ParseVocabulary(b []byte) (*Vocabulary, error) {
	v := &Vocabulary{exact: map[string]*Term{}, prefix: map[string]*Term{}}
	if err := yaml.UnmarshalStrict(b, &v.Terms); err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	for i := range v.Terms {
		t := &v.Terms[i]
		switch {
		case len(t.Reasons) == 0:
			return nil, fmt.Errorf("vocabulary term %d: no reasons", i)
		case t.Info == (t.Category != ""):
			return nil, fmt.Errorf("vocabulary %v: a term has a category or is info, not both or neither", t.Reasons)
		case t.Action == "" || (!t.Info && len(t.Facts) == 0):
			return nil, fmt.Errorf("vocabulary %v: facts and action are required", t.Reasons)
		}
		for _, r := range t.Reasons {
			if p, ok := strings.CutSuffix(r, "*"); ok {
				v.prefix[p] = t
			} else if v.exact[r] != nil {
				return nil, fmt.Errorf("vocabulary: reason %q mapped twice", r)
			} else {
				v.exact[r] = t
			}
		}
	}
	return v, nil
}

// Lookup finds the term for a reason: exact first, then the longest prefix.
func (v *Vocabulary) Lookup(reason string) (*Term, bool) {
	if t, ok := v.exact[reason]; ok {
		return t, true
	}
	best := ""
	for p := range v.prefix {
		if strings.HasPrefix(reason, p) && len(p) > len(best) {
			best = p
		}
	}
	return v.prefix[best], best != ""
}

// fromVocabulary: when no detector explains a pod that is not settled, a
// reason Kubernetes wrote on it (its status, a container's waiting reason, a
// Warning event) that the vocabulary maps to a failure still gives a
// finding, quoting Kubernetes' own message, with the vocabulary's action.
func fromVocabulary(b *collect.Bundle) []Finding {
	v, err := LoadVocabulary()
	if err != nil || settled(b) {
		return nil
	}
	type said struct{ reason, msg, id string }
	var all []said
	if st := b.Pod.Status; st.Reason != "" {
		all = append(all, said{st.Reason, st.Message, "pod:phase"})
	}
	for _, s := range append(statuses(b, true), statuses(b, false)...) {
		if w := s.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			all = append(all, said{w.Reason, w.Message, "container:" + s.Name + ":state"})
		}
	}
	for i, e := range b.Events {
		if e.Type == corev1.EventTypeWarning {
			all = append(all, said{e.Reason, e.Message, fmt.Sprintf("event:%d", i)})
		}
	}
	for _, s := range all {
		t, ok := v.Lookup(s.reason)
		if !ok || t.Info {
			continue
		}
		cause := fmt.Sprintf("Kubernetes reports %s", s.reason)
		if m := strings.TrimSpace(s.msg); m != "" {
			cause += ": " + clip(m, 240)
		}
		return []Finding{{Category: t.Category, Severity: Warning, Evidence: []string{s.id}, Cause: cause,
			Runbook: []string{t.Action, "lab has no specific rule for this case yet: the facts to look at are " + strings.Join(t.Facts, "; ") + "."}}}
	}
	return nil
}
