//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"lab.dev/lab/agent"
	"lab.dev/lab/agent/remediate"
	"lab.dev/lab/agent/report"
)

// Whitelisted remediation on the real API server: a server-side dry run
// changes nothing, the real run restarts the Deployment; actions outside the
// policy (disabled, namespace, unknown kind, unbounded scale) are refused.
func TestRemediationWhitelist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := scenario(t, "crashloop-exit1")
	ns := "remediate"
	pods, err := cluster.Apply(ctx, s, ns)
	if err != nil {
		t.Fatal(err)
	}
	r, err := agent.Diagnose(ctx, cluster.Client, ns, pods[0].Name, agent.Options{NoLLM: true})
	if err != nil {
		t.Fatal(err)
	}
	kind, _ := r.ProposedAction()
	if kind != remediate.RolloutRestart {
		t.Fatalf("proposed %q", kind)
	}
	pol := remediate.Policy{Enabled: true, Allowed: []string{"rollout-restart", "scale"}, Namespaces: []string{ns}, MaxReplicas: 3}
	for _, bad := range []struct {
		name     string
		kind     string
		replicas int
		pol      remediate.Policy
	}{
		{"disabled", kind, 0, remediate.Policy{Allowed: pol.Allowed, Namespaces: pol.Namespaces}},
		{"other-namespace", kind, 0, remediate.Policy{Enabled: true, Allowed: pol.Allowed, Namespaces: []string{"default"}}},
		{"not-whitelisted", "delete-failed-pod", 0, pol},
		{"injected-action", "delete-namespace", 0, pol},
		{"scale-over-bound", "scale", 50, pol},
	} {
		if _, err := remediate.Plan(bad.kind, bad.replicas, r.Source, bad.pol); !errors.Is(err, remediate.ErrNotAllowed) {
			t.Errorf("%s: want ErrNotAllowed, got %v", bad.name, err)
		}
	}
	a, err := remediate.Plan(kind, 0, r.Source, pol)
	if err != nil || a.Target != "Deployment/api" {
		t.Fatalf("plan: %+v %v", a, err)
	}
	restartedAt := func() string {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
	}
	if _, err := remediate.Run(ctx, cluster.Client, a, true); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if restartedAt() != "" {
		t.Fatal("the dry run changed the Deployment")
	}
	if _, err := remediate.Run(ctx, cluster.Client, a, false); err != nil {
		t.Fatal(err)
	}
	if restartedAt() == "" {
		t.Fatal("rollout restart did not patch the template")
	}
	// Verified, not assumed: the new pod is diagnosed after the rollout. The
	// scenario's pods keep failing the same way, so the restart did not help.
	v, err := agent.Verify(ctx, cluster.Client, r, a, agent.Options{NoLLM: true}, 15*time.Second)
	if err != nil || !strings.Contains(v, "verified:") || !strings.Contains(v, "still shows CrashLoopBackOff") || strings.Contains(v, pods[0].Name) {
		t.Errorf("verification: %q, %v", v, err)
	}
	t.Log(v)
}

// A Deployment Argo CD manages gets the change to make in git — the file of
// the GitOps repository and a diff of its memory limit — and no live action;
// the same Deployment with only Helm's instance label (no Application) is
// not taken for Argo CD's.
func TestArgoManagedGetsAGitDiff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := scenario(t, "crashloop-oom")
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "apps", "ledger.yaml"), []byte(s.Objects), 0o644); err != nil {
		t.Fatal(err)
	}
	// A real ValidatingAdmissionPolicy, enforced by the API server, refuses
	// memory limits above 300Mi in namespace policed: the fix (256Mi →
	// 512Mi) is one the cluster would reject, so it must not be proposed.
	capPolicy(ctx, t, "policed")
	for _, c := range []struct {
		ns          string
		annotations map[string]string
		labels      map[string]string
		managed     bool
		refused     bool
	}{
		{"argo-managed", map[string]string{"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:argo-managed/ledger"}, nil, true, false},
		{"helm-only", nil, map[string]string{"app.kubernetes.io/instance": "ledger"}, false, false},
		{"policed", map[string]string{"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:policed/ledger"}, nil, true, true},
	} {
		pods, err := cluster.Apply(ctx, s, c.ns)
		if err != nil {
			t.Fatal(err)
		}
		// as Argo CD (or Helm) marks what it applies; a merge patch, since the
		// Deployment controller writes the object meanwhile
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": c.annotations, "labels": c.labels}})
		if _, err := cluster.Client.AppsV1().Deployments(c.ns).Patch(ctx, "ledger", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		var r *report.Report
		for i := 0; i < 40; i++ {
			if r, err = agent.Diagnose(ctx, cluster.Client, c.ns, pods[0].Name, agent.Options{NoLLM: true, GitOpsRepo: repo, Whitelist: []string{"rollout-restart"}}); err != nil {
				t.Fatal(err)
			}
			if p := r.Primary(); p != nil && p.Category == "OOMKilled" {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if !c.managed {
			if r.GitOps != nil {
				t.Errorf("%s: taken for Argo CD's: %+v", c.ns, r.GitOps)
			}
			if kind, _ := r.ProposedAction(); kind != "rollout-restart" {
				t.Errorf("%s: an unmanaged workload keeps its live action, got %q", c.ns, kind)
			}
			continue
		}
		g := r.GitOps
		if c.refused {
			if g == nil || g.Change != nil || !strings.Contains(g.Note, "lab-test-memory-cap") || !strings.Contains(g.Note, "does not propose it") {
				t.Errorf("%s: a change the cluster refuses was proposed, or the refusal not named: %+v", c.ns, g)
			}
			continue
		}
		if g == nil || g.Managed == nil || g.Managed.App != "shop" || g.Change == nil {
			t.Fatalf("%s: %+v", c.ns, g)
		}
		if g.Change.File != filepath.Join("apps", "ledger.yaml") || !strings.Contains(g.Change.Diff, "-          limits: {memory: 256Mi}") || !strings.Contains(g.Change.Diff, "+          limits: {memory: 512Mi}") {
			t.Errorf("diff of %s:\n%s", g.Change.File, g.Change.Diff)
		}
		if kind, _ := r.ProposedAction(); kind != "" {
			t.Errorf("a live action %q was proposed for an Argo CD-managed Deployment", kind)
		}
		var md bytes.Buffer
		r.Markdown(&md)
		if !strings.Contains(md.String(), "## The fix, in git") || !strings.Contains(md.String(), "```diff") {
			t.Errorf("post-mortem:\n%s", md.String())
		}
		t.Logf("%s → %s\n%s", g.Workload, g.Change.File, g.Change.Diff)
	}
}

// `lab diagnose` as users run it: the built binary, --no-llm, JSON out.
func TestDiagnoseCLI(t *testing.T) {
	e := &labEnv{t: t, bin: buildLab(t), home: t.TempDir()}
	e.cfg = filepath.Join(e.home, "lab.yaml")
	os.WriteFile(e.cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods, err := cluster.Apply(ctx, scenario(t, "missing-configmap"), "cli-diag")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.run("diagnose", pods[0].Name, "-n", "cli-diag", "--no-llm", "--kubeconfig", cluster.Kubeconfig, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		TraceID  string
		Findings []struct{ Category string }
		Model    struct{ Mode string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.TraceID == "" || len(rep.Findings) == 0 || rep.Findings[0].Category != "CreateContainerConfigError" || rep.Model.Mode != "human-operator" {
		t.Errorf("report: %+v", rep)
	}
	if code, _, errOut := e.run("diagnose", "no-such-pod", "-n", "cli-diag", "--no-llm", "--kubeconfig", cluster.Kubeconfig); code != 1 || errOut == "" {
		t.Errorf("missing pod: exit %d %q", code, errOut)
	}
}

// capPolicy makes the API server refuse Deployments in ns whose containers'
// memory limit is above 300Mi (a ValidatingAdmissionPolicy and its binding),
// and waits until it does.
func capPolicy(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	adm := cluster.Client.AdmissionregistrationV1()
	fail := admissionregistrationv1.Fail
	_, err := adm.ValidatingAdmissionPolicies().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "lab-test-memory-cap"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}}},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: `object.spec.template.spec.containers.all(c, !has(c.resources) || !has(c.resources.limits) || !('memory' in c.resources.limits) || quantity(c.resources.limits['memory']).compareTo(quantity('300Mi')) <= 0)`,
				Message:    "memory limits above 300Mi are not allowed in this namespace (policy lab-test-memory-cap)",
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = adm.ValidatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "lab-test-memory-cap"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "lab-test-memory-cap",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		adm.ValidatingAdmissionPolicyBindings().Delete(context.Background(), "lab-test-memory-cap", metav1.DeleteOptions{})
		adm.ValidatingAdmissionPolicies().Delete(context.Background(), "lab-test-memory-cap", metav1.DeleteOptions{})
	})
	// The API server compiles the policy asynchronously: probe with a dry run.
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	probe := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "x:1", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}}}
	for i := 0; i < 100; i++ {
		_, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "lab-test-memory-cap") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the ValidatingAdmissionPolicy never took effect")
}
