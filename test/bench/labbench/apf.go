package main

import (
	"context"
	"fmt"
	"lab.dev/lab/bootstrap/kube"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/config"
	"lab.dev/lab/test/harness"
)

// APFResult compares victim latency with and without lab's APF objects.
type APFResult struct {
	MaxInflight  int        `json:"maxRequestsInflight"`
	AgentWorkers int        `json:"agentWorkers"`
	Phases       []APFPhase `json:"phases"`
}

// APFPhase is one load phase.
type APFPhase struct {
	Name          string             `json:"name"`
	Victims       map[string]Latency `json:"victims"`
	AgentRequests int64              `json:"agentRequests"`
	AgentErrors   int64              `json:"agentErrors"`
}

// Latency summarises one victim's requests.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50ms"`
	P99 float64 `json:"p99ms"`
}

// runAPF starts its own control plane with few inflight seats, fills a
// namespace so LISTs cost something, then measures victims (a controller's
// ServiceAccount in workload-low, and the admin) alone, under an agent burst
// without lab's APF objects, and under the same burst with them.
func runAPF(ctx context.Context, seats, workers int, phase time.Duration) APFResult {
	c, err := harness.Start(ctx, harness.Options{Nodes: []harness.NodeSpec{{Name: "w1"}},
		APIServerArgs: []string{fmt.Sprintf("--max-requests-inflight=%d", seats), "--max-mutating-requests-inflight=4"}})
	check(err)
	defer c.Stop()
	l := config.Default()
	l.Agent.Namespaces = []string{"load"}
	for _, ns := range []string{"load", "argocd", l.Agent.Namespace} {
		c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	}
	fmt.Fprintln(os.Stderr, "apf: creating 400 pods…")
	parallel(400, func(i int) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%03d", i), Labels: map[string]string{"app": "load"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		c.Client.CoreV1().Pods("load").Create(ctx, p, metav1.CreateOptions{})
	})
	a, err := kube.NewApplier(c.Config, false)
	check(err)
	rbac, err := deploy.Render(l, deploy.RBAC)
	check(err)
	_, err = a.Apply(ctx, rbac)
	check(err)
	// The victim: an in-cluster controller's ServiceAccount that may list pods.
	c.Client.CoreV1().ServiceAccounts("argocd").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "application-controller"}}, metav1.CreateOptions{})
	c.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "victim-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "application-controller", Namespace: "argocd"}}}, metav1.CreateOptions{})
	agentCS := saClient(ctx, c, l.Agent.Namespace, deploy.ServiceAccount)
	victimCS := saClient(ctx, c, "argocd", "application-controller")
	adminCS := c.Client

	res := APFResult{MaxInflight: seats, AgentWorkers: workers}
	measure := func(name string, burst bool) {
		bctx, cancel := context.WithTimeout(ctx, phase)
		defer cancel()
		var ph APFPhase
		ph.Name = name
		var agentN, agentErr atomic.Int64
		var wg sync.WaitGroup
		if burst {
			for i := 0; i < workers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for bctx.Err() == nil {
						_, err := agentCS.CoreV1().Pods("load").List(bctx, metav1.ListOptions{})
						agentN.Add(1)
						if err != nil && bctx.Err() == nil {
							agentErr.Add(1)
						}
					}
				}()
			}
		}
		ph.Victims = map[string]Latency{}
		var vmu sync.Mutex
		var vwg sync.WaitGroup
		for name, cs := range map[string]kubernetes.Interface{"controller SA (workload-low)": victimCS, "admin (exempt)": adminCS} {
			vwg.Add(1)
			go func() {
				defer vwg.Done()
				var lat []float64
				for bctx.Err() == nil {
					start := time.Now()
					_, err := cs.CoreV1().Pods("load").List(bctx, metav1.ListOptions{Limit: 50})
					if err == nil {
						lat = append(lat, float64(time.Since(start).Microseconds())/1000)
					} else if len(lat) == 0 {
						fmt.Fprintf(os.Stderr, "apf: victim %s: %v\n", name, err)
					}
					time.Sleep(20 * time.Millisecond)
				}
				vmu.Lock()
				ph.Victims[name] = summarize(lat)
				vmu.Unlock()
			}()
		}
		vwg.Wait()
		cancel()
		wg.Wait()
		ph.AgentRequests, ph.AgentErrors = agentN.Load(), agentErr.Load()
		res.Phases = append(res.Phases, ph)
		fmt.Fprintf(os.Stderr, "apf: %s: %+v\n", name, ph)
	}
	measure("baseline (no agent burst)", false)
	measure("agent burst, no lab APF objects", true)
	apf, err := deploy.Render(l, deploy.APF)
	check(err)
	_, err = a.Apply(ctx, apf)
	check(err)
	for i := 0; i < 50; i++ { // until the FlowSchema is in effect
		if st, _ := deploy.ReadAPF(ctx, c.Client); st.Dangling == "False" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	measure("agent burst, lab APF objects applied", true)
	return res
}

func saClient(ctx context.Context, c *harness.Cluster, ns, name string) kubernetes.Interface {
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	check(err)
	cfg := &rest.Config{Host: c.Server, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: c.PKI.CAFile}, QPS: 1e6, Burst: 1e6}
	cs, err := kubernetes.NewForConfig(cfg)
	check(err)
	return cs
}

func summarize(lat []float64) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return Latency{N: len(lat), P50: q(0.5), P99: q(0.99)}
}
