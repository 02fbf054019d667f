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
// ctx ends. It returns once the caches are filled, or with the error that
// kept them from it (the agent's RBAC, an API server that does not answer).
func (m *Metrics) WatchRestarts(ctx context.Context, cs kubernetes.Interface, namespaces []string) error {
	if len(namespaces) == 0 {
		namespaces = []string{corev1.NamespaceAll}
	}
	wctx, stop := context.WithCancel(ctx) // stopped on a failure below, else with ctx
	context.AfterFunc(ctx, stop)
	r := &restarts{}
	var synced []cache.InformerSynced
	for _, ns := range namespaces {
		f := informers.NewSharedInformerFactoryWithOptions(cs, 10*time.Minute, informers.WithNamespace(ns))
		pods := f.Core().V1().Pods()
		r.listers = append(r.listers, pods.Lister())
		synced = append(synced, pods.Informer().HasSynced)
		f.Start(wctx.Done())
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), synced...) {
		stop() // no informer left retrying
		return fmt.Errorf("watching the pods of %v for their restart counts: the caches did not fill in 30s", namespaces)
	}
	return m.Registry.Register(r)
}
