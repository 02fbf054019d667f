//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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
// certificate that Job makes, is off too), and Ollama with the test model. Argo CD and Linkerd are
// off: Argo CD's image is not built yet, Linkerd's proxy is Rust (no crate
// registry here).
func kindStacksConfig(name, img, model string) string {
	return "apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: " + name + "}\n" +
		"cluster: {provider: kind, workers: 2, nodeImage: \"" + img + "\"}\n" +
		"stacks:\n" +
		"  argocd: {enabled: false}\n" +
		"  linkerd: {enabled: false}\n" +
		"  prometheus:\n" +
		"    timeout: 8m\n" +
		"    values:\n" +
		"      grafana: {enabled: false}\n" +
		"      kubeStateMetrics: {enabled: false}\n" +
		"      prometheusOperator: {admissionWebhooks: {enabled: false}, tls: {enabled: false}}\n" +
		"  ollama: {timeout: 5m, model: \"" + model + "\", values: {resources: {requests: {cpu: 100m, memory: 256Mi}}}}\n" +
		"gitops: {enabled: false}\n" +
		"agent: {namespaces: [demo]}\n"
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	needEngine(t, ctx)
	img := kindNodeImage(t, ctx)
	stackImages(t, ctx)
	src := sharedOllama(t)
	k := &kindLab{labEnv: newLabEnv(t, "stacks", 0), name: "stacks"}
	if err := os.WriteFile(k.cfg, []byte(kindStacksConfig(k.name, img, src.Model)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && k.cs != nil {
			t.Logf("pods at failure:\n%s", podTable(context.Background(), k.cs, ""))
		}
	})

	reg := harness.ServeModels(src.ModelsDir())
	archive := filepath.Join(t.TempDir(), "stacks.tar.gz")
	start := time.Now()
	code, out, errOut := k.run("bundle", "--charts", charts, "--model-registry", reg.URL, "-o", archive)
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
	if !containsAll(strings.Join(refs, " "), []string{"prometheus-config-reloader", "prometheus-operator", "alertmanager", "node-exporter", "prometheus/prometheus", "ollama/ollama"}) {
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
	for {
		missing := notReady(ctx, k.cs, []string{"monitoring", "ollama"}, []string{"operator", "prometheus-", "alertmanager-", "node-exporter", "ollama"})
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
