package collect

import (
	"context"
	"fmt"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Snapshot is a namespace (or the cluster) read in one LIST per kind, for a
// triage of every pod: the per-pod bundles then come from memory, and only
// logs are read per pod.
type Snapshot struct {
	Pods   []corev1.Pod
	Errors []string // lists that failed (RBAC, timeouts): the bundles say what they lack

	evs     map[objKey][]corev1.Event
	owners  map[objKey]metav1.Object
	nodes   map[string]*corev1.Node
	pvcs    map[objKey]*corev1.PersistentVolumeClaim
	netpols map[string][]networkingv1.NetworkPolicy
	listing map[string]error
}

type objKey struct{ kind, ns, name string }

// NewSnapshot lists pods, events, owners, nodes and claims of namespace
// ("" = all namespaces) in parallel.
func NewSnapshot(ctx context.Context, cs kubernetes.Interface, namespace string) (*Snapshot, error) {
	s := &Snapshot{evs: map[objKey][]corev1.Event{}, owners: map[objKey]metav1.Object{}, nodes: map[string]*corev1.Node{},
		pvcs: map[objKey]*corev1.PersistentVolumeClaim{}, netpols: map[string][]networkingv1.NetworkPolicy{}, listing: map[string]error{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	lo := metav1.ListOptions{}
	list := func(what string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.listing[what] = err
				s.Errors = append(s.Errors, fmt.Sprintf("listing %s: %v", what, err))
			}
		}()
	}
	list("pods", func() error {
		l, err := cs.CoreV1().Pods(namespace).List(ctx, lo)
		if err == nil {
			s.Pods = l.Items
		}
		return err
	})
	list("events", func() error {
		l, err := cs.CoreV1().Events(namespace).List(ctx, lo)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, e := range l.Items {
			k := objKey{e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name}
			s.evs[k] = append(s.evs[k], e)
		}
		return nil
	})
	owners := map[string]func() ([]metav1.Object, error){
		"ReplicaSet": func() ([]metav1.Object, error) {
			l, err := cs.AppsV1().ReplicaSets(namespace).List(ctx, lo)
			return objects(l, err, func(l *appsv1.ReplicaSetList) []appsv1.ReplicaSet { return l.Items })
		},
		"Deployment": func() ([]metav1.Object, error) {
			l, err := cs.AppsV1().Deployments(namespace).List(ctx, lo)
			return objects(l, err, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items })
		},
		"StatefulSet": func() ([]metav1.Object, error) {
			l, err := cs.AppsV1().StatefulSets(namespace).List(ctx, lo)
			return objects(l, err, func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items })
		},
		"DaemonSet": func() ([]metav1.Object, error) {
			l, err := cs.AppsV1().DaemonSets(namespace).List(ctx, lo)
			return objects(l, err, func(l *appsv1.DaemonSetList) []appsv1.DaemonSet { return l.Items })
		},
		"Job": func() ([]metav1.Object, error) {
			l, err := cs.BatchV1().Jobs(namespace).List(ctx, lo)
			return objects(l, err, func(l *batchv1.JobList) []batchv1.Job { return l.Items })
		},
		"CronJob": func() ([]metav1.Object, error) {
			l, err := cs.BatchV1().CronJobs(namespace).List(ctx, lo)
			return objects(l, err, func(l *batchv1.CronJobList) []batchv1.CronJob { return l.Items })
		},
	}
	for kind, f := range owners {
		list(strings.ToLower(kind)+"s", func() error {
			objs, err := f()
			mu.Lock()
			defer mu.Unlock()
			for _, o := range objs {
				s.owners[objKey{kind, o.GetNamespace(), o.GetName()}] = o
			}
			return err
		})
	}
	list("nodes", func() error {
		l, err := cs.CoreV1().Nodes().List(ctx, lo)
		if err == nil {
			mu.Lock()
			for i := range l.Items {
				s.nodes[l.Items[i].Name] = &l.Items[i]
			}
			mu.Unlock()
		}
		return err
	})
	list("networkpolicies", func() error {
		l, err := cs.NetworkingV1().NetworkPolicies(namespace).List(ctx, lo)
		if err == nil {
			mu.Lock()
			for _, np := range l.Items {
				s.netpols[np.Namespace] = append(s.netpols[np.Namespace], np)
			}
			mu.Unlock()
		}
		return err
	})
	list("persistentvolumeclaims", func() error {
		l, err := cs.CoreV1().PersistentVolumeClaims(namespace).List(ctx, lo)
		if err == nil {
			mu.Lock()
			for i := range l.Items {
				s.pvcs[objKey{"PersistentVolumeClaim", l.Items[i].Namespace, l.Items[i].Name}] = &l.Items[i]
			}
			mu.Unlock()
		}
		return err
	})
	wg.Wait()
	if err := s.listing["pods"]; err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return s, nil
}

// objects are pointers to a list's items, as metav1.Objects.
func objects[L any, T any, PT interface {
	*T
	metav1.Object
}](l L, err error, items func(L) []T) ([]metav1.Object, error) {
	if err != nil {
		return nil, err
	}
	its := items(l)
	out := make([]metav1.Object, len(its))
	for i := range its {
		out[i] = PT(&its[i])
	}
	return out, nil
}

// Bundle is the evidence about one of the snapshot's pods; only its logs
// are read from the API server.
func (s *Snapshot) Bundle(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, o Options) *Bundle {
	o = o.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	b := gather(ctx, pod, o, s, cs)
	b.Errors = append(b.Errors, s.Errors...)
	return b
}

func (s *Snapshot) owner(_ context.Context, kind, ns, name string) (metav1.Object, any, error) {
	if _, ok := map[string]bool{"ReplicaSet": true, "Deployment": true, "StatefulSet": true, "DaemonSet": true, "Job": true, "CronJob": true}[kind]; !ok {
		return nil, nil, errUnknownOwner
	}
	o, ok := s.owners[objKey{kind, ns, name}]
	if ok {
		return o, o, nil
	}
	if err := s.listing[strings.ToLower(kind)+"s"]; err != nil {
		return nil, nil, err
	}
	return nil, nil, apierrors.NewNotFound(appsv1.Resource(strings.ToLower(kind)+"s"), name)
}

func (s *Snapshot) events(_ context.Context, ns, kind, name, uid string) ([]corev1.Event, error) {
	var out []corev1.Event
	for _, e := range s.evs[objKey{kind, ns, name}] {
		if uid == "" || string(e.InvolvedObject.UID) == uid {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Snapshot) node(_ context.Context, name string) (*corev1.Node, error) {
	if n, ok := s.nodes[name]; ok {
		return n, nil
	}
	if err := s.listing["nodes"]; err != nil {
		return nil, err
	}
	return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
}

func (s *Snapshot) networkPolicies(_ context.Context, ns string) ([]networkingv1.NetworkPolicy, error) {
	if err := s.listing["networkpolicies"]; err != nil {
		return nil, err
	}
	return s.netpols[ns], nil
}

func (s *Snapshot) pvc(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if p, ok := s.pvcs[objKey{"PersistentVolumeClaim", ns, name}]; ok {
		return p, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), name)
}
