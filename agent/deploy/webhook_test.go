package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"lab.dev/lab/core/config"
)

// The in-cluster webhook is authenticated end to end in the manifests:
// Alertmanager sends the Secret's token, the agent reads the same Secret,
// and only Alertmanager and Prometheus may reach the pod.
func TestServeManifestsCarryTheToken(t *testing.T) {
	objs, err := Render(config.Default(), Serve)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byKind[o.GetKind()] = o
	}
	amc := byKind["AlertmanagerConfig"]
	hooks, _, _ := unstructured.NestedSlice(amc.Object, "spec", "receivers")
	wh := hooks[0].(map[string]any)["webhookConfigs"].([]any)[0].(map[string]any)
	auth, _, _ := unstructured.NestedMap(wh, "httpConfig", "authorization")
	cred, _ := auth["credentials"].(map[string]any)
	if auth["type"] != "Bearer" || cred["name"] != WebhookSecret || cred["key"] != "token" {
		t.Errorf("AlertmanagerConfig webhook authorization: %v", auth)
	}
	// A prediction and the failure it warned of are two groups: grouped by
	// pod alone, the OOM kill's alert waited out group_interval (5 min)
	// behind the prediction sent for the same pod (seen on the kind lab).
	if by, _, _ := unstructured.NestedStringSlice(amc.Object, "spec", "route", "groupBy"); strings.Join(by, ",") != "alertname,namespace,pod" {
		t.Errorf("AlertmanagerConfig groupBy %v", by)
	}
	dep := byKind["Deployment"]
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	args, _ := cs[0].(map[string]any)["args"].([]any)
	var argv []string
	for _, a := range args {
		argv = append(argv, a.(string))
	}
	if !strings.Contains(strings.Join(argv, " "), "--token-file=/etc/lab-agent/webhook/token") {
		t.Errorf("agent args: %v", argv)
	}
	vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	found := false
	for _, v := range vols {
		if sec, ok := v.(map[string]any)["secret"].(map[string]any); ok && sec["secretName"] == WebhookSecret {
			found = true
		}
	}
	if !found {
		t.Errorf("the Secret is not mounted: %v", vols)
	}
	np := byKind["NetworkPolicy"]
	if np == nil || !strings.Contains(YAML([]*unstructured.Unstructured{np}), "app.kubernetes.io/name: alertmanager") {
		t.Errorf("no NetworkPolicy admitting Alertmanager: %v", np)
	}
}

// A crafted pod name, namespace or model cannot change the in-cluster Job:
// each is checked against its grammar, and the arguments are typed values
// (before, `--model 'x", ...]\n      initContainers: …'` pasted a container
// into the template's YAML).
func TestDiagnoseJobRefusesCraftedValues(t *testing.T) {
	l := config.Default()
	for _, s := range []JobSpec{
		{Pod: "web-1", PodNamespace: "shop", Model: "phi3\", \"--x\"]\n      initContainers: [{name: evil, image: busybox}]\n#"},
		{Pod: "web-1\"]\n#", PodNamespace: "shop"},
		{Pod: "web-1", PodNamespace: "shop -n kube-system"},
		{Pod: "web-1", PodNamespace: "shop", Output: "json --no-llm"},
	} {
		if j, err := DiagnoseJob(l, s); err == nil {
			t.Errorf("%+v accepted: %+v", s, j.Spec.Template.Spec)
		}
	}
	j, err := DiagnoseJob(l, JobSpec{Pod: "web-1", PodNamespace: "shop", Model: "registry.local:5000/team/phi3:mini", NoLLM: true})
	if err != nil {
		t.Fatal(err)
	}
	c := j.Spec.Template.Spec.Containers
	if len(c) != 1 || len(j.Spec.Template.Spec.InitContainers) != 0 || j.Namespace != l.Agent.Namespace {
		t.Fatalf("job: %+v", j.Spec.Template.Spec)
	}
	want := []string{"diagnose", "web-1", "-n", "shop", "--in-cluster-run", "-o", "markdown", "--llm-endpoint", l.InClusterLLMEndpoint(), "--model", "registry.local:5000/team/phi3:mini", "--no-llm"}
	if strings.Join(c[0].Args, " ") != strings.Join(want, " ") {
		t.Fatalf("args %q, want %q", c[0].Args, want)
	}
}

// Values from outside enter the agent's manifests as quoted scalars: a
// namespace, LLM endpoint or image carrying YAML (which lab.yaml's grammar
// checks refuse at load — this is the second wall) yields objects holding
// exactly that string, and no key or object it tried to add.
func TestManifestsQuoteOutsideValues(t *testing.T) {
	l := config.Default()
	l.Agent.Namespace = "lab-agent\n  evil: true"
	l.Agent.Namespaces = []string{"shop}, {kind: ClusterRoleBinding", "a\"b"}
	l.Agent.Remediation.Enabled = true
	l.Agent.LLM.Endpoint = `http://x/"], securityContext: {privileged: true}, y: ["`
	objs, err := Render(l, RBAC, Remediation, Serve)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, o := range objs {
		if o.GetKind() == "ClusterRoleBinding" && strings.Contains(o.GetName(), "shop") {
			t.Errorf("an injected object: %v", o.Object)
		}
		b, _ := json.Marshal(o.Object)
		all.Write(b)
	}
	for _, bad := range []string{`"evil":`, `"privileged":`} {
		if strings.Contains(all.String(), bad) {
			t.Errorf("injected key %s in %s", bad, all.String())
		}
	}
	found := 0
	for _, o := range objs {
		if o.GetNamespace() == l.Agent.Namespace || o.GetNamespace() == l.Agent.Namespaces[0] || o.GetNamespace() == l.Agent.Namespaces[1] {
			found++
		}
		if o.GetKind() == "Deployment" {
			args, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			c := args[0].(map[string]any)
			if last := c["args"].([]any); last[len(last)-1] != "--llm-endpoint="+l.Agent.LLM.Endpoint {
				t.Errorf("the endpoint argument: %q", last[len(last)-1])
			}
		}
	}
	if found == 0 {
		t.Error("no object carries the namespaces verbatim")
	}
}

// The in-cluster agent has no lab.yaml and no lab state: it is told the
// model the lab serves (on the kind lab it asked Ollama for its own
// default, phi3:mini, which the lab's Ollama did not have), and nothing
// when the caller resolved none.
func TestServeManifestsNameTheModel(t *testing.T) {
	argsOf := func(l *config.Lab) string {
		args, _ := serveContainer(t, l)["args"].([]any)
		return fmt.Sprint(args)
	}
	l := config.Default()
	if a := argsOf(l); strings.Contains(a, "--model") {
		t.Errorf("a model flag with no model resolved: %s", a)
	}
	l.Agent.LLM.Model = "lab-tiny:latest"
	if a := argsOf(l); !strings.Contains(a, "--model=lab-tiny:latest") {
		t.Errorf("args %s lack the lab's model", a)
	}
}

// The in-cluster agent diagnoses and counts the restarts of the namespaces
// its Role covers, lab.yaml's agent.namespaces, not the default lab's (on
// the kind lab it watched [default demo] while its Role covered [demo]).
func TestServeManifestsNameTheNamespaces(t *testing.T) {
	l := config.Default()
	l.Agent.Namespaces = []string{"shop", "payments"}
	args, _ := serveContainer(t, l)["args"].([]any)
	n := 0
	for _, a := range args {
		if s, _ := a.(string); strings.HasPrefix(s, "--namespaces") {
			n++
			if s != "--namespaces=shop,payments" {
				t.Errorf("namespaces flag %q", s)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d namespaces flags in %v", n, args)
	}
}

// lab.yaml's agent.tracing.endpoint reaches the in-cluster agent as the
// standard OpenTelemetry variable, quoted like every outside value; no
// endpoint, no variable.
func TestServeManifestsCarryTheTracingEndpoint(t *testing.T) {
	envOf := func(l *config.Lab) []any {
		env, _ := serveContainer(t, l)["env"].([]any)
		return env
	}
	l := config.Default()
	if env := envOf(l); len(env) != 0 {
		t.Errorf("env without an endpoint: %v", env)
	}
	l.Agent.Tracing.Endpoint = `http://otel-collector.monitoring:4318"}, {name: LD_PRELOAD, value: "/x`
	env := envOf(l)
	if len(env) != 1 || env[0].(map[string]any)["name"] != "OTEL_EXPORTER_OTLP_ENDPOINT" || env[0].(map[string]any)["value"] != l.Agent.Tracing.Endpoint {
		t.Errorf("env %v", env)
	}
}

// serveContainer is the agent's container in the serve manifests rendered
// for l.
func serveContainer(t *testing.T, l *config.Lab) map[string]any {
	t.Helper()
	objs, err := Render(l, Serve)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			return cs[0].(map[string]any)
		}
	}
	t.Fatal("no Deployment in the serve manifests")
	return nil
}
