package deploy

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/version"
	"lab.dev/lab/manifests"
)

// JobSpec says what the in-cluster diagnosis does.
type JobSpec struct {
	Pod, PodNamespace string
	Output            string // text, markdown, json
	NoLLM             bool
	Image             string
	Model             string // the lab's model (empty: the pod's default)
}

// DiagnoseJob renders the Job that runs `lab diagnose` in the cluster as the
// agent's ServiceAccount.
func DiagnoseJob(l *config.Lab, s JobSpec) (*batchv1.Job, error) {
	if s.Image == "" {
		s.Image = AgentImage()
	}
	if s.Output == "" {
		s.Output = "markdown"
	}
	if errs := validation.IsDNS1123Subdomain(s.Pod); len(errs) > 0 {
		return nil, fmt.Errorf("pod name %q: %s", s.Pod, errs[0])
	}
	if errs := validation.IsDNS1123Label(s.PodNamespace); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q: %s", s.PodNamespace, errs[0])
	}
	if s.Model != "" && !config.ModelName.MatchString(s.Model) {
		return nil, fmt.Errorf("model %q: not an Ollama model name ([host/][namespace/]name[:tag])", s.Model)
	}
	if !slices.Contains([]string{"text", "markdown", "json"}, s.Output) {
		return nil, fmt.Errorf("output %q: want text, markdown or json", s.Output)
	}
	raw, err := manifests.Agent.ReadFile("agent/job.yaml")
	if err != nil {
		return nil, err
	}
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(raw, &j); err != nil {
		return nil, fmt.Errorf("manifests/agent/job.yaml: %w", err)
	}
	// User values enter as typed fields, one argument each: no value can add
	// a flag, a container or a volume to the Job.
	j.Namespace = l.Agent.Namespace
	c := &j.Spec.Template.Spec.Containers[0]
	c.Image = s.Image
	c.Args = []string{"diagnose", s.Pod, "-n", s.PodNamespace, "--in-cluster-run", "-o", s.Output, "--llm-endpoint", l.InClusterLLMEndpoint()}
	if s.Model != "" {
		c.Args = append(c.Args, "--model", s.Model)
	}
	if s.NoLLM {
		c.Args = append(c.Args, "--no-llm")
	}
	return &j, nil
}

// AgentImage is the image the in-cluster agent runs: lab's own static
// binary, built by `make image` as lab.dev/lab:<lab version> and loaded
// into kind and k3s nodes by `lab up` / `lab agent image`; never pulled
// from a registry.
func AgentImage() string { return version.AgentImage() }

// RunJob creates the Job, waits for its pod to finish and copies the pod's
// log (the report) to w. It returns an error when the Job failed.
func RunJob(ctx context.Context, cs kubernetes.Interface, j *batchv1.Job, w io.Writer) (*batchv1.Job, error) {
	created, err := cs.BatchV1().Jobs(j.Namespace).Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating the diagnosis Job: %w", err)
	}
	sel := "job-name=" + created.Name
	var pod *corev1.Pod
	for pod == nil || (pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed) {
		select {
		case <-ctx.Done():
			return created, fmt.Errorf("waiting for Job %s: %w", created.Name, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
		pods, err := cs.CoreV1().Pods(j.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return created, err
		}
		if len(pods.Items) > 0 {
			pod = &pods.Items[0]
		}
	}
	// The kubelet may take a moment to serve a finished container's log; the
	// diagnosis always prints a report, so an empty log is "not yet" too.
	var report []byte
	for i := 0; i < 20; i++ {
		var rc io.ReadCloser
		if rc, err = cs.CoreV1().Pods(j.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "diagnose"}).Stream(ctx); err == nil {
			report, err = io.ReadAll(io.LimitReader(rc, 16<<20))
			rc.Close()
			if err == nil && len(report) > 0 {
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err == nil {
		_, err = w.Write(report)
	}
	if pod.Status.Phase == corev1.PodFailed {
		return created, fmt.Errorf("diagnosis Job %s failed (pod %s)", created.Name, pod.Name)
	}
	return created, err
}
