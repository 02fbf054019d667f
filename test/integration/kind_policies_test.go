//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"lab.dev/lab/core/config"
)

// kyvernoBuilt tells whether Kyverno's controllers, its images' binaries,
// are in the test-binary cache (test/bin/build.sh builds them unless
// LAB_SKIP_KYVERNO=1).
func kyvernoBuilt() (bool, string) {
	p := filepath.Join(os.Getenv("LAB_TESTBIN"), "kyverno-"+config.Pinned().Components["kyvernoModule"], "kyverno")
	_, err := os.Stat(p)
	return err == nil, p
}

var (
	clusterPolicies = schema.GroupVersionResource{Group: "kyverno.io", Version: "v1", Resource: "clusterpolicies"}
	policyReports   = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}
)

// rootPod is the target app serving as root (its image has no USER and the
// pod asks for nothing else): what lab-disallow-root forbids. It also has
// no probes (lab-require-probes); the tests look for lab-disallow-root.
func rootPod(name string) *corev1.Pod {
	p := targetPod(name, []string{"serve", "8080"}, "", "32Mi")
	p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("10m")
	return p
}

// deploymentOf runs pod's spec as a Deployment of the same name and labels
// (one replica).
func deploymentOf(p *corev1.Pod) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: p.Name}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: p.Labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: p.Spec}}}
}

// Policies for real, Audit: Kyverno (its controllers built from its module,
// installed from its chart) runs lab's policy set, which Argo CD synced from
// the lab's own repository; a root workload is admitted and Kyverno's
// reports controller writes a PolicyReport that fails it under
// lab-disallow-root.
func kindPolicyAudit(t *testing.T, ctx context.Context, k *kindLab, ns string) {
	_, apps := argoApps(ctx, t, k)
	if s, ok := apps["lab-policies"]; !ok || !s.Ready() {
		t.Fatalf("Application lab-policies: %+v (all: %+v)", s, apps)
	}
	dyn := k.dynamic(t)
	cp, err := dyn.Resource(clusterPolicies).Get(ctx, "lab-disallow-root", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lab-disallow-root after Argo CD's sync: %v", err)
	}
	if a := failureActions(cp); strings.Join(a, ",") != "Audit,Audit" {
		t.Fatalf("lab-disallow-root's failure actions as synced: %v", a)
	}
	waitPolicyReady(ctx, t, dyn, "lab-disallow-root", "Audit")
	if _, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := k.cs.AppsV1().Deployments(ns).Create(ctx, deploymentOf(rootPod("rooty")), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a root Deployment under Audit was refused: %v", err)
	}
	for {
		reps, err := dyn.Resource(policyReports).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			if kind, name, msg := failedResult(reps.Items, "lab-disallow-root"); kind != "" {
				t.Logf("Audit: Kyverno's PolicyReport fails %s %s/%s under lab-disallow-root %s after the Deployment was created: %s",
					kind, ns, name, time.Since(start).Round(time.Second), msg)
				return
			}
		}
		if time.Since(start) > 4*time.Minute {
			t.Fatalf("no PolicyReport in %s failing lab-disallow-root in 4 min (%v): %d reports\n%s", ns, err, len(reps.Items), podTable(ctx, k.cs, "kyverno"))
		}
		time.Sleep(5 * time.Second)
	}
}

// Policies for real, Enforce: the change a team makes in git —
// failureAction Audit → Enforce in the lab's repository — reaches Kyverno
// through Argo CD; Kyverno's admission webhook then refuses a root pod, and
// when the root Deployment admitted under Audit scales, its ReplicaSet
// cannot create the pod: lab diagnose names the policy from the owner's
// events.
func kindPolicyEnforce(t *testing.T, ctx context.Context, k *kindLab, ns string) {
	repo := ownRepo(k)
	b, err := os.ReadFile(filepath.Join(repo, "policies", "kyverno.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	enforced := strings.ReplaceAll(string(b), "failureAction: Audit", "failureAction: Enforce")
	if enforced == string(b) {
		t.Fatalf("policies/kyverno.yaml has no failureAction: Audit:\n%s", b)
	}
	start := time.Now()
	rev := commit(t, repo, "policies: enforce", map[string]string{"policies/kyverno.yaml": enforced})
	if code, _, errOut := k.run("gitops", "sync", "lab-policies"); code != 0 {
		t.Fatalf("lab gitops sync lab-policies: %d\n%s", code, errOut)
	}
	dyn := k.dynamic(t)
	waitPolicyReady(ctx, t, dyn, "lab-disallow-root", "Enforce")
	t.Logf("commit %s (Enforce) → Argo CD → Kyverno's policy Ready: %s", rev[:8], time.Since(start).Round(time.Second))
	// Kyverno reconfigures its webhooks for the enforcing policy: a root pod
	// (server-side dry run: admission runs, nothing is stored) is refused.
	pod := rootPod("root-probe")
	for {
		_, err := k.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "lab-disallow-root") {
			t.Logf("Enforce: a root pod is refused %s after the commit: %.400s", time.Since(start).Round(time.Second), err)
			break
		}
		if time.Since(start) > 4*time.Minute {
			t.Fatalf("a root pod in %s is still admitted (or refused otherwise) 4 min after the Enforce commit: %v", ns, err)
		}
		time.Sleep(3 * time.Second)
	}
	pods, err := k.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=rooty"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("rooty's pods: %v %d", err, len(pods.Items))
	}
	running := pods.Items[0].Name
	if _, err := k.cs.AppsV1().Deployments(ns).UpdateScale(ctx, "rooty", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "rooty", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scaling rooty: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		evs, _ := k.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
		denied := ""
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "ReplicaSet" && strings.Contains(e.Message, "lab-disallow-root") {
				denied = e.Message
			}
		}
		if denied != "" {
			t.Logf("the ReplicaSet's event: %.400s", denied)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no FailedCreate naming lab-disallow-root on rooty's ReplicaSet in 2 min: %+v", evs.Items)
		}
		time.Sleep(3 * time.Second)
	}
	code, out, errOut := k.run("diagnose", running, "-n", ns, "--no-llm", "-o", "json")
	var rep struct {
		TraceID  string
		Findings []struct{ Category, Cause string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Findings) == 0 {
		t.Fatalf("lab diagnose %s: %d %v\n%s\n%s", running, code, err, out, errOut)
	}
	f := rep.Findings[0]
	if f.Category != "AdmissionDenied" || !strings.Contains(f.Cause, "lab-disallow-root") || !strings.Contains(f.Cause, "ReplicaSet") {
		t.Fatalf("lab diagnose %s (trace %s): %+v", running, rep.TraceID, rep.Findings)
	}
	t.Logf("lab diagnose %s (trace %s): %s: %s", running, rep.TraceID, f.Category, f.Cause)
}

// failureActions lists a ClusterPolicy's rules' validate.failureAction.
func failureActions(cp *unstructured.Unstructured) []string {
	rules, _, _ := unstructured.NestedSlice(cp.Object, "spec", "rules")
	var out []string
	for _, r := range rules {
		a, _, _ := unstructured.NestedString(r.(map[string]any), "validate", "failureAction")
		out = append(out, a)
	}
	return out
}

// waitPolicyReady waits until the ClusterPolicy's rules all have action and
// Kyverno reports it Ready.
func waitPolicyReady(ctx context.Context, t *testing.T, dyn dynamic.Interface, name, action string) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		cp, err := dyn.Resource(clusterPolicies).Get(ctx, name, metav1.GetOptions{})
		ready := false
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(cp.Object, "status", "conditions")
			for _, c := range conds {
				m := c.(map[string]any)
				ready = ready || (m["type"] == "Ready" && m["status"] == "True")
			}
			acts := failureActions(cp)
			for _, a := range acts {
				ready = ready && a == action
			}
			if ready {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClusterPolicy %s not Ready in %s mode in 4 min: %v %v", name, action, err, cp)
		}
		time.Sleep(3 * time.Second)
	}
}

// failedResult finds, in PolicyReports, a result of policy that failed: the
// resource's kind and name and the message.
func failedResult(reports []unstructured.Unstructured, policy string) (kind, name, msg string) {
	for _, r := range reports {
		results, _, _ := unstructured.NestedSlice(r.Object, "results")
		for _, x := range results {
			m := x.(map[string]any)
			if m["policy"] != policy || m["result"] != "fail" {
				continue
			}
			kind, _, _ = unstructured.NestedString(r.Object, "scope", "kind")
			name, _, _ = unstructured.NestedString(r.Object, "scope", "name")
			s, _ := m["message"].(string)
			return kind, name, s
		}
	}
	return "", "", ""
}
