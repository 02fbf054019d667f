//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/predict"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/agent/serve"
	"lab.dev/lab/core/config"
	"lab.dev/lab/stacks"
	"lab.dev/lab/test/harness"
)

// predictLab is a real Prometheus holding the scripted shapes' last 3 hours
// (backfilled with promtool), with the running-out shapes reaching their
// limit 50 minutes after now.
type predictLab struct {
	prom    *harness.Prometheus
	now     time.Time
	start   float64
	shapes  []harness.Shape
	horizon time.Duration
}

const predictHistory = 3 * time.Hour

func startPredictLab(t *testing.T, o harness.PrometheusOptions) *predictLab {
	t.Helper()
	dir := t.TempDir()
	o.Dir = dir
	now := time.Now().Truncate(time.Minute)
	start := float64(now.Add(-predictHistory).Unix())
	shapes := harness.Shapes((predictHistory + 50*time.Minute).Seconds())
	om := filepath.Join(dir, "series.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.WriteOpenMetrics(f, shapes, start, float64(now.Unix()), 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o.OpenMetrics = om
	p, err := harness.StartPrometheus(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &predictLab{prom: p, now: now, start: start, shapes: shapes, horizon: 2 * time.Hour}
}

// On a real Prometheus: every running-out shape is predicted within the
// horizon and the linear leak's predicted time is within 15 % of the
// scripted one; sawtooth, noisy-flat, step and slow series raise nothing.
func TestPredictOnRealPrometheus(t *testing.T) {
	pl := startPredictLab(t, harness.PrometheusOptions{})
	src, err := predict.NewPrometheus(pl.prom.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Run(context.Background(), predict.Options{End: pl.now, Horizon: pl.horizon})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Errorf("queries failed: %v", res.Errors)
	}
	byKey := map[string]*predict.Prediction{}
	for _, p := range res.Predictions {
		t.Logf("%s", p.Evidence.Summary)
		byKey[p.Key()] = p
	}
	for _, s := range pl.shapes {
		p := byKey[s.Key()]
		switch {
		case s.Positive && p == nil:
			t.Errorf("%s: not predicted", s.Name)
		case !s.Positive && p != nil:
			t.Errorf("%s: false alarm: %s", s.Name, p.Evidence.Summary)
		case s.Positive && s.Kind == predict.CPU && (p.Throttled <= 0 || !strings.Contains(p.Evidence.Summary, "throttled in")):
			t.Errorf("%s: no throttling in the evidence: %s", s.Name, p.Evidence.Summary)
		case s.Positive && s.Name == "leak-linear":
			want := s.FailAt() - (float64(pl.now.Unix()) - pl.start)
			got := p.In.Seconds()
			if math.Abs(got-want) > 0.15*want {
				t.Errorf("%s: predicted in %s, scripted %s (more than 15 %% off)", s.Name, p.In, time.Duration(want*float64(time.Second)))
			}
		}
	}
}

// positives are the predictions the scripted set must raise: one per
// running-out shape, plus the OOM cycle's restarts.
func positives(shapes []harness.Shape) int {
	n := 1 // oom-cycle's restart counter
	for _, s := range shapes {
		if s.Positive {
			n++
		}
	}
	return n
}

type captureSink struct {
	mu  sync.Mutex
	got map[string][]*report.Report
}

func (c *captureSink) Write(_ context.Context, t serve.Target, r *report.Report) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[t.Alert+" "+t.Namespace+"/"+t.Pod] = append(c.got[t.Alert+" "+t.Namespace+"/"+t.Pod], r)
	return nil
}

// lab agent serve's prediction loop on a real Prometheus: many runs, one
// alert per predicted incident, each a report whose primary finding is the
// prediction citing its series.
func TestPredictServeAlertsOncePerIncident(t *testing.T) {
	pl := startPredictLab(t, harness.PrometheusOptions{})
	src, err := predict.NewPrometheus(pl.prom.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &captureSink{got: map[string][]*report.Report{}}
	m := serve.NewMetrics()
	s := serve.New(serve.Options{}, nil, m, sink)
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	var mu sync.Mutex
	s.RunPredictions(ctx, &serve.Predictor{Every: 100 * time.Millisecond,
		Run: func(ctx context.Context) (*predict.Result, error) {
			mu.Lock()
			runs++
			mu.Unlock()
			return src.Run(ctx, predict.Options{End: pl.now, Horizon: pl.horizon})
		},
		Explain: func(ctx context.Context, p *predict.Prediction) (*report.Report, error) {
			return agent.PredictionReport(ctx, cluster.Client, p, agent.Options{NoLLM: true})
		}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := runs
		mu.Unlock()
		if n >= 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	s.Wait()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if want := positives(pl.shapes); len(sink.got) != want {
		t.Errorf("%d incidents alerted, want %d: %v", len(sink.got), want, keys(sink.got))
	}
	for k, rs := range sink.got {
		if len(rs) != 1 {
			t.Errorf("%s alerted %d times over %d runs", k, len(rs), runs)
		}
		p := rs[0].Primary()
		if p == nil || p.Category != "SaturationPredicted" || len(p.Evidence) != 1 || !strings.HasPrefix(p.Evidence[0], "metric:") {
			t.Errorf("%s: primary finding %+v", k, p)
		}
	}
	if !strings.Contains(strings.Join(keys(sink.got), " "), "SaturationPredicted/pvc shop/pvc/data-db-0") {
		t.Errorf("the filling PVC was not alerted: %v", keys(sink.got))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The PromQL rules lab up adds to kube-prometheus-stack, rendered from the
// default agent.prediction, load in the real Prometheus and flag the linear
// leak and the filling PVC; what else predict_linear flags is logged
// (BENCHMARKS.md compares the two). The history guard is real: rendered
// to want more history than the series have (4 h of 3), they flag nothing.
func TestSaturationRulesOnRealPrometheus(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "saturation-rules.yaml")
	young := filepath.Join(t.TempDir(), "saturation-rules-young.yaml")
	p := config.Default().Agent.Prediction
	for file, minHistory := range map[string]time.Duration{rules: p.MinHistory, young: 4 * time.Hour} {
		p.MinHistory = minHistory
		b, err := stacks.SaturationRules(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	active := activeRules(t, rules, func(active map[string]bool) bool {
		return active["LabMemorySaturationPredicted shop/cart-0"] && active["LabVolumeFullPredicted shop/data-db-0"]
	})
	t.Logf("active rules: %v", keys(active))
	for _, want := range []string{"LabMemorySaturationPredicted shop/cart-0", "LabVolumeFullPredicted shop/data-db-0"} {
		if !active[want] {
			t.Errorf("%s not pending or firing", want)
		}
	}
	if active := activeRules(t, young, nil); len(active) > 0 {
		t.Errorf("series younger than the rules' minimum history raised %v", keys(active))
	}
}

// activeRules loads a rule file into a real Prometheus holding the scripted
// series and returns the pending or firing alerts ("NAME ns/pod" or
// "NAME ns/pvc") once done says so, or after 30 s (10 s with no done). Every
// rule must load healthy: four predictions and LabContainerRestarted.
func activeRules(t *testing.T, file string, done func(map[string]bool) bool) map[string]bool {
	t.Helper()
	pl := startPredictLab(t, harness.PrometheusOptions{EvalEvery: time.Second, RuleFiles: []string{file}})
	src, _ := predict.NewPrometheus(pl.prom.URL, nil)
	var active map[string]bool
	wait := 30 * time.Second
	if done == nil {
		wait = 10 * time.Second
	}
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		res, err := src.API.Alerts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		active = map[string]bool{}
		for _, a := range res.Alerts {
			if a.State == promv1.AlertStatePending || a.State == promv1.AlertStateFiring {
				active[fmt.Sprintf("%s %s/%s%s", a.Labels["alertname"], a.Labels["namespace"], a.Labels["pod"], a.Labels["persistentvolumeclaim"])] = true
			}
		}
		if done != nil && done(active) {
			break
		}
	}
	rg, err := src.API.Rules(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rg.Groups {
		for _, r := range g.Rules {
			if ar, ok := r.(promv1.AlertingRule); ok {
				n++
				if ar.Health == promv1.RuleHealthBad {
					t.Errorf("rule %s: %s", ar.Name, ar.LastError)
				}
			}
		}
	}
	if n != 5 {
		t.Errorf("%d alerting rules loaded from %s, want 5", n, file)
	}
	return active
}

// `lab agent predict`: -A as JSON from --prometheus; and, with no URL, the
// lab's Prometheus reached through the API server's service proxy (a
// Service named as kube-prometheus-stack names it, its Endpoints at this
// host's non-loopback address, where the test's Prometheus listens).
func TestPredictCLI(t *testing.T) {
	ip := hostIP()
	host := "127.0.0.1"
	if ip != "" {
		host = "0.0.0.0"
	}
	pl := startPredictLab(t, harness.PrometheusOptions{Host: host})
	e := newLabEnv(t, "predict", 1)
	url := strings.Replace(pl.prom.URL, "0.0.0.0", "127.0.0.1", 1)
	at := pl.now.Format(time.RFC3339)
	code, out, errOut := e.run("agent", "predict", "-A", "--prometheus", url, "-o", "json", "--at", at)
	if code != 0 {
		t.Fatalf("predict -A: %d\n%s", code, errOut)
	}
	var res predict.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(res.Predictions) != positives(pl.shapes) {
		t.Errorf("%d predictions, want %d", len(res.Predictions), positives(pl.shapes))
	}
	if code, _, errOut := e.run("agent", "predict", "--prometheus", url); code == 0 || !strings.Contains(errOut, "-n NAMESPACE or -A") {
		t.Errorf("no scope accepted: %d %s", code, errOut)
	}
	if ip == "" {
		t.Skip("no non-loopback IPv4 address: the API server will not proxy to loopback")
	}
	ctx := testCtx(t)
	ns, svc, port := stacks.PrometheusService()
	_, pport, _ := net.SplitHostPort(strings.TrimPrefix(pl.prom.URL, "http://"))
	cs := cluster.Client
	cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	var pp int32
	fmt.Sscan(pport, &pp)
	if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http-web", Port: int32(port)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.CoreV1().Services(ns).Delete(context.Background(), svc, metav1.DeleteOptions{}) })
	// The API server proxies only to an address that is a pod's IP: a pod
	// bound to a node nothing runs (neither the scheduler nor kwok touches
	// it) stands in for Prometheus' pod, with this host's address.
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-0"},
		Spec: corev1.PodSpec{NodeName: "no-such-node", Containers: []corev1.Container{{Name: "prometheus", Image: "prometheus:test"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}) })
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	//nolint:staticcheck // Endpoints: what a Service without a selector is given by hand
	if _, err := cs.CoreV1().Endpoints(ns).Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name}}},
			Ports: []corev1.EndpointPort{{Name: "http-web", Port: pp}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	y, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, []byte(strings.Replace(string(y), "prometheus: {enabled: false}", "prometheus: {enabled: true}", 1)), 0o644)
	code, out, errOut = e.run("agent", "predict", "-n", "shop", "--kubeconfig", cluster.Kubeconfig, "--at", at)
	if code != 0 || !strings.Contains(out, "shop/cart-0 container app") || !strings.Contains(out, "pvc shop/data-db-0") || strings.Contains(out, "java-0") {
		t.Errorf("predict through the service proxy: %d\n%s\n%s", code, out, errOut)
	}
}

// hostIP is this host's first non-loopback IPv4 address, or "".
func hostIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// lab's predictive alert, as Alertmanager delivers it to `lab agent serve`
// (the real binary): the report is the prediction — lab's own trend for the
// container the alert names, with its limit and predicted time — not a
// diagnosis of a pod that is fine now; where lab's trend does not confirm
// the rule (a flat, noisy series) the report says so and names the rule.
// A failure alert on the same pod afterwards is still diagnosed (the
// prediction does not dedupe it away).
func TestServePredictiveAlertReport(t *testing.T) {
	pl := startPredictLab(t, harness.PrometheusOptions{})
	ctx := context.Background()
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{})
	for name, limit := range map[string]string{"cart-0": "1Gi", "web-0": "1Gi", "fresh-0": "512Mi"} { // the scripted series' pods, limits as scripted
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/shop:1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}}}}}}
		if _, err := cluster.Client.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	cfg := filepath.Join(home, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: predict-alert}\nagent: {namespaces: [shop]}\n"), 0o644)
	// serve starts an agent that writes its reports to home/reports-SUFFIX
	// and reads the series over window.
	serve := func(suffix, window, horizon string) (*harness.AgentServer, string) {
		reports := filepath.Join(home, "reports-"+suffix)
		srv := &harness.AgentServer{Bin: buildLab(t), Env: []string{"LAB_HOME=" + home, "NO_COLOR=1"},
			Args: []string{"-c", cfg, "--no-llm", "--insecure-no-auth", "--journal", "-", "--predict-every", "0", "--reports", reports,
				"--prometheus", pl.prom.URL, "--window", window, "--horizon", horizon, "--kubeconfig", cluster.Kubeconfig}}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Kill)
		return srv, reports
	}
	srv, reports := serve("2h", "2h", "2h")
	alert := func(name, pod string, labels string) {
		body := `{"version":"4","status":"firing","receiver":"lab","alerts":[{"status":"firing","labels":{"alertname":"` + name + `","namespace":"shop","pod":"` + pod + `"` + labels + `}}]}`
		resp, err := http.Post(srv.URL()+"/alerts", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /alerts: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	alert("LabMemorySaturationPredicted", "cart-0", `,"container":"app","lab_prediction":"memory","severity":"warning"`)
	alert("LabMemorySaturationPredicted", "web-0", `,"container":"app","lab_prediction":"memory","severity":"warning"`)
	alert("LabMemorySaturationPredicted", "fresh-0", `,"container":"app","lab_prediction":"memory","severity":"warning"`)
	alert("LabContainerRestarted", "cart-0", `,"container":"app"`)
	byPod := map[string][]string{}
	for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(reports, "*.json"))
		if len(files) < 4 {
			continue
		}
		byPod = map[string][]string{}
		for _, f := range files {
			var r struct {
				Pod      string
				Findings []struct{ Category, Detector, Cause string }
			}
			b, _ := os.ReadFile(f)
			json.Unmarshal(b, &r)
			first := "no finding"
			if len(r.Findings) > 0 {
				first = r.Findings[0].Detector + ": " + r.Findings[0].Cause
			}
			byPod[r.Pod] = append(byPod[r.Pod], first)
		}
		if len(byPod["cart-0"]) == 2 && len(byPod["web-0"]) == 1 && len(byPod["fresh-0"]) == 1 {
			break
		}
	}
	cart, web := strings.Join(byPod["cart-0"], "\n"), strings.Join(byPod["web-0"], "\n")
	if len(byPod["cart-0"]) != 2 || !strings.Contains(cart, "saturation-prediction: shop/cart-0 container app is predicted to reach its memory limit (OOM kill) in") {
		t.Errorf("cart-0 (a linear leak): want the prediction and the restart's diagnosis, got:\n%s\nserver log:\n%s", cart, srv.Log())
	}
	if !strings.Contains(web, "prometheus-rule: Prometheus' rule LabMemorySaturationPredicted: shop/web-0 container app is predicted to reach its memory limit of 1Gi within 2h; lab's own prediction does not confirm it") {
		t.Errorf("web-0 (flat and noisy): want the rule's alert, unconfirmed, got:\n%s\nserver log:\n%s", web, srv.Log())
	}
	if fresh := strings.Join(byPod["fresh-0"], "\n"); !strings.Contains(fresh, "its series is too young for a trend: 2 samples in the last 2h, a trend and its band want 10") {
		t.Errorf("fresh-0 (2.5 minutes old): want the rule's alert, too young to confirm, got:\n%s\nserver log:\n%s", fresh, srv.Log())
	}

	// The same young series read over a 10-minute window (30 s steps, as
	// the kind lab's agent reads it): ≥ 3 samples, so the report states
	// when a least-squares line through them reaches the limit, the
	// line's time beside the rule's horizon.
	srv10, reports10 := serve("10m", "10m", "30m")
	srv = srv10 // alert posts to srv
	alert("LabMemorySaturationPredicted", "fresh-0", `,"container":"app","lab_prediction":"memory","severity":"warning"`)
	var cause string
	for deadline := time.Now().Add(30 * time.Second); cause == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(reports10, "*.json"))
		for _, f := range files {
			var r struct{ Findings []struct{ Cause string } }
			b, _ := os.ReadFile(f)
			if json.Unmarshal(b, &r) == nil && len(r.Findings) > 0 {
				cause = r.Findings[0].Cause
			}
		}
	}
	line := regexp.MustCompile(`predicted to reach its memory limit of \S+ within 30m — in ≈ (\S+) by the least-squares line through its samples; .* samples in the last 10m, a trend and its band want 10; a least-squares line through them \(what predict_linear fits; no band\) reaches the limit \(512MiB\) in ≈ (\S+), at `)
	if m := line.FindStringSubmatch(cause); m == nil || m[1] != m[2] {
		t.Errorf("fresh-0 over 10 minutes: want the least-squares line's time, got:\n%s\nserver log:\n%s", cause, srv10.Log())
	} else {
		t.Logf("fresh-0 (2.5 minutes old, 2 MiB/s toward 512 MiB) over 10 minutes: %s", cause)
	}
}

// lab's LabContainerRestarted rule fires from the agent's own restart
// counts: a real `lab agent serve` watches the pods of its namespaces and
// exports lab_agent_container_restarts_total, a real Prometheus scrapes it
// and evaluates the rule lab installs. The pod here is bound to a node no
// kubelet (or kwok) runs, so only the test writes its status: a restart
// that no cAdvisor ever saw alive (on the kind lab an OOM kill seconds
// after start) still pages.
func TestRestartRuleFiresFromTheAgentsCounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "restart-rule"
	cs := cluster.Client
	cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "flappy"},
		Spec: corev1.PodSpec{NodeName: "no-kubelet-runs-this", Containers: []corev1.Container{{Name: "app", Image: "registry.local/flappy:1"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setRestarts := func(n int32) {
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.local/flappy:1", RestartCount: n,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
		if pod, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setRestarts(0)
	home := t.TempDir()
	cfg := filepath.Join(home, "lab.yaml")
	os.WriteFile(cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: restart-rule}\nagent: {namespaces: ["+ns+"]}\n"), 0o644)
	srv := &harness.AgentServer{Bin: buildLab(t), Env: []string{"LAB_HOME=" + home, "NO_COLOR=1"},
		Args: []string{"-c", cfg, "--no-llm", "--insecure-no-auth", "--journal", "-", "--predict-every", "0", "--kubeconfig", cluster.Kubeconfig}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	b, err := stacks.SaturationRules(config.Default().Agent.Prediction)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(rules, b, 0o644)
	p, err := harness.StartPrometheus(ctx, harness.PrometheusOptions{Dir: t.TempDir(), EvalEvery: time.Second, RuleFiles: []string{rules}, Scrape: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	src, _ := predict.NewPrometheus(p.URL, nil)
	firing := func() bool {
		res, err := src.API.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Alerts {
			if a.Labels["alertname"] == "LabContainerRestarted" && a.Labels["namespace"] == ns && a.Labels["pod"] == "flappy" && a.Labels["container"] == "app" {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) { // scraped at 0 restarts
		q, _, _, err := src.API.Query(ctx, `lab_agent_container_restarts_total{namespace="`+ns+`"} == 0`, time.Now())
		if err == nil && q.String() != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped the agent's count of 0: %v %v\nserver log:\n%s", q, err, srv.Log())
		}
	}
	if firing() {
		t.Fatal("LabContainerRestarted fired before any restart")
	}
	setRestarts(1)
	deadline := time.Now().Add(30 * time.Second)
	for !firing() {
		if time.Now().After(deadline) {
			q, _, _, _ := src.API.Query(ctx, `lab_agent_container_restarts_total[1m]`, time.Now())
			t.Fatalf("LabContainerRestarted did not fire after the restart; the agent's counts in Prometheus: %v\nserver log:\n%s", q, srv.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}
}
