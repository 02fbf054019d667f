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
