// Package replay builds a scenario's world without a cluster: the workload,
// the owner chain its controllers would make (Deployment → ReplicaSet → Pod,
// Job → Pod, StatefulSet → Pod), the pod status the kubelet would report
// (the scenario's, as kwok applies it), its events and its logs, served by
// client-go's fake clientset and a log source. It lets the detectors run on
// every scenario in plain `go test ./...` in seconds; the integration suite
// still replays them on a real API server with kwok for the real gather.
//
// What needs a real scheduler (scenarios with wait: unschedulable, whose
// evidence is the scheduler's own message) is not replayed here.
package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"lab.dev/lab/agent/collect"
	"lab.dev/lab/bootstrap/cluster/kwok"
)

// Node is the node replayed pods run on, Ready, as a kwok worker.
const Node = "lab-worker-1"

// World is one replayed scenario.
type World struct {
	Client *fake.Clientset
	Pods   []corev1.Pod
	logs   map[string]kwok.ContainerLogs // by container name (every pod alike)
}

// Replayable says whether s can be replayed without a cluster, and why not.
func Replayable(s *kwok.Scenario) (bool, string) {
	if s.Wait == "unschedulable" {
		return false, "its evidence is the real scheduler's message"
	}
	return true, ""
}

// Build replays s in namespace ns as of now.
func Build(s *kwok.Scenario, ns string, now time.Time) (*World, error) {
	objs, err := kwok.DecodeYAML([]byte(s.Objects))
	if err != nil {
		return nil, fmt.Errorf("%s objects: %w", s.Name, err)
	}
	var status *corev1.PodStatus
	if len(s.Status) > 0 {
		status = &corev1.PodStatus{}
		if err := json.Unmarshal([]byte(kwok.ExpandNow(string(s.Status), now)), status); err != nil {
			return nil, fmt.Errorf("%s status: %w", s.Name, err)
		}
	}
	cs := fake.NewSimpleClientset(node(now))
	cs.PrependReactor("list", "events", eventsByField(cs))
	w := &World{Client: cs, logs: map[string]kwok.ContainerLogs{}}
	ctx := context.Background()
	for i, u := range objs {
		u.SetNamespace(ns)
		if err := w.create(ctx, u, i, status, now); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", s.Name, u.GetKind(), u.GetName(), err)
		}
	}
	logs, err := s.ContainerLogs()
	if err != nil {
		return nil, err
	}
	for _, l := range logs {
		w.logs[l.Container] = l
	}
	for _, p := range w.Pods {
		if err := w.events(ctx, s, &p, now); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func node(now time.Time) *corev1.Node {
	q := resource.MustParse
	rl := corev1.ResourceList{corev1.ResourceCPU: q("32"), corev1.ResourceMemory: q("256Gi"), corev1.ResourcePods: q("110")}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: Node, UID: "node-uid", Labels: map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": Node}},
		Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}},
	}
}

// eventsByField filters event lists by involvedObject fields, as the API
// server does (the fake clientset honours only label selectors).
func eventsByField(cs *fake.Clientset) k8stesting.ReactionFunc {
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		la, ok := a.(k8stesting.ListAction)
		if !ok || la.GetListRestrictions().Fields == nil || la.GetListRestrictions().Fields.Empty() {
			return false, nil, nil
		}
		sel := la.GetListRestrictions().Fields
		obj, err := cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("events"), corev1.SchemeGroupVersion.WithKind("Event"), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		in := obj.(*corev1.EventList)
		out := &corev1.EventList{}
		for _, e := range in.Items {
			if sel.Matches(fields.Set{"involvedObject.kind": e.InvolvedObject.Kind, "involvedObject.name": e.InvolvedObject.Name, "involvedObject.uid": string(e.InvolvedObject.UID)}) {
				out.Items = append(out.Items, e)
			}
		}
		return true, out, nil
	}
}

func uid(kind, name string) types.UID { return types.UID(strings.ToLower(kind) + "-" + name) }

func ref(kind, apiVersion, name string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid(kind, name), Controller: &t, BlockOwnerDeletion: &t}
}

// create makes u and, for a workload, what its controllers would make.
func (w *World) create(ctx context.Context, u *unstructured.Unstructured, i int, status *corev1.PodStatus, now time.Time) error {
	conv := runtime.DefaultUnstructuredConverter
	ns := u.GetNamespace()
	created := metav1.NewTime(now.Add(-15 * time.Minute))
	u.SetUID(uid(u.GetKind(), u.GetName()))
	u.SetCreationTimestamp(created)
	switch u.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := conv.FromUnstructured(u.Object, &d); err != nil {
			return err
		}
		if _, err := w.Client.AppsV1().Deployments(ns).Create(ctx, &d, metav1.CreateOptions{}); err != nil {
			return err
		}
		rsName := fmt.Sprintf("%s-%x", d.Name, 0x5d8f7c+i)
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: rsName, Namespace: ns, UID: uid("ReplicaSet", rsName), Labels: d.Spec.Template.Labels,
			CreationTimestamp: created, OwnerReferences: []metav1.OwnerReference{ref("Deployment", "apps/v1", d.Name)}},
			Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template}}
		if _, err := w.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			return err
		}
		return w.pods(ctx, ns, rsName+"-", ref("ReplicaSet", "apps/v1", rsName), d.Spec.Template, replicas(d.Spec.Replicas), status, now)
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := conv.FromUnstructured(u.Object, &s); err != nil {
			return err
		}
		if _, err := w.Client.AppsV1().StatefulSets(ns).Create(ctx, &s, metav1.CreateOptions{}); err != nil {
			return err
		}
		return w.pods(ctx, ns, s.Name+"-", ref("StatefulSet", "apps/v1", s.Name), s.Spec.Template, replicas(s.Spec.Replicas), status, now)
	case "Job":
		var j batchv1.Job
		if err := conv.FromUnstructured(u.Object, &j); err != nil {
			return err
		}
		if status != nil && status.Phase == corev1.PodFailed {
			jobFailed(&j, status.Reason == "DeadlineExceeded", now)
		}
		if _, err := w.Client.BatchV1().Jobs(ns).Create(ctx, &j, metav1.CreateOptions{}); err != nil {
			return err
		}
		return w.pods(ctx, ns, j.Name+"-", ref("Job", "batch/v1", j.Name), j.Spec.Template, 1, status, now)
	case "Pod":
		var p corev1.Pod
		if err := conv.FromUnstructured(u.Object, &p); err != nil {
			return err
		}
		return w.pod(ctx, &p, status, now)
	case "PersistentVolumeClaim":
		var c corev1.PersistentVolumeClaim
		if err := conv.FromUnstructured(u.Object, &c); err != nil {
			return err
		}
		c.Status.Phase = corev1.ClaimPending
		_, err := w.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &c, metav1.CreateOptions{})
		return err
	case "NetworkPolicy":
		var np networkingv1.NetworkPolicy
		if err := conv.FromUnstructured(u.Object, &np); err != nil {
			return err
		}
		_, err := w.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &np, metav1.CreateOptions{})
		return err
	}
	return fmt.Errorf("kind %s is not replayed", u.GetKind())
}

// jobFailed gives a Job whose pods all fail what the Job controller writes
// once it has retried backoffLimit times (pkg/controller/job: reason
// BackoffLimitExceeded, "Job has reached the specified backoff limit"), or
// once it ran past activeDeadlineSeconds (DeadlineExceeded, "Job was active
// longer than specified deadline").
func jobFailed(j *batchv1.Job, deadline bool, now time.Time) {
	limit := int32(6) // the API's default backoffLimit
	if j.Spec.BackoffLimit != nil {
		limit = *j.Spec.BackoffLimit
	}
	t := metav1.NewTime(now.Add(-time.Minute))
	j.Status.Failed = limit + 1
	j.Status.StartTime = &metav1.Time{Time: now.Add(-15 * time.Minute)}
	reason, msg := batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	if deadline && j.Spec.ActiveDeadlineSeconds != nil {
		reason, msg = batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
		j.Status.Failed = 1
	}
	for _, c := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: c, Status: corev1.ConditionTrue,
			Reason: reason, Message: msg, LastTransitionTime: t, LastProbeTime: t})
	}
}

func replicas(r *int32) int {
	if r == nil {
		return 1
	}
	return int(*r)
}

func (w *World) pods(ctx context.Context, ns, prefix string, owner metav1.OwnerReference, t corev1.PodTemplateSpec, n int, status *corev1.PodStatus, now time.Time) error {
	for k := 0; k < n; k++ {
		name := fmt.Sprintf("%s%05x", prefix, 0xa2c4e+k)
		if owner.Kind == "StatefulSet" {
			name = fmt.Sprintf("%s%d", prefix, k)
		}
		p := &corev1.Pod{ObjectMeta: *t.ObjectMeta.DeepCopy(), Spec: *t.Spec.DeepCopy()}
		p.Name, p.Namespace, p.OwnerReferences = name, ns, []metav1.OwnerReference{owner}
		if err := w.pod(ctx, p, status, now); err != nil {
			return err
		}
	}
	return nil
}

// pod schedules p on Node and gives it the scenario's status (merged over a
// scheduled pod's, as kwok's stage does) or, without one, kwok's Running and
// Ready (Succeeded for a Job's pod).
func (w *World) pod(ctx context.Context, p *corev1.Pod, status *corev1.PodStatus, now time.Time) error {
	p.UID = uid("Pod", p.Name)
	p.CreationTimestamp = metav1.NewTime(now.Add(-15 * time.Minute))
	if p.Spec.NodeName == "" {
		p.Spec.NodeName = Node
	}
	start := metav1.NewTime(now.Add(-14 * time.Minute))
	if status != nil {
		p.Status = *status.DeepCopy()
		p.Status.Conditions = append([]corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: p.CreationTimestamp}}, p.Status.Conditions...)
	} else {
		p.Status = running(p, start)
	}
	if p.Status.StartTime == nil && p.Status.Phase != corev1.PodPending {
		p.Status.StartTime = &start
	}
	created, err := w.Client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	w.Pods = append(w.Pods, *created)
	return nil
}

func running(p *corev1.Pod, start metav1.Time) corev1.PodStatus {
	st := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &start}
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: start})
	}
	for _, c := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "kwok://" + c.Image,
			Ready: true, Started: new(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}})
	}
	return st
}

// events records the scenario's events about p (or its owner), as Apply does.
func (w *World) events(ctx context.Context, s *kwok.Scenario, p *corev1.Pod, now time.Time) error {
	evs, err := s.EventsFor(ctx, w.Client, p, now)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if _, err := w.Client.CoreV1().Events(p.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// Logs serves the scenario's logs as the pod log subresource would:
// Previous, LimitBytes and TailLines honoured.
func (w *World) Logs(_ context.Context, _ *corev1.Pod, o *corev1.PodLogOptions) (io.ReadCloser, error) {
	l := w.logs[o.Container]
	text := l.Current
	if o.Previous {
		text = l.Previous
	}
	if o.TailLines != nil {
		lines := strings.SplitAfter(text, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if n := int(*o.TailLines); len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		text = strings.Join(lines, "")
	}
	if o.LimitBytes != nil && int64(len(text)) > *o.LimitBytes {
		text = text[:*o.LimitBytes]
	}
	return io.NopCloser(bytes.NewReader([]byte(text))), nil
}

var _ collect.LogSource = (*World)(nil).Logs
