//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
)

// On the real API server: the webhook's token Secret is made once (a second
// apply keeps the token Alertmanager already has, a dry run makes nothing),
// and the serve manifests of built-in kinds (Deployment with the Secret
// mounted, Service, NetworkPolicy) pass a server-side dry run.
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
	if note, err := deploy.EnsureWebhookSecret(ctx, cluster.Client, l, true); err != nil || !strings.Contains(note, "created") {
		t.Fatalf("dry run: %q %v", note, err)
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
	if note, err := deploy.EnsureWebhookSecret(ctx, cluster.Client, l, false); err != nil || !strings.Contains(note, "unchanged") {
		t.Fatalf("second ensure: %q %v", note, err)
	}
	s2, _ := cluster.Client.CoreV1().Secrets(l.Agent.Namespace).Get(ctx, deploy.WebhookSecret, metav1.GetOptions{})
	if string(s2.Data["token"]) != string(s1.Data["token"]) {
		t.Error("a second apply rotated the token Alertmanager holds")
	}
	objs, err := deploy.Render(l, deploy.Serve)
	if err != nil {
		t.Fatal(err)
	}
	var builtin []*unstructured.Unstructured
	for _, o := range objs {
		if !strings.HasPrefix(o.GetAPIVersion(), "monitoring.coreos.com/") { // the Prometheus stack's CRDs are not installed here
			builtin = append(builtin, o)
		}
	}
	dry, err := kube.NewApplier(cluster.Config, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := dry.Apply(ctx, builtin)
	if err != nil || len(res) != 3 {
		t.Fatalf("server-side dry run of the serve manifests: %v %+v", err, res)
	}
}
