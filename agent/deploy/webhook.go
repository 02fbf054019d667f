package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
)

// WebhookSecret holds the bearer token of the agent's Alertmanager webhook
// (key token): mounted into `lab agent serve`, referenced by the
// AlertmanagerConfig. lab creates it in the cluster and never writes it to
// git or the host.
const WebhookSecret = "lab-agent-webhook"

// InstallServe runs `lab agent serve` in the cluster: the webhook's token
// Secret, then the serve manifests (Deployment, Service, ServiceMonitor,
// AlertmanagerConfig, NetworkPolicy) through a (the Prometheus stack's CRDs
// must exist). Install comes first: it makes the namespace.
func InstallServe(ctx context.Context, a *kube.Applier, cs kubernetes.Interface, l *config.Lab, dryRun bool) ([]kube.Result, error) {
	sec, err := EnsureWebhookSecret(ctx, cs, l, dryRun)
	if err != nil {
		return nil, err
	}
	objs, err := Render(l, Serve)
	if err != nil {
		return []kube.Result{sec}, err
	}
	res, err := a.Apply(ctx, objs)
	return append([]kube.Result{sec}, res...), err
}

// EnsureWebhookSecret creates the webhook's token Secret (32 random bytes,
// hex) unless it exists: a second apply keeps the token Alertmanager has.
func EnsureWebhookSecret(ctx context.Context, cs kubernetes.Interface, l *config.Lab, dryRun bool) (kube.Result, error) {
	res := kube.Result{Object: l.Agent.Namespace + "/Secret/" + WebhookSecret, Action: "unchanged"}
	sc := cs.CoreV1().Secrets(l.Agent.Namespace)
	if _, err := sc.Get(ctx, WebhookSecret, metav1.GetOptions{}); err == nil {
		return res, nil
	} else if !apierrors.IsNotFound(err) {
		return res, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return res, err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookSecret, Namespace: l.Agent.Namespace,
			Labels: kube.Managed(map[string]string{"app.kubernetes.io/part-of": "lab-agent"})},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"token": hex.EncodeToString(b)},
	}
	opts := metav1.CreateOptions{FieldManager: "lab"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := sc.Create(ctx, s, opts); err != nil {
		return res, fmt.Errorf("creating the webhook's token Secret: %w", err)
	}
	res.Action = "created"
	return res, nil
}
