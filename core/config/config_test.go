package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "lab.dev/lab/core/config/v1alpha1"
)

// The conversion loses nothing: internal → v1alpha1 → internal is the
// identity on a lab with every field set, and Encode/Decode round-trips.
func TestConversionRoundTrip(t *testing.T) {
	l := Default()
	l.Cluster.Provisioner, l.Cluster.NodeImage, l.Cluster.Kubeconfig, l.Cluster.Context = "terraform", "img:1", "/k", "ctx"
	l.Cluster.Workers, l.Cluster.GPUWorkers, l.Cluster.Kwok.BinDir = 3, 2, "/bin"
	l.Cluster.RegistryMirrors = []Mirror{{Registry: "docker.io", Endpoint: "http://m:5000"}}
	l.Cluster.PortMappings = []PortMapping{{ContainerPort: 80, HostPort: 8080, ListenAddress: "0.0.0.0", Protocol: "UDP"}}
	l.Stacks.Linkerd.Enabled, l.Stacks.Prometheus.Version = false, "1.2.3"
	l.Stacks.Ollama.Values, l.Stacks.Ollama.Timeout, l.Stacks.Ollama.Model = map[string]any{"a": "b"}, 3*time.Minute, "llama3:8b"
	l.GitOps.Repo, l.Agent.LLM.Model, l.Agent.LLM.Retry.Jitter = "http://git", "m", 0
	l.Agent.Remediation.Enabled, l.Agent.Remediation.MaxReplicas, l.Agent.APF.Enabled = true, 0, false
	l.Policies = Policies{Enabled: true, Enforce: true, Namespaces: []string{"shop", "demo"}}
	l.Stacks.Kyverno.Enabled, l.Stacks.Kyverno.Version = true, "3.9.1"
	if got := FromV1alpha1(ToV1alpha1(l)); !reflect.DeepEqual(got, l) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, l)
	}
	got, err := Decode(Encode(l))
	if err != nil || !reflect.DeepEqual(got, l) {
		t.Errorf("Encode/Decode: %v\n got %+v\nwant %+v", err, got, l)
	}
	// Every field of the internal type is set above, so a field the
	// conversion forgets shows up as a difference: guard that it stays so.
	if n := reflect.TypeOf(Lab{}).NumField(); n != 6 {
		t.Errorf("Lab has %d fields: extend this test", n)
	}
}

func TestLoadDispatchesOnAPIVersion(t *testing.T) {
	l, err := Load("lab.yaml", []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\ncluster: {provider: kwok, workers: 0}\nagent: {llm: {retry: {jitter: 0}}}\n"))
	if err != nil || l.Cluster.Provider != "kwok" || l.Agent.LLM.Retry.Jitter != 0 || l.Agent.LLM.Timeout != 120*time.Second || !l.Stacks.ArgoCD.Enabled {
		t.Fatalf("%+v %v", l, err)
	}
	_, err = Load("lab.yaml", []byte("apiVersion: lab.dev/v9\nkind: Lab\n"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `lab.yaml:1: apiVersion: unknown apiVersion "lab.dev/v9"`) {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := Load("lab.yaml", []byte("kind: Lab\n")); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "apiVersion") {
		t.Errorf("missing version: %v", err)
	}
	if d, w := Default(), FromV1alpha1(v1.Default()); !reflect.DeepEqual(d, w) {
		t.Error("Default differs from v1alpha1's")
	}
}

// Names that end up in manifests are checked against their grammar at load,
// each reported with its file, line and field (a crafted model name once
// reached the in-cluster Job's YAML).
func TestLoadRefusesNamesOutsideTheirGrammar(t *testing.T) {
	_, err := Load("lab.yaml", []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\n"+
		"stacks:\n  ollama: {model: \"phi3\\\"]\\n evil: x\"}\n"+
		"agent:\n  namespaces: [demo, \"kube-system -A\"]\n  llm: {model: \"../../etc\"}\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("crafted names accepted: %v", err)
	}
	for _, want := range []string{"lab.yaml:4: stacks.ollama.model", "lab.yaml:6: agent.namespaces[1]", "lab.yaml:7: agent.llm.model"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, ok := range []string{"phi3:mini", "llama3:8b", "registry.local:5000/team/phi3:mini", "hf.co/org/model:Q4_K_M"} {
		if !ModelName.MatchString(ok) {
			t.Errorf("%s refused", ok)
		}
	}
}
