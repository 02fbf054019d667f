package v1alpha1

import (
	"encoding/json"
	"errors"
	"lab.dev/lab/core/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkGolden compares got with testdata/<name> (golden.Check).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), got)
}

func TestFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) < 8 {
		t.Fatalf("expected the valid-*/invalid-* fixtures, found %d", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			l, err := Load(filepath.Base(f), data)
			switch {
			case strings.HasPrefix(name, "valid-"):
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				js, _ := json.MarshalIndent(l, "", "  ")
				checkGolden(t, name+".golden.json", append(js, '\n'))
			case strings.HasPrefix(name, "invalid-"):
				if err == nil {
					t.Fatal("want an error, got none")
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error does not wrap ErrInvalid: %v", err)
				}
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.HasPrefix(line, filepath.Base(f)+":") {
						t.Errorf("error line lacks file name: %q", line)
					}
				}
				checkGolden(t, name+".golden.txt", []byte(err.Error()+"\n"))
			}
		})
	}
}

// Every problem of invalid-many.yaml is reported at once, each on its line.
func TestAllErrorsAtOnce(t *testing.T) {
	data, _ := os.ReadFile("testdata/invalid-many.yaml")
	_, err := Load("lab.yaml", data)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %T %v", err, err)
	}
	want := map[string]int{
		"metadata.name":                    4,
		"cluster.provider":                 6,
		"cluster.workers":                  7,
		"cluster.gpuWorkrs":                8,
		"cluster.controlPlanes":            9,
		"cluster.portMappings[0].hostPort": 12,
		"stacks.ollama.timeout":            15,
		"agent.apf.handSize":               19,
		"agent.llm.retry.jitter":           22,
	}
	got := map[string]int{}
	for _, e := range es {
		got[e.Path] = e.Line
	}
	for path, line := range want {
		if got[path] != line {
			t.Errorf("%s: want line %d, got %d (all: %v)", path, line, got[path], es)
		}
	}
	if s := es.Error(); !strings.Contains(s, "lab.yaml:7: cluster.workers: must be >= 0, got -1") {
		t.Errorf("missing the canonical message in:\n%s", s)
	}
}

func TestUnknownFieldSuggests(t *testing.T) {
	_, err := Load("x.yaml", []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\ncluster:\n  wrokers: 2\n"))
	if err == nil || !strings.Contains(err.Error(), `x.yaml:4: cluster.wrokers: unknown field (did you mean "workers"?)`) {
		t.Fatalf("got %v", err)
	}
}

func TestDefaultsRoundTrip(t *testing.T) {
	b, err := Template(Default())
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load("template", b)
	if err != nil {
		t.Fatalf("lab init's output does not load:\n%v\n%s", err, b)
	}
	a, _ := json.Marshal(l)
	d, _ := json.Marshal(Default())
	if string(a) != string(d) {
		t.Errorf("template does not round-trip to the defaults:\n%s\n%s", a, d)
	}
}

// The repo-root lab.yaml is the documented default lab: exactly `lab init`.
func TestRepoLabYAMLIsTemplate(t *testing.T) {
	want, _ := Template(Default())
	got, err := os.ReadFile("../../../lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if golden.Updating() {
		os.WriteFile("../../../lab.yaml", want, 0o644)
		return
	}
	if string(got) != string(want) {
		t.Errorf("lab.yaml differs from `lab init` output; run go test ./bootstrap/config -update")
	}
}

func TestSchema(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	props := s["properties"].(map[string]any)
	cluster := props["cluster"].(map[string]any)["properties"].(map[string]any)
	prov := cluster["provider"].(map[string]any)
	if got := prov["enum"]; len(got.([]any)) != 4 {
		t.Errorf("provider enum = %v", got)
	}
	if cluster["workers"].(map[string]any)["minimum"] != float64(0) {
		t.Errorf("workers minimum = %v", cluster["workers"])
	}
	ollama := props["stacks"].(map[string]any)["properties"].(map[string]any)["ollama"].(map[string]any)["properties"].(map[string]any)
	for _, k := range []string{"enabled", "version", "values", "model"} {
		if _, ok := ollama[k]; !ok {
			t.Errorf("stacks.ollama lacks %s (inline embed flattened?)", k)
		}
	}
	checkGolden(t, "schema.golden.json", append(b, '\n'))
}

// agent.tracing.endpoint is an http(s) URL: anything else is named with
// its file and line; a valid one round-trips.
func TestTracingEndpoint(t *testing.T) {
	_, err := Load("lab.yaml", []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: x}\nagent:\n  tracing:\n    endpoint: \"grpc://collector:4317\"\n"))
	if err == nil || !strings.Contains(err.Error(), "lab.yaml:6") || !strings.Contains(err.Error(), "agent.tracing.endpoint") {
		t.Errorf("a non-HTTP endpoint: %v", err)
	}
	l, err := Load("lab.yaml", []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: x}\nagent: {tracing: {endpoint: \"http://otel-collector.monitoring:4318\"}}\n"))
	if err != nil || l.Agent.Tracing.Endpoint != "http://otel-collector.monitoring:4318" {
		t.Errorf("a valid endpoint: %v %+v", err, l)
	}
}
