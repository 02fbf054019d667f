//go:build integration

package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/test/harness"
)

// On the real API server: the webhook's token Secret is made once (a second
// apply keeps the token Alertmanager already has, a dry run makes nothing),
// and every serve manifest - the Deployment with the Secret mounted, Service,
// NetworkPolicy, and the ServiceMonitor and AlertmanagerConfig against the
// real prometheus-operator CRDs - passes a strict server-side dry run.
func TestWebhookSecretAndServeManifests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := config.Default()
	l.Agent.Namespace = "lab-agent-webhook-test"
	a, err := kube.NewApplier(cluster.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deploy.Install(ctx, a, l); err != nil { // the namespace and ServiceAccount
		t.Fatal(err)
	}
	if r, err := deploy.EnsureWebhookSecret(ctx, cluster.Client, l, true); err != nil || r.Action != "created" {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	if _, err := cluster.Client.CoreV1().Secrets(l.Agent.Namespace).Get(ctx, deploy.WebhookSecret, metav1.GetOptions{}); err == nil {
		t.Fatal("the dry run created the Secret")
	}
	if _, err := deploy.EnsureWebhookSecret(ctx, cluster.Client, l, false); err != nil {
		t.Fatal(err)
	}
	s1, err := cluster.Client.CoreV1().Secrets(l.Agent.Namespace).Get(ctx, deploy.WebhookSecret, metav1.GetOptions{})
	if err != nil || len(s1.Data["token"]) != 64 {
		t.Fatalf("token Secret: %v %v", s1, err)
	}
	if r, err := deploy.EnsureWebhookSecret(ctx, cluster.Client, l, false); err != nil || r.Action != "unchanged" {
		t.Fatalf("second ensure: %+v %v", r, err)
	}
	s2, _ := cluster.Client.CoreV1().Secrets(l.Agent.Namespace).Get(ctx, deploy.WebhookSecret, metav1.GetOptions{})
	if string(s2.Data["token"]) != string(s1.Data["token"]) {
		t.Error("a second apply rotated the token Alertmanager holds")
	}
	// The real prometheus-operator CRDs (from the module cache, see
	// test/bin/build.sh), so the AlertmanagerConfig's httpConfig.authorization
	// and the ServiceMonitor are checked against the operator's own schema.
	marker, err := harness.Bin("monitoring-crds")
	if err == nil {
		marker, err = filepath.EvalSymlinks(marker) // the versioned folder holds the CRDs
	}
	if err != nil {
		t.Fatalf("prometheus-operator CRDs not in the test-binary cache (make testbin): %v", err)
	}
	var crds []*unstructured.Unstructured
	for _, f := range []string{"monitoring.coreos.com_alertmanagerconfigs.yaml", "monitoring.coreos.com_servicemonitors.yaml"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(marker), f))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatal(err)
		}
		crds = append(crds, u)
	}
	if _, err := a.Apply(ctx, crds); err != nil {
		t.Fatal(err)
	}
	objs, err := deploy.Render(l, deploy.Serve)
	if err != nil {
		t.Fatal(err)
	}
	dry, res, err := dryRunNewKinds(ctx, t, objs)
	if err != nil || len(res) != len(objs) {
		t.Fatalf("server-side dry run of the serve manifests: %v %+v", err, res)
	}
	// Strict field validation would have refused an unknown field; read
	// back what the operator's schema keeps of the webhook's authorization.
	var amc *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "AlertmanagerConfig" {
			amc = o
		}
	}
	ri, err := dry.Resource(amc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ri.Create(ctx, amc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
	if err != nil {
		t.Fatalf("strict dry-run create: %v", err)
	}
	recv, _, _ := unstructured.NestedSlice(got.Object, "spec", "receivers")
	wh := recv[0].(map[string]any)["webhookConfigs"].([]any)[0].(map[string]any)
	if name, _, _ := unstructured.NestedString(wh, "httpConfig", "authorization", "credentials", "name"); name != deploy.WebhookSecret {
		t.Errorf("the operator's schema dropped the webhook's credentials: %v", wh)
	}
}

// dryRunNewKinds server-side dry-runs objs (strict field validation),
// retrying while kinds whose CRDs were just created are not served yet.
func dryRunNewKinds(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) (*kube.Applier, []kube.Result, error) {
	t.Helper()
	dry, err := kube.NewApplier(cluster.Config, true)
	if err != nil {
		t.Fatal(err)
	}
	var res []kube.Result
	for i := 0; i < 50; i++ {
		if res, err = dry.Apply(ctx, objs); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return dry, res, err
}
