package kube

import (
	"maps"
	"testing"
)

func TestManaged(t *testing.T) {
	extra := map[string]string{"app.kubernetes.io/part-of": "lab-agent", ManagedByLabel: "helm"}
	got := Managed(extra)
	if want := map[string]string{"app.kubernetes.io/part-of": "lab-agent", ManagedByLabel: "lab"}; !maps.Equal(got, want) {
		t.Errorf("Managed = %v, want %v", got, want)
	}
	if extra[ManagedByLabel] != "helm" {
		t.Error("Managed changed its argument")
	}
	if got := Managed(nil); len(got) != 1 || got[ManagedByLabel] != "lab" {
		t.Errorf("Managed(nil) = %v", got)
	}
}
