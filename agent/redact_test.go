package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/serve"
)

// Secrets in the texts collect gathers — a termination message that is the
// log's tail (FallbackToLogsOnError), an event, the pod's status message,
// the log itself — reach none of the texts that leave: the prompt, the
// report in every format, the file and Slack sinks, the incident memory.
// (Before the one choke point, evidence summaries and the timeline carried
// the termination message verbatim.)
func TestNoSecretLeavesThroughAnyOutput(t *testing.T) {
	secrets := []string{"hunter2-db-pass", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYWIifQ.c2lnbmF0dXJlLXgtMQ", "s3cr3t-in-url", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "tok-from-the-log-99"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: "shop", UID: "p1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.local/api:1", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Message: "bootstrapped with session " + secrets[1],
			ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 4,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting failed container"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1,
					Message: "connecting with DB_PASSWORD=" + secrets[0] + "\nFATAL: cannot reach the database"}}}}}}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "shop"}, Type: "Warning", Reason: "BackOff",
		Message:        "pulled with postgres://app:" + secrets[2] + "@db:5432/shop and GITHUB_TOKEN " + secrets[3],
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "api-1", UID: "p1"}}
	cs := fake.NewSimpleClientset(pod, ev)
	logs := func(_ context.Context, _ *corev1.Pod, o *corev1.PodLogOptions) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("starting\napi_key: " + secrets[4] + "\npanic: database unreachable\n")), nil
	}
	dir := t.TempDir()
	mem := memory.Open(filepath.Join(dir, "incidents.json"), 10)
	r, err := Diagnose(context.Background(), cs, "shop", "api-1", Options{NoLLM: true, Logs: logs, Memory: mem})
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{}
	var b bytes.Buffer
	r.Text(&b)
	outs["text"] = b.String()
	b.Reset()
	r.Markdown(&b)
	outs["markdown"] = b.String()
	b.Reset()
	r.JSON(&b)
	outs["json"] = b.String()
	msgs, _, _ := buildPrompt(r.Source, r, 4000, Options{})
	outs["prompt"] = contentOf(msgs)
	if err := (serve.FileSink{Dir: filepath.Join(dir, "reports")}).Write(context.Background(), serve.Target{Namespace: "shop", Pod: "api-1"}, r); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "reports", "*"))
	for _, f := range files {
		c, _ := os.ReadFile(f)
		outs["file "+filepath.Base(f)] = string(c)
	}
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m map[string]string
		json.NewDecoder(req.Body).Decode(&m)
		outs["slack"] = m["text"]
	}))
	defer slack.Close()
	if err := (serve.SlackSink{URL: slack.URL}).Write(context.Background(), serve.Target{Namespace: "shop", Pod: "api-1", Alert: "A"}, r); err != nil {
		t.Fatal(err)
	}
	c, _ := os.ReadFile(filepath.Join(dir, "incidents.json"))
	outs["incident memory"] = string(c)

	if !strings.Contains(outs["json"], "[REDACTED:assignment]") || !strings.Contains(outs["prompt"], "FATAL: cannot reach the database") {
		t.Errorf("the report should still say what happened, with the secrets masked:\n%s\nprompt:\n%s", outs["json"], outs["prompt"])
	}
	for where, text := range outs {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s carries the secret %q", where, s)
			}
		}
	}
}
