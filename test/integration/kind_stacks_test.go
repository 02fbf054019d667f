//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/stacks"
	"lab.dev/lab/test/harness"
)

// stackImages builds (or loads from the test-binary cache) the images the
// stacks' pods run, named as the upstream charts reference them
// (test/bin/stack-images.sh).
func stackImages(t *testing.T, ctx context.Context) {
	t.Helper()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "../../test/bin/stack-images.sh", os.Getenv("LAB_TESTBIN")).CombinedOutput()
	if err != nil {
		t.Fatalf("the stacks' images (test/bin/stack-images.sh; the binaries come from test/bin/build.sh): %v\n%s", err, out)
	}
	t.Logf("stack images in %s: %s", time.Since(start).Round(time.Second), strings.TrimSpace(string(out)))
}

// kindStacksConfig is the lab the real stacks run on: kube-prometheus-stack
// with what cannot be built here turned off for this test only (Grafana:
// AGPL; kube-state-metrics: its module is not served; the admission
// webhook's certificate Job: ghcr.io/jkroepke/kube-webhook-certgen is not
// served either; without it the operator's TLS, which mounts the
// certificate that Job makes, is off too), Ollama with the test model, and,
// when its image was built (argoBuilt), Argo CD with GitOps from the lab's
// own repository. Linkerd is off: its proxy is Rust (no crate registry
// here).
func kindStacksConfig(name, img, model string, argo, kyverno bool) string {
	argocd, gitops := "  argocd: {enabled: false}\n", "gitops: {enabled: false}\n"
	if argo {
		argocd, gitops = "  argocd: {timeout: 12m}\n", "gitops: {enabled: true}\n"
	}
	if argo && kyverno { // the policy set is delivered through GitOps
		argocd += "  kyverno: {timeout: 10m}\n"
		gitops += "policies: {enabled: true}\n"
	}
	return "apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: " + name + "}\n" +
		"cluster: {provider: kind, workers: 2, nodeImage: \"" + img + "\"}\n" +
		"stacks:\n" +
		argocd +
		"  linkerd: {enabled: false}\n" +
		"  prometheus:\n" +
		"    timeout: 12m\n" +
		"    values:\n" +
		"      grafana: {enabled: false}\n" +
		"      kubeStateMetrics: {enabled: false}\n" +
		"      prometheusOperator: {admissionWebhooks: {enabled: false}, tls: {enabled: false}}\n" +
		"  ollama: {timeout: 8m, model: \"" + model + "\", values: {resources: {requests: {cpu: 100m, memory: 256Mi}}}}\n" +
		gitops +
		// Predictions on a test's time scale: a trend over 10 minutes, a
		// 30-minute horizon, a series 2 minutes old, held 30 s.
		"agent: {namespaces: [demo], prediction: {window: 10m, horizon: 30m, for: 30s, minHistory: 2m}}\n"
}

// The stacks run for real on the kind lab (#25): `lab bundle --charts`
// packs the real upstream charts lab pins (../shared/charts), the images
// built here under the names those charts reference, and the test model;
// `lab up --offline --bundle` makes a 3-node kind cluster from the offline
// node image, loads the images into the nodes and installs the charts with
// lab's values: every pod of kube-prometheus-stack (operator, Prometheus,
// Alertmanager, node-exporter on each node) and Ollama runs and is Ready,
// Prometheus scrapes the kubelets, `lab status` is healthy, a second up
// changes nothing, `lab down` leaves nothing.
func TestKindStacksForReal(t *testing.T) {
	charts := os.Getenv("LAB_UPSTREAM_CHARTS")
	if charts == "" {
		t.Skip("LAB_UPSTREAM_CHARTS not set: the real charts are not at hand (make test points it at ../shared/charts)")
	}
	// ≈ 17–20 minutes alone, ≈ 23 beside the rest of the suite (make test
	// runs it so, test/bin/integration.sh): the budgets here and in the
	// lab.yaml above leave room for a slower machine.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	needEngine(t, ctx)
	img := kindNodeImage(t, ctx)
	argo, argoBin := argoBuilt()
	if !argo {
		t.Logf("no Argo CD at %s (test/bin/build.sh builds it unless LAB_SKIP_ARGOCD=1): Argo CD and GitOps are off in this run", argoBin)
	}
	kyverno, kyvernoBin := kyvernoBuilt()
	if !kyverno || !argo {
		t.Logf("no Kyverno at %s or no Argo CD (test/bin/build.sh builds both unless LAB_SKIP_KYVERNO=1 or LAB_SKIP_ARGOCD=1): the policies are off in this run", kyvernoBin)
		kyverno = kyverno && argo
	}
	stackImages(t, ctx)
	src := sharedOllama(t)
	k := newKindLab(t, "stacks")
	if err := os.WriteFile(k.cfg, []byte(kindStacksConfig(k.name, img, src.Model, argo, kyverno)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && k.cs != nil {
			t.Logf("pods at failure:\n%s", podTable(context.Background(), k.cs, ""))
		}
	})

	agentImage(t, ctx, k.labEnv) // lab up loads it into the nodes
	reg := harness.ServeModels(src.ModelsDir())
	archive := filepath.Join(t.TempDir(), "stacks.tar.gz")
	start := time.Now()
	code, out, errOut := k.run("bundle", "--charts", upstreamCharts(t), "--model-registry", reg.URL, "-o", archive)
	reg.Close() // the air gap from here on
	if code != 0 {
		t.Fatalf("lab bundle --charts %s: %d\n%s\n%s", charts, code, out, errOut)
	}
	t.Logf("lab bundle (real charts, %s): %s\n%s", time.Since(start).Round(time.Second), fileSize(archive), out)
	m, err := stacks.OpenBundle(archive, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, i := range m.Images {
		refs = append(refs, i.Ref)
	}
	want := []string{"prometheus-config-reloader", "prometheus-operator", "alertmanager", "node-exporter", "prometheus/prometheus", "ollama/ollama"}
	if argo {
		want = append(want, "argoproj/argocd", "redis:8.2.3", "nginx:1.27", "redis:7.4") // the chart's and the GitOps demo app's
	}
	if kyverno {
		want = append(want, "kyverno/kyverno:", "kyverno/kyvernopre:", "kyverno/reports-controller:", "kyverno/background-controller:", "kyverno/cleanup-controller:")
	}
	if !containsAll(strings.Join(refs, " "), want) {
		t.Fatalf("the bundle's images: %v", refs)
	}

	start = time.Now()
	code, _, errOut = k.run("up", "--offline", "--bundle", archive)
	t.Logf("lab up --offline --bundle (kind, 3 nodes, kube-prometheus-stack + Ollama): %s\n%s", time.Since(start).Round(time.Second), errOut)
	if code != 0 {
		t.Fatalf("up: %d", code)
	}
	k.kubeconfig = filepath.Join(k.home, "labs", k.name, "kubeconfig")
	rc, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if k.cs, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	// Every pod of the stacks Running and Ready (up waits for the releases;
	// the operator's StatefulSets come after).
	deadline := time.Now().Add(6 * time.Minute)
	namespaces, want := []string{"monitoring", "ollama"}, []string{"operator", "prometheus-", "alertmanager-", "node-exporter", "ollama"}
	if argo {
		namespaces = append(namespaces, "argocd", "demo")
		want = append(want, "argocd-server", "argocd-repo-server", "argocd-application-controller", "argocd-redis", "web-", "redis-")
	}
	if kyverno {
		namespaces = append(namespaces, "kyverno")
		want = append(want, "kyverno-admission-controller", "kyverno-reports-controller", "kyverno-background-controller", "kyverno-cleanup-controller")
	}
	for {
		missing := notReady(ctx, k.cs, namespaces, want)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not Running and Ready after up: %v\n%s", missing, podTable(ctx, k.cs, ""))
		}
		time.Sleep(5 * time.Second)
	}
	t.Logf("every stack pod Running and Ready %s after up began:\n%s", time.Since(start).Round(time.Second), podTable(ctx, k.cs, ""))
	if code, st := k.status(); code != 0 || st["healthy"] != true {
		t.Fatalf("status: %d %v", code, st)
	}
	if argo {
		t.Run("argocd-gitops", func(t *testing.T) { kindArgoGitOps(t, ctx, k) })
	}
	t.Run("prometheus-targets", func(t *testing.T) { kindPrometheusTargets(t, ctx, k) })
	// The in-cluster agent both alert paths page; then they run side by
	// side (each mostly waits on Prometheus, Alertmanager and the kernel;
	// their pods and alerts are apart): ≈ 4 minutes less than in turn.
	if code, _, errOut := k.run("agent", "apply", "--serve"); code != 0 {
		t.Fatalf("lab agent apply --serve: %d\n%s", code, errOut)
	}
	targetImage(t, ctx, k)
	if _, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Run("alert-paths", func(t *testing.T) {
		t.Run("alert-to-agent", func(t *testing.T) { t.Parallel(); kindAlertToAgent(t, ctx, k) })
		if argo {
			t.Run("gitops-loop", func(t *testing.T) { t.Parallel(); kindGitOpsLoop(t, ctx, k) })
		}
		if kyverno { // a namespace of its own: the alert paths' pods are not in it
			t.Run("policies-audit", func(t *testing.T) { t.Parallel(); kindPolicyAudit(t, ctx, k, "shop") })
		}
	})
	// Enforce only after the alert paths: their new pods (the fix's
	// rollout) run as root, as most images do, and would be refused.
	if kyverno {
		t.Run("policies-enforce", func(t *testing.T) { kindPolicyEnforce(t, ctx, k, "shop") })
	}
	start = time.Now()
	if code, _, errOut := k.run("up", "--offline", "--bundle", archive); code != 0 || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("second up was not a no-op: %d\n%s", code, errOut)
	}
	t.Logf("no-op lab up: %s", time.Since(start).Round(time.Second))

	start = time.Now()
	if code, _, errOut := k.run("down"); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
	t.Logf("lab down: %s", time.Since(start).Round(time.Second))
	if left := k.nodes(); len(left) > 0 {
		t.Errorf("containers left after down: %v", left)
	}
}

// promGet asks the stack's Prometheus through the API server's service
// proxy (what `kubectl get --raw` does).
func promGet(ctx context.Context, k *kindLab, path string, params map[string]string, into any) error {
	b, err := k.cs.CoreV1().Services("monitoring").ProxyGet("http", "kube-prometheus-stack-prometheus", "9090", path, params).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%s: %v: %.300s", path, err, b)
	}
	return json.Unmarshal(b, into)
}

// Every target the chart's ServiceMonitors define is scraped on the kind
// nodes: the kubelets and their cAdvisor (what the saturation rules read),
// the API server, CoreDNS, node-exporter, the stack itself and the control
// plane's components (kind binds their metrics to loopback unless lab
// patches them: their Down alerts would page the agent from the first
// minute). The alerts firing on a fresh lab are logged.
func kindPrometheusTargets(t *testing.T, ctx context.Context, k *kindLab) {
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string
				Health    string
				LastError string
			}
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		err := promGet(ctx, k, "/api/v1/targets", map[string]string{"state": "active"}, &targets)
		jobs, down := map[string]int{}, []string{}
		for _, tg := range targets.Data.ActiveTargets {
			jobs[tg.Labels["job"]]++
			if tg.Health != "up" {
				down = append(down, fmt.Sprintf("%s %s: %s %s", tg.Labels["job"], tg.Labels["instance"], tg.Health, tg.LastError))
			}
		}
		missing := []string{}
		for _, j := range []string{"kubelet", "apiserver", "coredns", "node-exporter", "kube-controller-manager", "kube-scheduler", "kube-etcd", "kube-proxy", "kube-prometheus-stack-operator", "kube-prometheus-stack-prometheus", "kube-prometheus-stack-alertmanager"} {
			if jobs[j] == 0 {
				missing = append(missing, j)
			}
		}
		if err == nil && len(down) == 0 && len(missing) == 0 {
			t.Logf("%d targets up: %v", len(targets.Data.ActiveTargets), jobs)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus targets: %v; down: %v; no target for %v", err, down, missing)
		}
		time.Sleep(10 * time.Second)
	}
	var alerts struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
	}
	if err := promGet(ctx, k, "/api/v1/alerts", nil, &alerts); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range alerts.Data.Alerts {
		names = append(names, a.Labels["alertname"]+"("+a.State+")")
	}
	t.Logf("alerts on the fresh lab: %v", names)
}

// The alert path on real components, before and after the failure: a
// Deployment's container leaks 1 MiB every 7 s under a 48Mi limit. First
// lab's saturation rule (predict_linear over the lab's 10-minute window)
// fires while the container still runs; Alertmanager routes it through
// lab's AlertmanagerConfig with the bearer token to the in-cluster `lab
// agent serve` (past its NetworkPolicy), whose report is the prediction:
// the container, its 48Mi limit, when it runs out. Then the kernel
// OOM-kills it; LabContainerRestarted fires from the agent's own restart
// counts, and the agent's second report names OOMKilled and the limit. The
// prediction must have reached the agent before the kill.
func kindAlertToAgent(t *testing.T, ctx context.Context, k *kindLab) {
	d := deploymentOf(targetPod("leaky", []string{"leak", "1", "7s"}, "", "48Mi"))
	leakStart := time.Now()
	if _, err := k.cs.AppsV1().Deployments("demo").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	prediction, logs := agentReport(ctx, t, k, "LabMemorySaturationPredicted", "demo/leaky-", 8*time.Minute)
	if prediction == "" {
		t.Fatalf("no report on LabMemorySaturationPredicted from the in-cluster agent after %s; its log:\n%s\npods:\n%s\n%s", time.Since(leakStart).Round(time.Second), logs, podTable(ctx, k.cs, ""), alertPath(ctx, k, "demo"))
	}
	predicted := time.Since(leakStart).Round(time.Second)
	received := eventTime(logs, "LabMemorySaturationPredicted", "demo", "leaky-")
	// When: lab's own trend ("… (OOM kill) in 4m (95 % band …"), or, for a
	// series too young for it, the least-squares line through its samples
	// ("… within 30m — in ≈ 4m by the least-squares line …").
	when := regexp.MustCompile(`predicted to reach its memory limit[^;]{0,60}\bin (≈ )?[0-9]+[hms]`)
	if !containsAll(prediction, []string{"container app", "predicted to reach its memory limit"}) || !(strings.Contains(prediction, "48.0MiB") || strings.Contains(prediction, "48Mi")) ||
		!when.MatchString(prediction) {
		t.Errorf("the prediction's report does not name the container, its limit and when:\n%s", prediction)
	}
	t.Logf("leak start → the agent's report on the predictive alert: %s (received %s)\n%.900s", predicted, received.Format(time.RFC3339), prediction)
	killed, restartsThen := firstOOMKill(ctx, k, "demo", "leaky-", 8*time.Minute)
	if restartsThen > 0 {
		t.Errorf("the container had restarted %d times when the prediction's report came: the prediction must come first", restartsThen)
	}

	report, logs := agentReport(ctx, t, k, "LabContainerRestarted", "demo/leaky-", 8*time.Minute)
	if report == "" {
		t.Fatalf("no report on LabContainerRestarted from the in-cluster agent after %s; its log:\n%s\npods:\n%s\n%s", time.Since(leakStart).Round(time.Second), logs, podTable(ctx, k.cs, ""), alertPath(ctx, k, "demo"))
	}
	// The tiny random-weight test model may answer with JSON cut at
	// num_predict: that is the model reached; no model configured, or an
	// endpoint that does not answer, is not.
	reached := !strings.Contains(report, "no model configured") &&
		(!strings.Contains(report, "model unavailable") || strings.Contains(report, "model answer is not valid JSON"))
	if !containsAll(report, []string{"OOMKilled", "48Mi", "trace "}) || !reached {
		t.Fatalf("the agent's report on the alert does not name OOMKilled and the limit:\n%s", report)
	}
	trace := report[strings.Index(report, "trace ")+6:]
	t.Logf("leak start → the OOM kill %s → the agent's report on it %s (trace %.32s); the prediction reached the agent %s before the kill\n%.900s",
		killed.Sub(leakStart).Round(time.Second), time.Since(leakStart).Round(time.Second), trace, killed.Sub(received).Round(time.Second), report)
	if received.IsZero() || killed.IsZero() || !received.Before(killed) {
		t.Errorf("the predictive alert reached the agent at %s, the OOM kill was at %s: the prediction must come first", received, killed)
	}
}

// eventTime is when the agent's log says it accepted alert for a pod of
// namespace whose name starts with prefix (its logfmt event; zero if none).
func eventTime(logs, alert, namespace, prefix string) time.Time {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `msg="alert received"`) || !strings.Contains(line, "alert="+alert+" ") ||
			!strings.Contains(line, "namespace="+namespace+" pod="+prefix) || !strings.Contains(line, "outcome=accepted") {
			continue
		}
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "time=") {
			if ts, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
				return ts
			}
		}
	}
	return time.Time{}
}

// firstOOMKill waits (up to wait) for the first OOM kill of a container of
// the pods of namespace whose names start with prefix and returns when it
// was (the termination the pod reports at its first restart: polled every
// 2 s, shorter than any back-off, so no kill is missed) and the restarts
// the pods had when it began waiting.
func firstOOMKill(ctx context.Context, k *kindLab, namespace, prefix string, wait time.Duration) (time.Time, int32) {
	restarts := func() (int32, time.Time) {
		pods, err := k.cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, time.Time{}
		}
		var n int32
		var at time.Time
		for _, p := range pods.Items {
			if !strings.HasPrefix(p.Name, prefix) {
				continue
			}
			for _, c := range p.Status.ContainerStatuses {
				n += c.RestartCount
				if term := c.LastTerminationState.Terminated; term != nil && term.Reason == "OOMKilled" && (at.IsZero() || term.FinishedAt.Time.Before(at)) {
					at = term.FinishedAt.Time
				}
			}
		}
		return n, at
	}
	before, _ := restarts()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if n, at := restarts(); n > 0 && !at.IsZero() {
			return at, before
		}
	}
	return time.Time{}, before
}

// alertPath is what each hop of the alert path holds for namespace when a
// report did not come: Prometheus' alerts, Alertmanager's, and the agent's
// intake (its /status).
func alertPath(ctx context.Context, k *kindLab, namespace string) string {
	var b strings.Builder
	var prom struct {
		Data struct {
			Alerts []struct {
				Labels   map[string]string
				State    string
				ActiveAt string
			}
		}
	}
	err := promGet(ctx, k, "/api/v1/alerts", nil, &prom)
	fmt.Fprintf(&b, "Prometheus alerts in %s (%v):\n", namespace, err)
	for _, a := range prom.Data.Alerts {
		if a.Labels["namespace"] == namespace {
			fmt.Fprintf(&b, "  %s %s/%s %s since %s\n", a.Labels["alertname"], namespace, a.Labels["pod"], a.State, a.ActiveAt)
		}
	}
	am, err := k.cs.CoreV1().Services("monitoring").ProxyGet("http", "kube-prometheus-stack-alertmanager", "9093", "/api/v2/alerts", nil).DoRaw(ctx)
	fmt.Fprintf(&b, "Alertmanager alerts (%v):\n", err)
	var alerts []struct {
		Labels map[string]string
		Status struct {
			State       string
			InhibitedBy []string
			SilencedBy  []string
		}
		Receivers []struct{ Name string }
	}
	json.Unmarshal(am, &alerts)
	for _, a := range alerts {
		if a.Labels["namespace"] == namespace {
			fmt.Fprintf(&b, "  %s %s/%s %s inhibited by %v receivers %v\n", a.Labels["alertname"], namespace, a.Labels["pod"], a.Status.State, a.Status.InhibitedBy, a.Receivers)
		}
	}
	st, err := k.cs.CoreV1().Services("lab-agent").ProxyGet("http", "lab-agent", "8080", "/status", nil).DoRaw(ctx)
	fmt.Fprintf(&b, "the agent's intake (%v): %s\n", err, st)
	return b.String()
}

// agentReport waits (up to wait) for the in-cluster agent's log to hold its
// report on alert for a pod whose name starts with pod (namespace/prefix)
// and returns that report alone, or "" and the log.
func agentReport(ctx context.Context, t *testing.T, k *kindLab, alert, pod string, wait time.Duration) (report, logs string) {
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(10 * time.Second) {
		b, err := k.cs.CoreV1().Pods("lab-agent").GetLogs(agentPod(ctx, t, k), &corev1.PodLogOptions{}).DoRaw(ctx)
		if err == nil {
			logs = string(b)
		}
		if i := strings.Index(logs, "--- alert "+alert+" on "+pod); i >= 0 {
			report = logs[i:]
			if j := strings.Index(report[1:], "\n--- alert"); j > 0 {
				report = report[:j+1]
			}
			return report, logs
		}
	}
	return "", logs
}

func agentPod(ctx context.Context, t *testing.T, k *kindLab) string {
	pods, err := k.cs.CoreV1().Pods("lab-agent").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=lab-agent"})
	if err != nil || len(pods.Items) == 0 {
		return ""
	}
	return pods.Items[0].Name
}

// notReady lists, in namespaces, the pods that are not Running with every
// container Ready, and each wanted name prefix no pod has yet.
func notReady(ctx context.Context, cs *kubernetes.Clientset, namespaces, want []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, ns := range namespaces {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return []string{err.Error()}
		}
		for _, p := range pods.Items {
			for _, w := range want {
				if strings.Contains(p.Name, w) {
					seen[w] = true
				}
			}
			if p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			ready := p.Status.Phase == corev1.PodRunning
			for _, c := range p.Status.ContainerStatuses {
				ready = ready && c.Ready
			}
			if !ready {
				out = append(out, ns+"/"+p.Name)
			}
		}
	}
	for _, w := range want {
		if !seen[w] {
			out = append(out, "no pod "+w+"*")
		}
	}
	return out
}

// podTable prints every pod (or those of one namespace) with its phase,
// readiness, restarts and node, and why a container waits or ended.
func podTable(ctx context.Context, cs *kubernetes.Clientset, ns string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, p := range pods.Items {
		ready, restarts, why := 0, int32(0), ""
		for _, c := range p.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
			restarts += c.RestartCount
			if w := c.State.Waiting; w != nil {
				why += fmt.Sprintf(" %s: %s %.120s", c.Name, w.Reason, w.Message)
			}
			if l := c.LastTerminationState.Terminated; l != nil {
				why += fmt.Sprintf(" %s last: %s %d", c.Name, l.Reason, l.ExitCode)
			}
		}
		lines = append(lines, fmt.Sprintf("  %s/%s %s %d/%d restarts=%d node=%s%s", p.Namespace, p.Name, p.Status.Phase, ready, len(p.Spec.Containers), restarts, p.Spec.NodeName, why))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func fileSize(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%.0f MiB", float64(fi.Size())/(1<<20))
}
