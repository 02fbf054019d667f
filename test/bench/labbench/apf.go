package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/test/harness"
)

// APFResult compares victim latency with and without lab's APF objects,
// under two kinds of agent burst.
type APFResult struct {
	MaxInflight  int        `json:"maxRequestsInflight"`
	MaxMutating  int        `json:"maxMutatingRequestsInflight"`
	AgentWorkers int        `json:"agentWorkers"`
	SlowWorkers  int        `json:"slowWorkers"`
	SlowListMB   float64    `json:"slowListMB"`
	SlowReadKBps int        `json:"slowReadKBps"`
	Phases       []APFPhase `json:"phases"`
}

// APFPhase is one load phase.
type APFPhase struct {
	Name          string             `json:"name"`
	Burst         string             `json:"burst"` // "", "seats" or "cpu"
	Objects       bool               `json:"labObjects"`
	Victims       map[string]Latency `json:"victims"`
	AgentRequests int64              `json:"agentRequests"`
	AgentErrors   int64              `json:"agentErrors"`
	AgentRejected int64              `json:"agentRejected429"`
	// Peak executing seats seen in the middle of the phase, per priority level.
	Seats map[string]float64 `json:"peakExecutingSeats"`
}

// Latency summarises one victim's requests.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50ms"`
	P99 float64 `json:"p99ms"`
}

const (
	slowKBps    = 1024 // read rate of the slow agent LISTs
	victimSA    = "controller SA (workload-low)"
	victimHuman = "human user (global-default)"
	victimAdmin = "admin (exempt)"
)

// runAPF starts its own control plane with few seats and measures three
// victims — a controller's ServiceAccount (workload-low, where every
// ServiceAccount lands by default, the agent's included), a human user
// (global-default) and the system:masters admin (exempt) — alone, and under
// two agent bursts, first without and then with lab's APF objects:
//
//   - seats: agent LISTs of a few large pods read slowly (a busy consumer), so
//     each request holds its seat for seconds while using little CPU — what
//     APF exists to contain;
//   - cpu: a stream of cheap 400-pod LISTs that saturates 2 cores whatever the
//     seat limits — what APF cannot contain.
func runAPF(ctx context.Context, seats, mutating, workers, slowWorkers int, phase time.Duration) APFResult {
	c, err := harness.Start(ctx, harness.Options{Nodes: []harness.NodeSpec{{Name: "w1"}},
		APIServerArgs: []string{fmt.Sprintf("--max-requests-inflight=%d", seats), fmt.Sprintf("--max-mutating-requests-inflight=%d", mutating)}})
	check(err)
	defer c.Stop()
	l := config.Default()
	l.Agent.Namespaces = []string{"load", "bulk"}
	for _, ns := range []string{"load", "bulk", "argocd", l.Agent.Namespace} {
		c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	}
	fmt.Fprintln(os.Stderr, "apf: creating 400 small pods and 48 large ones…")
	parallel(400, func(i int) { createPod(ctx, c.Client, "load", fmt.Sprintf("p-%03d", i), "") })
	const bulkPods, bulkKB = 48, 200
	parallel(bulkPods, func(i int) { createPod(ctx, c.Client, "bulk", fmt.Sprintf("b-%02d", i), randomText(bulkKB<<10)) })
	a, err := kube.NewApplier(c.Config, false)
	check(err)
	rbac, err := deploy.Render(l, deploy.RBAC)
	check(err)
	_, err = a.Apply(ctx, rbac)
	check(err)
	// Victims that may list pods: an in-cluster controller and a human.
	c.Client.CoreV1().ServiceAccounts("argocd").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "application-controller"}}, metav1.CreateOptions{})
	c.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "victims-view"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "application-controller", Namespace: "argocd"},
			{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"}}}, metav1.CreateOptions{})
	agentCfg := saConfig(ctx, c, l.Agent.Namespace, deploy.ServiceAccount)
	agentCS := kubernetes.NewForConfigOrDie(agentCfg)
	human := rest.CopyConfig(c.Config)
	human.QPS, human.Burst = 1e6, 1e6
	human.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}
	victims := map[string]kubernetes.Interface{
		victimSA:    kubernetes.NewForConfigOrDie(saConfig(ctx, c, "argocd", "application-controller")),
		victimHuman: kubernetes.NewForConfigOrDie(human),
		victimAdmin: c.Client,
	}
	slow := slowLister(agentCfg, c.Server+"/api/v1/namespaces/bulk/pods", slowKBps)
	res := APFResult{MaxInflight: seats, MaxMutating: mutating, AgentWorkers: workers, SlowWorkers: slowWorkers,
		SlowListMB: float64(bulkPods*bulkKB) / 1024, SlowReadKBps: slowKBps}

	measure := func(name, burst string, objects bool) {
		bctx, cancel := context.WithTimeout(ctx, phase)
		defer cancel()
		ph := APFPhase{Name: name, Burst: burst, Objects: objects, Victims: map[string]Latency{}, Seats: map[string]float64{}}
		var agentN, agentErr, agent429 atomic.Int64
		var wg sync.WaitGroup
		n := map[string]int{"seats": slowWorkers, "cpu": workers}[burst]
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for bctx.Err() == nil {
					var err error
					if burst == "seats" {
						var rejected bool
						rejected, err = slow(bctx)
						if rejected {
							agent429.Add(1)
						}
					} else {
						_, err = agentCS.CoreV1().Pods("load").List(bctx, metav1.ListOptions{})
					}
					agentN.Add(1)
					if err != nil && bctx.Err() == nil {
						agentErr.Add(1)
					}
				}
			}()
		}
		var vmu sync.Mutex
		var vwg sync.WaitGroup
		for vname, cs := range victims {
			vwg.Add(1)
			go func() {
				defer vwg.Done()
				var lat []float64
				for bctx.Err() == nil {
					start := time.Now()
					_, err := cs.CoreV1().Pods("load").List(bctx, metav1.ListOptions{Limit: 50})
					if err == nil {
						lat = append(lat, float64(time.Since(start).Microseconds())/1000)
					} else if len(lat) == 0 && bctx.Err() == nil {
						fmt.Fprintf(os.Stderr, "apf: victim %s: %v\n", vname, err)
					}
					time.Sleep(20 * time.Millisecond)
				}
				vmu.Lock()
				ph.Victims[vname] = summarize(lat)
				vmu.Unlock()
			}()
		}
		// Sample the seats each level executes while the burst runs.
		vwg.Add(1)
		go func() {
			defer vwg.Done()
			for bctx.Err() == nil {
				for _, lvl := range []string{"workload-low", "global-default", deploy.PriorityLevel} {
					if st, err := deploy.ReadLevel(bctx, c.Client, lvl); err == nil {
						vmu.Lock()
						ph.Seats[lvl] = max(ph.Seats[lvl], st.ExecutingSeats)
						vmu.Unlock()
					}
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
		vwg.Wait()
		cancel()
		wg.Wait()
		ph.AgentRequests, ph.AgentErrors, ph.AgentRejected = agentN.Load(), agentErr.Load(), agent429.Load()
		res.Phases = append(res.Phases, ph)
		fmt.Fprintf(os.Stderr, "apf: %s: %+v\n", name, ph)
		time.Sleep(2 * time.Second) // let slow requests drain before the next phase
	}
	measure("baseline (no agent burst)", "", false)
	measure("slow agent LISTs, no lab APF objects", "seats", false)
	measure("fast agent LISTs, no lab APF objects", "cpu", false)
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
	measure("slow agent LISTs, lab APF objects applied", "seats", true)
	measure("fast agent LISTs, lab APF objects applied", "cpu", true)
	return res
}

func createPod(ctx context.Context, cs kubernetes.Interface, ns, name, blob string) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "load"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if blob != "" {
		p.Annotations = map[string]string{"bench.lab.dev/blob": blob}
	}
	cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
}

// randomText is n bytes of incompressible base64.
func randomText(n int) string {
	b := make([]byte, n*3/4)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// slowLister returns a request that LISTs url as the agent over HTTP/1.1
// with a small socket receive buffer and reads the body at kbps KiB/s: the
// API server blocks writing the response and holds the request's seat until
// the reader is done. It reports whether the server answered 429, after
// waiting its Retry-After as any well-behaved client does.
func slowLister(cfg *rest.Config, url string, kbps int) func(context.Context) (bool, error) {
	c := rest.CopyConfig(cfg)
	c.DisableCompression = true
	c.TLSClientConfig.NextProtos = []string{"http/1.1"}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c.Dial = d.DialContext
	hc, err := rest.HTTPClientFor(c)
	check(err)
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(max(secs, 1)) * time.Second):
			}
			return true, nil
		}
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		buf := make([]byte, 16<<10)
		for {
			n, err := resp.Body.Read(buf)
			if err == io.EOF {
				return false, nil
			} else if err != nil {
				return false, err
			}
			time.Sleep(time.Duration(n) * time.Second / time.Duration(kbps<<10))
		}
	}
}

func saConfig(ctx context.Context, c *harness.Cluster, ns, name string) *rest.Config {
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	check(err)
	return &rest.Config{Host: c.Server, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: c.PKI.CAFile}, QPS: 1e6, Burst: 1e6}
}

func summarize(lat []float64) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return Latency{N: len(lat), P50: q(0.5), P99: q(0.99)}
}
