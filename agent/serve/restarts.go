package serve

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// restartsDesc is the restart count of each container of the agent's
// namespaces: what kube-state-metrics' kube_pod_container_status_restarts_total
// says, on a lab without kube-state-metrics. cAdvisor cannot say it: a
// container that lives seconds between back-offs (an OOM kill at start-up)
// is rarely alive when Prometheus scrapes, so its start times never change
// in the series and lab's LabContainerRestarted rule, reading them alone,
// never fired for it.
var restartsDesc = prometheus.NewDesc("lab_agent_container_restarts_total",
	"Restarts of each container in the agent's namespaces (the pod's status.containerStatuses[].restartCount).",
	[]string{"namespace", "pod", "container"}, nil)

// restarts is a collector reading pods from informers' caches when scraped.
type restarts struct{ listers []corelisters.PodLister }

func (r *restarts) Describe(ch chan<- *prometheus.Desc) { ch <- restartsDesc }

func (r *restarts) Collect(ch chan<- prometheus.Metric) {
	for _, l := range r.listers {
		pods, err := l.List(labels.Everything())
		if err != nil {
			continue
		}
		for _, p := range pods {
			for _, sts := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
				for _, st := range sts {
					ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(st.RestartCount), p.Namespace, p.Name, st.Name)
				}
			}
		}
	}
}

// WatchRestarts exports lab_agent_container_restarts_total for the pods of
// namespaces (every namespace when empty), watched through informers until
// ctx ends. It returns once the caches are filled, or after 30 s with an
// error naming the namespaces whose caches did not fill (the agent's RBAC,
// an API server that does not answer): the others are exported all the same.
func (m *Metrics) WatchRestarts(ctx context.Context, cs kubernetes.Interface, namespaces []string) error {
	if len(namespaces) == 0 {
		namespaces = []string{corev1.NamespaceAll}
	}
	r := &restarts{}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	type watched struct {
		ns     string
		done   chan struct{}
		synced cache.InformerSynced
		lister corelisters.PodLister
	}
	var all []watched
	for _, ns := range namespaces {
		w := watched{ns: ns, done: make(chan struct{})}
		f := informers.NewSharedInformerFactoryWithOptions(cs, 10*time.Minute, informers.WithNamespace(ns))
		pods := f.Core().V1().Pods()
		w.synced, w.lister = pods.Informer().HasSynced, pods.Lister()
		f.Start(w.done)
		all = append(all, w)
	}
	// A namespace the agent may not read (lab.yaml's list and the pod's
	// differ) costs only that namespace's counts, not every one's.
	var failed []string
	for _, w := range all {
		if !cache.WaitForCacheSync(sctx.Done(), w.synced) {
			close(w.done)
			failed = append(failed, w.ns)
			continue
		}
		context.AfterFunc(ctx, func() { close(w.done) }) // each informer runs until ctx ends
		r.listers = append(r.listers, w.lister)
	}
	if len(r.listers) == 0 { // every informer stopped above
		return fmt.Errorf("watching the pods of %v for their restart counts: the caches did not fill in 30s", namespaces)
	}
	if err := m.Registry.Register(r); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("restart counts exported for %d of %d namespaces: the pods of %v could not be read in 30s", len(r.listers), len(namespaces), failed)
	}
	return nil
}
