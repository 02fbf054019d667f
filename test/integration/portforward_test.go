//go:build integration

package integration

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/stacks"
)

// lab reaches the lab's Ollama the way it does on a real cluster — a
// port-forward through the API server to the Ollama pod (kubectl
// port-forward) — here to a kwok-simulated pod whose port kwok forwards to
// a real Ollama: the model is found and answers; a missing one is reported.
func TestModelThroughPortForward(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := sharedOllama(t)
	u, _ := url.Parse(o.URL)
	port, _ := strconv.Atoi(u.Port())
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stacks.OllamaNamespace}}, metav1.CreateOptions{})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ollama-0", Labels: map[string]string{"app.kubernetes.io/name": "ollama"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ollama", Image: "ollama/ollama", Ports: []corev1.ContainerPort{{ContainerPort: 11434}}}}}}
	if _, err := cluster.Client.CoreV1().Pods(stacks.OllamaNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := cluster.Client.CoreV1().Pods(stacks.OllamaNamespace).Get(ctx, "ollama-0", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("pod never Running: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cluster.SetPortForward(ctx, stacks.OllamaNamespace, "ollama-0", 11434, "127.0.0.1", int32(port)); err != nil {
		t.Fatal(err)
	}
	var ok bool
	var detail string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if ok, detail = stacks.ModelLoaded(ctx, cluster.Config, cluster.Client, o.Model); ok {
			break
		}
	}
	if !ok {
		t.Fatalf("model through the port-forward: %s", detail)
	}
	if ok, detail := stacks.ModelLoaded(ctx, cluster.Config, cluster.Client, "not-there:latest"); ok || detail == "" {
		t.Errorf("a missing model reported loaded: %v %s", ok, detail)
	}
	addr, stop, err := stacks.PortForward(ctx, cluster.Config, cluster.Client, stacks.OllamaNamespace, stacks.OllamaSelector, 11434)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ol, _ := stacks.NewOllama(addr)
	if d, err := ol.Answers(ctx, o.Model); err != nil {
		t.Errorf("model does not answer through the port-forward: %v", err)
	} else {
		t.Logf("%s answered through API server → kwok → Ollama in %s", o.Model, d)
	}
}
