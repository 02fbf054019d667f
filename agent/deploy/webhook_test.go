package deploy

import (
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
