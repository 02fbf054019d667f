//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/core/config"
)

// kindNodeImage is the offline node image test/bin/build.sh builds (see
// test/bin/kind/node-image.sh); loaded from the build cache when the engine
// lacks it.
func kindNodeImage(t *testing.T, ctx context.Context) string {
	t.Helper()
	img := "lab.dev/kind/node:" + config.Pinned().Components["kubernetes"]
	if exec.CommandContext(ctx, "docker", "image", "inspect", img).Run() == nil {
		return img
	}
	tar := filepath.Join(os.Getenv("LAB_TESTBIN"), "kind-node-"+config.Pinned().Components["kubernetes"], "kind-node.tar")
	if out, err := exec.CommandContext(ctx, "docker", "load", "-q", "-i", tar).CombinedOutput(); err != nil {
		t.Fatalf("the offline kind node image %s is neither in the engine nor in %s (build it: test/bin/build.sh kind): %v\n%s", img, tar, err, out)
	}
	return img
}

// kindLab is one real kind lab for the tests that need real kubelets.
type kindLab struct {
	*labEnv
	name, kubeconfig string
	cs               *kubernetes.Clientset
	gitServerPID     int // the server `lab up` started for a local gitops.repo
}

// newKindLab is a kind lab named name in a fresh state home. A cluster of
// that name left by an earlier run that was killed before its cleanup (a CI
// job past its time; its state home is gone with it) is deleted first: a
// first `lab up` refuses to adopt a cluster it did not make.
func newKindLab(t *testing.T, name string) *kindLab {
	k := &kindLab{labEnv: newLabEnv(t, name, 0), name: name}
	if left := k.nodes(); len(left) > 0 {
		t.Logf("deleting kind cluster %s left by an earlier run (%d node containers)", name, len(left))
		if err := kindcluster.NewProvider().Delete(name, ""); err != nil {
			t.Fatalf("deleting the leftover cluster %s: %v", name, err)
		}
	}
	return k
}

func (k *kindLab) docker(args ...string) string {
	k.t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		k.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (k *kindLab) mustRun(args ...string) string {
	k.t.Helper()
	code, out, errOut := k.run(args...)
	if code != 0 {
		k.t.Fatalf("lab %v: %d\n%s", args, code, errOut)
	}
	return out
}

func (k *kindLab) nodes() []string {
	return strings.Fields(k.docker("ps", "-a", "-q", "--filter", "label=io.x-k8s.kind.cluster="+k.name))
}

// readyNodes counts Ready nodes, as the API server reports them.
func (k *kindLab) readyNodes(ctx context.Context) (int, error) {
	nodes, err := k.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, no := range nodes.Items {
		for _, c := range no.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

// buildImage builds tag from dir with the given Dockerfile, with the
// classic builder (local bases only; extra args such as --network host).
func buildImage(t *testing.T, ctx context.Context, tag, dir, dockerfile string, args ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	b := exec.CommandContext(ctx, "docker", append(append([]string{"build", "-q", "-t", tag}, args...), dir)...)
	b.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", tag, err, out)
	}
}

// loadImage puts a local engine image into every node's containerd, as
// `kind load docker-image` does.
func (k *kindLab) loadImage(img string) {
	k.t.Helper()
	for _, n := range k.nodes() {
		cmd := fmt.Sprintf("docker save %s | docker exec -i %s ctr --namespace=k8s.io images import --digests --snapshotter=overlayfs -", img, n)
		if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
			k.t.Fatalf("loading %s into %s: %v\n%s", img, n, err, out)
		}
	}
}

// The main path on real kubelets: `lab up` creates a 3-node kind cluster
// from the offline node image through kind's Go library, a second `up`
// changes nothing, the target application fails six ways and `lab diagnose`
// names each cause from what the real kubelets, containers and kernel
// report, the nodes survive a stop and start (a host restart), and `lab down`
// leaves no container, volume or network behind.
func TestKindLabOnRealNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	needEngine(t, ctx)
	img := kindNodeImage(t, ctx)
	k := newKindLab(t, "kindlab")
	y := "apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: kindlab}\n" +
		"cluster: {provider: kind, workers: 2, nodeImage: \"" + img + "\"}\n" +
		"stacks: {argocd: {enabled: false}, linkerd: {enabled: false}, prometheus: {enabled: false}, ollama: {enabled: false}}\n" +
		"agent: {namespaces: [demo]}\n"
	if err := os.WriteFile(k.cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("sh", "-c", "for n in $(docker ps -aq --filter label=io.x-k8s.kind.cluster=kindlab); do echo \"== $n\"; docker exec $n sh -c 'journalctl -u kubelet -u containerd --no-pager | tail -40; crictl ps -a' 2>&1 | tail -60; done").CombinedOutput()
			t.Logf("node state at failure:\n%s", out)
		}
	})

	start := time.Now()
	code, _, errOut := k.run("up")
	t.Logf("lab up (kind, 3 nodes): %s", time.Since(start).Round(time.Second))
	if code != 0 {
		t.Fatalf("up: %d\n%s", code, errOut)
	}
	k.kubeconfig = filepath.Join(k.home, "labs", k.name, "kubeconfig")
	rc, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if k.cs, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	if n, err := k.readyNodes(ctx); err != nil || n != 3 {
		t.Fatalf("Ready nodes after up: %d (%v)", n, err)
	}
	code, st := k.status()
	if code != 0 || st["healthy"] != true {
		t.Fatalf("status after up: %d %v", code, st)
	}
	if a, _ := st["agent"].(map[string]any); a["ready"] != true || !strings.Contains(fmt.Sprint(a["detail"]), "FlowSchema lab-agent in effect") {
		t.Errorf("agent in status: %v", st["agent"])
	}
	start = time.Now()
	if code, _, errOut := k.run("up"); code != 0 || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("second up was not a no-op: %d\n%s", code, errOut)
	}
	t.Logf("no-op lab up: %s", time.Since(start).Round(time.Second))

	t.Run("diagnose", func(t *testing.T) { kindDiagnose(t, ctx, k) })
	t.Run("networkpolicy", func(t *testing.T) { kindNetworkPolicy(t, ctx, k) })
	t.Run("in-cluster", func(t *testing.T) { kindInCluster(t, ctx, k) })
	t.Run("gitops-served", func(t *testing.T) { kindGitOps(t, ctx, k) })
	t.Run("ollama-offline", func(t *testing.T) { kindOllama(t, ctx, k) })
	t.Run("restart", func(t *testing.T) { kindRestart(t, ctx, k) })

	var volumes []string
	for _, n := range k.nodes() {
		volumes = append(volumes, strings.Fields(k.docker("inspect", "-f", "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}", n))...)
	}
	// The nightly teardown where the lab's state home is gone (a CI job's
	// workspace wiped before its teardown): `lab down --all` from that, now
	// empty, home finds the cluster by its lab-spec record and deletes it;
	// a lab whose folder exists (the stacks test's, beside this one in make
	// test) is kept. The home comes back for the `down` below, which finds
	// the cluster gone, stops the git server and removes the folder.
	gone := k.home + ".gone"
	if err := os.Rename(k.home, gone); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	all := exec.Command(k.bin, "down", "--all")
	all.Env = append(os.Environ(), "LAB_HOME="+k.home, "NO_COLOR=1")
	out, err := all.CombinedOutput()
	if rerr := os.Rename(gone, k.home); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil || !strings.Contains(string(out), "lab kindlab: removed its orphaned kind cluster") {
		t.Fatalf("lab down --all with the state home gone: %v\n%s", err, out)
	}
	if left := k.nodes(); len(left) > 0 {
		t.Fatalf("containers left after the orphan's teardown: %v", left)
	}
	t.Logf("lab down --all with the state home gone: %s\n%s", time.Since(start).Round(time.Second), out)
	start = time.Now()
	if code, _, errOut := k.run("down"); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
	t.Logf("lab down (the cluster already gone): %s", time.Since(start).Round(time.Second))
	if left := k.nodes(); len(left) > 0 {
		t.Errorf("containers left after down: %v", left)
	}
	if len(volumes) != 3 {
		t.Errorf("node volumes before down: %v, want one /var per node", volumes)
	}
	for _, v := range volumes {
		if exec.Command("docker", "volume", "inspect", v).Run() == nil {
			t.Errorf("volume %s left after down", v)
		}
	}
	// Alive as lab judges it: a zombie not yet reaped by init is stopped
	// (down returns as soon as the server exits; with the cluster already
	// gone that is at once).
	if k.gitServerPID > 0 && kwok.Alive(k.gitServerPID) {
		t.Errorf("the git server (PID %d) still runs after down", k.gitServerPID)
	}
	// kind's network is shared by every kind cluster (the stacks test's runs
	// beside this one in make test): down removes it once no container is
	// on it.
	if n := k.docker("network", "ls", "-q", "--filter", "name=^kind$"); n != "" {
		users, _ := exec.Command("docker", "network", "inspect", "kind", "-f", "{{len .Containers}}").Output()
		if u := strings.TrimSpace(string(users)); u == "0" {
			t.Errorf("kind's network left after down with no container on it: %s", n)
		} else {
			t.Logf("kind's network stays after down: %s container(s) of another cluster on it", u)
		}
	}
}

// The node containers stopped and started again, as a host restart or a
// Docker restart does: `lab up` brings the lab back to healthy.
func kindRestart(t *testing.T, ctx context.Context, k *kindLab) {
	nodes := k.nodes()
	k.docker(append([]string{"stop"}, nodes...)...)
	k.docker(append([]string{"start"}, nodes...)...)
	start := time.Now()
	code, _, errOut := k.run("up")
	t.Logf("lab up after a restart of every node: %s", time.Since(start).Round(time.Second))
	if code != 0 {
		t.Fatalf("up after restart: %d\n%s", code, errOut)
	}
	if code, st := k.status(); code != 0 || st["healthy"] != true {
		t.Fatalf("status after restart: %d %v", code, st)
	}
	if n, err := k.readyNodes(ctx); err != nil || n != 3 {
		t.Fatalf("Ready nodes after restart: %d (%v)", n, err)
	}
	// The incident memory outlives the restart and the up: a failure diagnosed
	// before is recognised, with where it was last seen.
	_, out, _ := k.run("agent", "incidents", "-o", "json")
	var incs []struct {
		Fingerprint string
		Count       int
	}
	if err := json.Unmarshal([]byte(out), &incs); err != nil || len(incs) == 0 {
		t.Fatalf("lab agent incidents after up: %v\n%s", err, out)
	}
	var last struct {
		History *struct {
			Count         int
			LastNamespace string
		}
		Findings []struct{ Category string }
	}
	for i := 0; i < 12; i++ {
		_, out, _ = k.run("diagnose", "noenv", "-n", "demo", "--no-llm", "-o", "json")
		if json.Unmarshal([]byte(out), &last) == nil && last.History != nil && last.History.Count >= 1 && last.History.LastNamespace == "demo" {
			t.Logf("noenv after the restart: seen %d times before", last.History.Count)
			return
		}
		time.Sleep(5 * time.Second)
	}
	t.Errorf("the noenv failure was not recognised after restart and up: %s", out)
}

// The seed's flow on real nodes: the agent's image (make image) loaded into
// the nodes by `lab agent image`, and `lab diagnose --in-cluster` run as a
// Job with the agent's ServiceAccount, reading the API server and the pod's
// logs from inside the cluster.
func kindInCluster(t *testing.T, ctx context.Context, k *kindLab) {
	ref := agentImage(t, ctx, k.labEnv)
	if code, _, errOut := k.run("agent", "image"); code != 0 || !strings.Contains(errOut, "loaded into the nodes") {
		t.Fatalf("lab agent image: %d\n%s", code, errOut)
	}
	// The agent image's SBOM lists the lab binary's modules (as its build recorded them).
	if code, out, errOut := k.run("sbom", "--image", ref); code != 0 || !strings.Contains(out, "pkg:golang/k8s.io/client-go@") || !strings.Contains(out, "pkg:golang/lab.dev/lab") {
		t.Errorf("lab sbom --image %s: %d\n%.600s\n%s", ref, code, out, errOut)
	}
	// Retried like the rules-only cases: the container may be between two
	// restarts or still starting when the Job reads it.
	var code int
	var stdout, errOut string
	for i := 0; i < 6; i++ {
		code, stdout, errOut = k.run("diagnose", "noenv", "-n", "demo", "--in-cluster", "--no-llm")
		if code == 0 && strings.Contains(stdout, "DATABASE_URL") {
			t.Logf("in-cluster report (try %d): %d bytes, names DATABASE_URL", i+1, len(stdout))
			return
		}
		time.Sleep(5 * time.Second)
	}
	t.Fatalf("diagnose --in-cluster: %d\n%s\n%s", code, stdout, errOut)
}

// diagnosis is the part of `lab diagnose -o json` the tests read.
type diagnosis struct {
	Findings []struct{ Category, Cause, Container string }
}

func (d diagnosis) String() string {
	var b strings.Builder
	for _, f := range d.Findings {
		fmt.Fprintf(&b, "[%s] %s; ", f.Category, f.Cause)
	}
	return b.String()
}

// Six ways the target application fails, each on a real kubelet; the
// first finding must name the category and the decisive fact.
func kindDiagnose(t *testing.T, ctx context.Context, k *kindLab) {
	targetImage(t, ctx, k)

	cases := []struct {
		name, category string
		args           []string
		probe          string // liveness probe: "port:N" or "slow"
		limit          string
		want           []string // all must appear in the first finding's cause
	}{
		{name: "panic", category: "CrashLoopBackOff", args: []string{"panic"}, want: []string{"assignment to entry in nil map"}},
		{name: "leak", category: "OOMKilled", args: []string{"leak", "16"}, limit: "48Mi", want: []string{"48Mi"}},
		{name: "wrongport", category: "ProbeFailure", args: []string{"serve", "8080"}, probe: "port:8081", want: []string{"8081"}},
		{name: "slowstart", category: "ProbeFailure", args: []string{"slow", "300s", "8080"}, probe: "slow", want: []string{"liveness"}},
		{name: "noenv", category: "CrashLoopBackOff", args: []string{"env", "DATABASE_URL"}, want: []string{"DATABASE_URL"}},
		// the container exits when its database refuses: a crash loop whose decisive line names the dependency,
		// as the regression scenario crashloop-dependency-refused says
		{name: "nodep", category: "CrashLoopBackOff", args: []string{"dep", "db.demo.svc.cluster.local:5432"}, want: []string{"5432", "connection refused"}},
	}
	ns := "demo"
	if _, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	// The dependency the last case waits for: a Service with no backend.
	if _, err := k.cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}, Ports: []corev1.ServicePort{{Port: 5432}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		pod := targetPod(c.name, c.args, c.probe, c.limit)
		if _, err := k.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var last diagnosis
			deadline := time.Now().Add(4 * time.Minute)
			for time.Now().Before(deadline) {
				code, out, errOut := k.run("diagnose", c.name, "-n", ns, "--no-llm", "-o", "json")
				last = diagnosis{}
				if err := json.Unmarshal([]byte(out), &last); err != nil {
					t.Fatalf("diagnose %s: %d %v\n%s\n%s", c.name, code, err, out, errOut)
				}
				if len(last.Findings) > 0 && last.Findings[0].Category == c.category && containsAll(last.Findings[0].Cause, c.want) {
					t.Logf("%s → %s", c.name, last)
					return
				}
				time.Sleep(5 * time.Second)
			}
			p, _ := k.cs.CoreV1().Pods(ns).Get(ctx, c.name, metav1.GetOptions{})
			t.Errorf("%s: want [%s] naming %q; last diagnosis: %s\npod status: %+v", c.name, c.category, c.want, last, p.Status.ContainerStatuses)
		})
	}
}

// agentImage builds the agent's image this lab binary runs (make image)
// and returns its reference.
func agentImage(t *testing.T, ctx context.Context, e *labEnv) string {
	t.Helper()
	code, out, _ := e.run("version")
	if code != 0 || len(strings.Fields(out)) < 2 {
		t.Fatalf("lab version: %d %s", code, out)
	}
	ref := "lab.dev/lab:" + strings.Fields(out)[1]
	if b, err := exec.CommandContext(ctx, "make", "-C", "../..", "image", "IMAGE="+ref, "VERSION=dev").CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, b)
	}
	return ref
}

// targetImage builds the target application's image (test/apps/target,
// FROM scratch) and loads it into the lab's nodes as lab.dev/target:test.
func targetImage(t *testing.T, ctx context.Context, k *kindLab) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "target"), "./test/apps/target")
	build.Dir, build.Env = "../..", append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the target app: %v\n%s", err, out)
	}
	buildImage(t, ctx, "lab.dev/target:test", dir, "FROM scratch\nCOPY target /target\nENTRYPOINT [\"/target\"]\n")
	k.loadImage("lab.dev/target:test")
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func targetPod(name string, args []string, probe, limit string) *corev1.Pod {
	c := corev1.Container{Name: "app", Image: "lab.dev/target:test", ImagePullPolicy: corev1.PullNever, Args: args,
		Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}
	if limit != "" {
		q := resource.MustParse(limit)
		c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q}, Requests: corev1.ResourceList{corev1.ResourceMemory: q}}
	}
	switch {
	case strings.HasPrefix(probe, "port:"):
		var port int32
		fmt.Sscan(strings.TrimPrefix(probe, "port:"), &port)
		c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(port)}},
			InitialDelaySeconds: 2, PeriodSeconds: 3, FailureThreshold: 2}
	case probe == "slow":
		c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
			InitialDelaySeconds: 3, PeriodSeconds: 3, FailureThreshold: 2}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{c}, TerminationGracePeriodSeconds: ptr(int64(1))}}
}

// A NetworkPolicy really blocks traffic on the kind nodes (kube-network-
// policies in the offline node image, as kindnetd in kind's own): the
// server answers a pod it does not police, the policed client's connections
// time out, and `lab diagnose` names the policy. Needs the target image
// the diagnose subtest loaded.
func kindNetworkPolicy(t *testing.T, ctx context.Context, k *kindLab) {
	ns := "locked"
	if _, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	// The policy first, then the server and a pod it does not police; the
	// policed client only once that pod got through (the network works and
	// the enforcer has read the policy).
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	if _, err := k.cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "client-dns-only"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}}}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}, Ports: []corev1.ServicePort{{Port: 5432}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dep := "db." + ns + ".svc.cluster.local:5432"
	create := func(p *corev1.Pod) {
		if _, err := k.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(targetPod("db", []string{"serve", "5432"}, "", ""))
	create(targetPod("open", []string{"dep", dep}, "", ""))
	openReady := func() bool {
		open, _ := k.cs.CoreV1().Pods(ns).Get(ctx, "open", metav1.GetOptions{})
		return open != nil && len(open.Status.ContainerStatuses) > 0 && open.Status.ContainerStatuses[0].Ready
	}
	for i := 0; i < 60 && !openReady(); i++ {
		time.Sleep(2 * time.Second)
	}
	if !openReady() {
		t.Fatal("the unpoliced pod never reached the server: the pod network does not work")
	}
	// The client dials every second and gives up after three failures: its
	// first dial may beat the enforcer to its new pod IP, as on any CNI
	// that learns pod IPs from the API.
	create(targetPod("client", []string{"watch", dep}, "", ""))
	var last diagnosis
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		_, out, _ := k.run("diagnose", "client", "-n", ns, "--no-llm", "-o", "json")
		last = diagnosis{}
		json.Unmarshal([]byte(out), &last)
		if len(last.Findings) > 0 && last.Findings[0].Category == "NetworkPolicyBlocked" && containsAll(last.Findings[0].Cause, []string{"client-dns-only", "5432"}) {
			t.Logf("the unpoliced pod connected; the policed one → %s", last)
			return
		}
		time.Sleep(5 * time.Second)
	}
	client, _ := k.cs.CoreV1().Pods(ns).Get(ctx, "client", metav1.GetOptions{})
	t.Errorf("want the client diagnosed NetworkPolicyBlocked naming client-dns-only and 5432 (its connections dropped); last: %s\nclient: %+v", last, client.Status.ContainerStatuses)
}
