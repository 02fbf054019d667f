package stacks

import (
	"strings"
	"testing"

	"lab.dev/lab/core/config"
	"lab.dev/lab/stacks/certs"
)

func get(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, "/") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// The value names are the upstream charts' own (their values.yaml):
// argo-cd (argoproj/argo-helm), linkerd-crds and linkerd-control-plane
// (linkerd/linkerd2), kube-prometheus-stack (prometheus-community), ollama
// (otwld/ollama-helm).
func TestValuesUseUpstreamNames(t *testing.T) {
	set, err := certs.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := config.Default()
	l.Stacks.Prometheus.Values = map[string]any{"grafana": map[string]any{"enabled": false}}
	cases := map[string][]string{
		"argocd":                {"configs/cm/resource.customizations.health.argoproj.io_Application", "dex/enabled", "notifications/enabled", "configs/params/server.insecure", "controller/resources/requests/memory", "repoServer/replicas"},
		"linkerd-crds":          {"installGatewayAPI"},
		"linkerd-control-plane": {"identityTrustAnchorsPEM", "identity/issuer/tls/crtPEM", "identity/issuer/tls/keyPEM"},
		"kube-prometheus-stack": {"additionalPrometheusRulesMap/lab-saturation/groups", "prometheus/prometheusSpec/serviceMonitorSelectorNilUsesHelmValues", "prometheus/prometheusSpec/retention", "alertmanager/alertmanagerSpec/alertmanagerConfigSelector", "grafana/enabled"},
		"kyverno":               {"admissionController/replicas", "config/webhooks/namespaceSelector/matchExpressions"},
		"ollama":                {"ollama/models/pull", "resources/requests/memory", "persistentVolume/enabled"},
	}
	for rel, paths := range cases {
		v, err := Values(rel, Env{Lab: l, Model: "phi3:mini", Certs: set})
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, p := range paths {
			if _, ok := get(v, p); !ok {
				t.Errorf("%s: no %s", rel, p)
			}
		}
	}
	v, _ := Values("linkerd-control-plane", Env{Lab: l, Certs: set})
	if pem, _ := get(v, "identityTrustAnchorsPEM"); pem != set.AnchorPEM {
		t.Error("trust anchor not passed")
	}
	if g, _ := get(mustValues(t, "kube-prometheus-stack", Env{Lab: l}), "grafana/enabled"); g != false {
		t.Error("user values did not win over lab's")
	}
	if _, ok := get(mustValues(t, "ollama", Env{Lab: l, Model: "phi3:mini"}), "ollama/gpu"); ok {
		t.Error("GPU asked for without GPU workers")
	}
	gv := mustValues(t, "ollama", Env{Lab: l, Model: "llama3:8b", GPU: true})
	for path, want := range map[string]any{"ollama/gpu/enabled": true, "ollama/gpu/type": "nvidia", "ollama/gpu/number": 1, "runtimeClassName": "nvidia"} {
		if got, _ := get(gv, path); got != want {
			t.Errorf("GPU values %s = %v, want %v", path, got, want)
		}
	}
	if pull, _ := get(gv, "ollama/models/pull"); pull.([]any)[0] != "llama3:8b" {
		t.Errorf("model %v", pull)
	}
	if _, err := Values("linkerd-control-plane", Env{Lab: l}); err == nil {
		t.Error("linkerd without certificates accepted")
	}
}

func mustValues(t *testing.T, rel string, e Env) map[string]any {
	v, err := Values(rel, e)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValuesDiffAndMerge(t *testing.T) {
	d := ValuesDiff(map[string]any{"a": map[string]any{"b": 1, "c": "x"}, "gone": true}, map[string]any{"a": map[string]any{"b": 2, "c": "x"}, "new": 1})
	want := []string{"a.b: 1 → 2", "gone: true → (unset)", "new: (unset) → 1"}
	if strings.Join(d, "|") != strings.Join(want, "|") {
		t.Errorf("diff %v", d)
	}
	if len(ValuesDiff(map[string]any{"n": 1}, map[string]any{"n": float64(1)})) != 0 {
		t.Error("1 and 1.0 differ")
	}
	m := Merge(map[string]any{"a": map[string]any{"x": 1, "y": 2}}, map[string]any{"a": map[string]any{"y": 3}})
	if a := m["a"].(map[string]any); a["x"] != 1 || a["y"] != 3 {
		t.Errorf("merge %v", m)
	}
}

func TestGPUPlanForKindGPUWorkers(t *testing.T) {
	l := config.Default()
	l.Cluster.Provider, l.Cluster.GPUWorkers = "kind", 1
	g := GPUPlan(l)
	if g == nil || len(g.Objects) != 1 || g.Objects[0].GetKind() != "RuntimeClass" || g.Objects[0].GetName() != "nvidia" {
		t.Fatalf("gpu plan: %+v", g)
	}
	r := g.Releases[0]
	if r.Chart.Name != "nvidia-device-plugin" || r.Chart.Version == "" || r.Values["runtimeClassName"] != "nvidia" {
		t.Errorf("device plugin release: %+v", r)
	}
	if ns := r.Values["nodeSelector"].(map[string]any)["nvidia.com/gpu.present"]; ns != "true" {
		t.Errorf("nodeSelector %v", r.Values["nodeSelector"])
	}
	plans, err := Plans(l, Env{Lab: l, Model: "llama3:8b", GPU: true, Certs: mustCerts(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		if p.Name == "ollama" && strings.Join(p.DependsOn, ",") != "gpu" {
			t.Errorf("ollama does not wait for the device plugin: %v", p.DependsOn)
		}
	}
	l.Cluster.Provider = "k3s"
	if g := GPUPlan(l); g == nil || g.Releases[0].Name != "nvidia-device-plugin" {
		t.Error("k3s GPU workers get the RuntimeClass and device plugin too")
	}
	l.Cluster.Provider = "kwok"
	if GPUPlan(l) != nil {
		t.Error("kwok GPU nodes are simulated: no device plugin")
	}
}

func mustCerts(t *testing.T) *certs.Set {
	s, err := certs.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
