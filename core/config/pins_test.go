package config

import "testing"

func TestPinned(t *testing.T) {
	p := Pinned()
	for _, k := range []string{"kubernetes", "etcd", "kwok", "ollama"} {
		if p.Components[k] == "" {
			t.Errorf("components.%s not pinned", k)
		}
	}
	for _, k := range []string{"argo-cd", "linkerd-crds", "linkerd-control-plane", "kube-prometheus-stack", "ollama"} {
		if p.Charts[k] == "" {
			t.Errorf("charts.%s not pinned", k)
		}
	}
}
