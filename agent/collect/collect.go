// Package collect gathers the evidence about one pod: the pod and its owner
// chain, container statuses, events of the pod and its owners, current and
// previous logs of every container (byte-limited), spec facts, PVCs and the
// node — in parallel, with field selectors, never listing the cluster.
package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Options bound the collection.
type Options struct {
	LogBytes int64         // per container and per current/previous (default 256 KiB)
	Timeout  time.Duration // whole collection (default 20 s)
	Metrics  MetricsSource // optional: the pod's series around the failure
	Window   time.Duration // metrics window (default 30 min)
	// TailLines > 0 reads only that many last lines of each container's
	// current log (a triage of pods that look healthy).
	TailLines int64
	// Logs reads a container's log; nil: the API server (the kubelet's log
	// endpoint). Tests that replay a recorded pod give it its logs here.
	Logs LogSource
}

// LogSource streams one container's log as the API server's pod log
// subresource does, honouring Previous, LimitBytes and TailLines.
type LogSource func(ctx context.Context, p *corev1.Pod, o *corev1.PodLogOptions) (io.ReadCloser, error)

// apiLogs is the LogSource of a live cluster.
func apiLogs(cs kubernetes.Interface) LogSource {
	return func(ctx context.Context, p *corev1.Pod, o *corev1.PodLogOptions) (io.ReadCloser, error) {
		return cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, o).Stream(ctx)
	}
}

// Owner is one link of the owner chain (ReplicaSet → Deployment …).
type Owner struct {
	Kind      string            `json:"kind"`
	Name      string            `json:"name"`
	Object    any               `json:"-"` // *appsv1.Deployment, *batchv1.Job, …
	Condition map[string]string `json:"conditions,omitempty"`
}

// Logs are one container's logs.
type Logs struct {
	Container string `json:"container"`
	Current   string `json:"-"`
	Previous  string `json:"-"`
	Truncated bool   `json:"truncated"`
	Error     string `json:"error,omitempty"`
}

func (o Options) withDefaults() Options {
	if o.LogBytes <= 0 {
		o.LogBytes = 256 << 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	return o
}

func (o Options) logSource(cs kubernetes.Interface) LogSource {
	if o.Logs != nil {
		return o.Logs
	}
	return apiLogs(cs)
}

// Bundle is everything known about the pod.
type Bundle struct {
	Pod    *corev1.Pod                    `json:"-"`
	Owners []Owner                        `json:"owners"`
	Events []corev1.Event                 `json:"-"`
	Logs   []Logs                         `json:"logs"`
	Node   *corev1.Node                   `json:"-"`
	PVCs   []corev1.PersistentVolumeClaim `json:"-"`
	// NetworkPolicies of the pod's namespace that select it.
	NetworkPolicies []networkingv1.NetworkPolicy `json:"-"`
	Metrics         []Series                     `json:"metrics,omitempty"`
	Errors          []string                     `json:"errors,omitempty"` // what could not be read (RBAC, timeouts)
	Collected       time.Time                    `json:"collected"`
	Evidence        []Evidence                   `json:"evidence"`
}

// TruncationMarker stands between the head and the tail of a long log.
const TruncationMarker = "[… lab: log truncated here; what follows is its last lines …]"

// ErrPodNotFound is returned when the pod does not exist.
var ErrPodNotFound = errors.New("pod not found")

// Collect reads everything about namespace/name.
func Collect(ctx context.Context, cs kubernetes.Interface, namespace, name string, o Options) (*Bundle, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	pod, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s/%s", ErrPodNotFound, namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pod %s/%s: %w", namespace, name, err)
	}
	return gather(ctx, pod, o, liveSource{liveOwners{cs}}, cs), nil
}

// source reads what a bundle needs besides the pod and its logs.
type source interface {
	ownerSource
	networkPolicies(ctx context.Context, ns string) ([]networkingv1.NetworkPolicy, error)
	node(ctx context.Context, name string) (*corev1.Node, error)
	pvc(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error)
}

type liveSource struct{ liveOwners }

func (l liveSource) node(ctx context.Context, name string) (*corev1.Node, error) {
	return l.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

func (l liveSource) networkPolicies(ctx context.Context, ns string) ([]networkingv1.NetworkPolicy, error) {
	list, err := l.cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (l liveSource) pvc(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return l.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
}

// gather reads, in parallel, everything about pod but the pod itself.
func gather(ctx context.Context, pod *corev1.Pod, o Options, src source, cs kubernetes.Interface) *Bundle {
	namespace, name := pod.Namespace, pod.Name
	b := &Bundle{Pod: pod, Collected: time.Now().UTC()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	fail := func(what string, err error) {
		mu.Lock()
		b.Errors = append(b.Errors, fmt.Sprintf("%s: %v", what, err))
		mu.Unlock()
	}
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	run(func() {
		owners, evs := b.ownerChain(ctx, src, fail)
		mu.Lock()
		b.Owners = owners
		b.Events = append(b.Events, evs...)
		mu.Unlock()
	})
	run(func() {
		evs, err := src.events(ctx, namespace, "Pod", pod.Name, string(pod.UID))
		if err != nil {
			fail("events", err)
		}
		mu.Lock()
		b.Events = append(b.Events, evs...)
		mu.Unlock()
	})
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	logs := make([]Logs, len(containers))
	for i, c := range containers {
		run(func() {
			if o.TailLines > 0 {
				logs[i] = readTail(ctx, o.logSource(cs), pod, c.Name, o.TailLines)
			} else {
				logs[i] = readLogs(ctx, o.logSource(cs), pod, c.Name, o.LogBytes, restarted(pod, c.Name))
			}
		})
	}
	if pod.Spec.NodeName != "" {
		run(func() {
			n, err := src.node(ctx, pod.Spec.NodeName)
			if err != nil {
				fail("node "+pod.Spec.NodeName, err)
				return
			}
			mu.Lock()
			b.Node = n
			mu.Unlock()
		})
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		claim := v.PersistentVolumeClaim.ClaimName
		run(func() {
			pvc, err := src.pvc(ctx, namespace, claim)
			if err != nil {
				fail("pvc "+claim, err)
				return
			}
			mu.Lock()
			b.PVCs = append(b.PVCs, *pvc)
			mu.Unlock()
		})
	}
	run(func() {
		nps, err := src.networkPolicies(ctx, namespace)
		if err != nil {
			fail("networkpolicies", err)
			return
		}
		var sel []networkingv1.NetworkPolicy
		for _, np := range nps {
			if s, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err == nil && s.Matches(labels.Set(pod.Labels)) {
				sel = append(sel, np)
			}
		}
		mu.Lock()
		b.NetworkPolicies = sel
		mu.Unlock()
	})
	if o.Metrics != nil {
		run(func() {
			w := o.Window
			if w <= 0 {
				w = 30 * time.Minute
			}
			ss, err := o.Metrics.PodSeries(ctx, namespace, name, w)
			if err != nil {
				fail("metrics", err)
			}
			mu.Lock()
			b.Metrics = ss
			mu.Unlock()
		})
	}
	wg.Wait()
	b.Logs = logs
	sort.SliceStable(b.Events, func(i, j int) bool { return eventTime(b.Events[i]).Before(eventTime(b.Events[j])) })
	sort.Strings(b.Errors)
	redactBundle(b)
	b.Evidence = BuildEvidence(b)
	return b
}

// restarted reports whether a container has a previous instance to read.
func restarted(p *corev1.Pod, name string) bool {
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.Name == name {
			return s.RestartCount > 0 || s.LastTerminationState.Terminated != nil
		}
	}
	return false
}

func readTail(ctx context.Context, src LogSource, p *corev1.Pod, container string, n int64) Logs {
	l := Logs{Container: container}
	data, err := streamLogs(ctx, src, p, &corev1.PodLogOptions{Container: container, TailLines: &n}, 64<<10)
	if err != nil {
		l.Error = "current: " + err.Error()
		return l
	}
	l.Current = string(data)
	unreadable(&l, "current", &l.Current)
	return l
}

// streamLogs reads at most n bytes of one container's log.
func streamLogs(ctx context.Context, src LogSource, p *corev1.Pod, o *corev1.PodLogOptions, n int64) ([]byte, error) {
	rc, err := src(ctx, p, o)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, n))
}

// unreadable: the kubelet answers a log it cannot read (a container already
// removed) with this text as the body — an error, not the container's words.
func unreadable(l *Logs, which string, text *string) {
	if strings.HasPrefix(*text, "unable to retrieve container logs for ") {
		l.Error += which + ": " + strings.TrimSpace(*text) + " "
		*text = ""
	}
}

func readLogs(ctx context.Context, src LogSource, p *corev1.Pod, container string, limit int64, previous bool) Logs {
	l := Logs{Container: container}
	stream := func(o *corev1.PodLogOptions, n int64) ([]byte, error) { return streamLogs(ctx, src, p, o, n) }
	// read keeps the head (the first error is often early) and, when the log
	// is longer than the limit, its tail too (the last lines before exit).
	read := func(prev bool) (string, bool, error) {
		head := limit / 2
		lim := head + 1 // one byte more than we keep tells us it was cut
		data, err := stream(&corev1.PodLogOptions{Container: container, Previous: prev, LimitBytes: &lim}, lim)
		if err != nil || int64(len(data)) <= head {
			return string(data), false, err
		}
		data = data[:bytes.LastIndexByte(data[:head], '\n')+1]
		tailLines := int64(400)
		tail, err := stream(&corev1.PodLogOptions{Container: container, Previous: prev, TailLines: &tailLines}, limit-head)
		if err != nil {
			return string(data), true, nil
		}
		return string(data) + TruncationMarker + "\n" + string(tail), true, nil
	}
	var err error
	var cut bool
	if l.Current, cut, err = read(false); err != nil {
		l.Error = "current: " + err.Error()
	}
	l.Truncated = cut
	if previous {
		if l.Previous, cut, err = read(true); err != nil {
			l.Error += " previous: " + err.Error()
		}
		l.Truncated = l.Truncated || cut
	}
	unreadable(&l, "current", &l.Current)
	unreadable(&l, "previous", &l.Previous)
	return l
}

func eventsFor(ctx context.Context, cs kubernetes.Interface, ns, kind, name, uid string) ([]corev1.Event, error) {
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}
	if uid != "" {
		sel["involvedObject.uid"] = uid
	}
	list, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel.AsSelector().String(), Limit: 500})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// ownerSource reads owners and their events: live (one GET each) for one
// pod, or from a Snapshot's lists when many pods are read at once.
type ownerSource interface {
	owner(ctx context.Context, kind, ns, name string) (metav1.Object, any, error)
	events(ctx context.Context, ns, kind, name, uid string) ([]corev1.Event, error)
}

type liveOwners struct{ cs kubernetes.Interface }

func (l liveOwners) owner(ctx context.Context, kind, ns, name string) (metav1.Object, any, error) {
	switch kind {
	case "ReplicaSet":
		o, err := l.cs.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		return o, o, err
	case "Deployment":
		o, err := l.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return o, o, err
	case "StatefulSet":
		o, err := l.cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		return o, o, err
	case "DaemonSet":
		o, err := l.cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		return o, o, err
	case "Job":
		o, err := l.cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		return o, o, err
	case "CronJob":
		o, err := l.cs.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
		return o, o, err
	}
	return nil, nil, errUnknownOwner
}

func (l liveOwners) events(ctx context.Context, ns, kind, name, uid string) ([]corev1.Event, error) {
	return eventsFor(ctx, l.cs, ns, kind, name, uid)
}

var errUnknownOwner = errors.New("owner kind not followed")

// conditions are an owner's status conditions, for the evidence.
func conditions(o any) map[string]string {
	conds := map[string]string{}
	switch v := o.(type) {
	case *appsv1.Deployment:
		for _, c := range v.Status.Conditions {
			conds[string(c.Type)] = string(c.Status) + ": " + c.Reason + " " + c.Message
		}
	case *batchv1.Job:
		for _, c := range v.Status.Conditions {
			conds[string(c.Type)] = string(c.Status) + ": " + c.Reason + " " + c.Message
		}
	}
	if len(conds) == 0 {
		return nil
	}
	return conds
}

// ownerChain follows controller references: Pod → ReplicaSet → Deployment,
// Pod → Job → CronJob, Pod → StatefulSet/DaemonSet; events of each owner too.
func (b *Bundle) ownerChain(ctx context.Context, src ownerSource, fail func(string, error)) ([]Owner, []corev1.Event) {
	var owners []Owner
	var evs []corev1.Event
	ns := b.Pod.Namespace
	ref := metav1.GetControllerOf(b.Pod)
	for depth := 0; ref != nil && depth < 4; depth++ {
		obj, o, err := src.owner(ctx, ref.Kind, ns, ref.Name)
		if errors.Is(err, errUnknownOwner) {
			owners = append(owners, Owner{Kind: ref.Kind, Name: ref.Name})
			return owners, evs
		}
		if err != nil {
			fail(ref.Kind+" "+ref.Name, err)
			owners = append(owners, Owner{Kind: ref.Kind, Name: ref.Name})
			return owners, evs
		}
		owners = append(owners, Owner{Kind: ref.Kind, Name: ref.Name, Object: o, Condition: conditions(o)})
		if e, err := src.events(ctx, ns, ref.Kind, ref.Name, string(obj.GetUID())); err == nil {
			evs = append(evs, e...)
		}
		ref = metav1.GetControllerOf(obj)
	}
	return owners, evs
}
