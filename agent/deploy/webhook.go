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
)

// WebhookSecret holds the bearer token of the agent's Alertmanager webhook
// (key token): mounted into `lab agent serve`, referenced by the
// AlertmanagerConfig. lab creates it in the cluster and never writes it to
// git or the host.
const WebhookSecret = "lab-agent-webhook"

// EnsureWebhookSecret creates the webhook's token Secret (32 random bytes,
// hex) unless it exists: a second apply keeps the token Alertmanager has.
func EnsureWebhookSecret(ctx context.Context, cs kubernetes.Interface, l *config.Lab, dryRun bool) (string, error) {
	sc := cs.CoreV1().Secrets(l.Agent.Namespace)
	if _, err := sc.Get(ctx, WebhookSecret, metav1.GetOptions{}); err == nil {
		return "Secret " + l.Agent.Namespace + "/" + WebhookSecret + " unchanged", nil
	} else if !apierrors.IsNotFound(err) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookSecret, Namespace: l.Agent.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "lab", "app.kubernetes.io/part-of": "lab-agent"}},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"token": hex.EncodeToString(b)},
	}
	opts := metav1.CreateOptions{FieldManager: "lab"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := sc.Create(ctx, s, opts); err != nil {
		return "", fmt.Errorf("creating the webhook's token Secret: %w", err)
	}
	return "Secret " + l.Agent.Namespace + "/" + WebhookSecret + " created", nil
}
