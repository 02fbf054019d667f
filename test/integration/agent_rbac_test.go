//go:build integration

package integration

import (
	"context"
	"lab.dev/lab/core/kube"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/config"
	"lab.dev/lab/test/harness"
)

func agentLab(remediation bool) *config.Lab {
	l := config.Default()
	l.Agent.Namespace = "lab-agent"
	l.Agent.Namespaces = []string{"rbac-app"}
	l.Agent.Remediation.Enabled = remediation
	return l
}

// agentClient authenticates as the agent's ServiceAccount with a real token
// from the TokenRequest API: every check below is the API server's own.
func agentClient(t *testing.T, ctx context.Context, l *config.Lab) kubernetes.Interface {
	return agentClientOn(t, ctx, cluster, l)
}

func agentClientOn(t *testing.T, ctx context.Context, cluster *harness.Cluster, l *config.Lab) kubernetes.Interface {
	tr, err := cluster.Client.CoreV1().ServiceAccounts(l.Agent.Namespace).CreateToken(ctx, deploy.ServiceAccount,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: cluster.Server, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: cluster.PKI.CAFile}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func install(t *testing.T, ctx context.Context, l *config.Lab) []kube.Result {
	a, err := kube.NewApplier(cluster.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := deploy.Install(ctx, a, l)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAgentLeastPrivilege(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := cluster.Apply(ctx, scenario(t, "crashloop-exit1"), "rbac-app")
	if err != nil {
		t.Fatal(err)
	}
	pod := pods[0].Name
	cluster.Client.CoreV1().Secrets("rbac-app").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "x"}}, metav1.CreateOptions{})

	l := agentLab(false)
	install(t, ctx, l)
	if res := install(t, ctx, l); !allUnchanged(res) {
		t.Errorf("second apply changed something: %+v", res)
	}
	ag := agentClient(t, ctx, l)
	// What it needs.
	if _, err := ag.CoreV1().Pods("rbac-app").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list pods: %v", err)
	}
	if _, err := ag.CoreV1().Pods("rbac-app").GetLogs(pod, &corev1.PodLogOptions{Container: "api", Previous: true}).DoRaw(ctx); err != nil {
		t.Errorf("read previous logs: %v", err)
	}
	if _, err := ag.CoreV1().Events("rbac-app").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list events: %v", err)
	}
	if _, err := ag.AppsV1().Deployments("rbac-app").Get(ctx, "api", metav1.GetOptions{}); err != nil {
		t.Errorf("get deployment: %v", err)
	}
	// What it must not do.
	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: want Forbidden, got %v", what, err)
		}
	}
	_, err = ag.CoreV1().Secrets("rbac-app").Get(ctx, "db", metav1.GetOptions{})
	forbidden("get secret", err)
	_, err = ag.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	forbidden("list secrets cluster-wide", err)
	forbidden("delete pod", ag.CoreV1().Pods("rbac-app").Delete(ctx, pod, metav1.DeleteOptions{}))
	_, err = ag.AppsV1().Deployments("rbac-app").Patch(ctx, "api", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{})
	forbidden("patch deployment", err)
	_, err = ag.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	forbidden("list pods outside its namespaces", err)

	// Remediation on: patch and delete become possible, secrets stay closed.
	lr := agentLab(true)
	install(t, ctx, lr)
	if _, err := ag.AppsV1().Deployments("rbac-app").Patch(ctx, "api", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("patch with remediation on: %v", err)
	}
	_, err = ag.CoreV1().Secrets("rbac-app").Get(ctx, "db", metav1.GetOptions{})
	forbidden("get secret with remediation on", err)

	// Off again: the remediation Role is gone, not just unused.
	install(t, ctx, l)
	if _, err := cluster.Client.RbacV1().Roles("rbac-app").Get(ctx, "lab-agent-remediate", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("remediation Role still present: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	_, err = ag.AppsV1().Deployments("rbac-app").Patch(ctx, "api", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	forbidden("patch after remediation off", err)
}

func allUnchanged(res []kube.Result) bool {
	for _, r := range res {
		if r.Action != "unchanged" {
			return false
		}
	}
	return len(res) > 0
}

// rbac-check passes on lab's own objects and catches a deliberately
// over-privileged binding.
func TestRBACCheckCatchesOverPrivilege(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := agentLab(false)
	l.Agent.Namespaces = []string{"rbac-check"}
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rbac-check"}}, metav1.CreateOptions{})
	install(t, ctx, l)
	rep, err := deploy.RBACCheck(ctx, cluster.Config, l)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed {
		t.Fatalf("lab's own RBAC fails the check: undeclared %v, probes %+v", rep.Undeclared, failed(rep))
	}
	// Someone "helpfully" lets the agent read secrets everywhere.
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "too-much"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "too-much"}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "too-much"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: deploy.ServiceAccount, Namespace: l.Agent.Namespace}}}
	if _, err := cluster.Client.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer cluster.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), "too-much", metav1.DeleteOptions{})
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep, err = deploy.RBACCheck(ctx, cluster.Config, l)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Passed || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if rep.Passed {
		t.Fatal("rbac-check passed with a secrets-reading binding")
	}
	joined := strings.Join(rep.Undeclared, "\n")
	if !strings.Contains(joined, "get secrets in rbac-check") {
		t.Errorf("undeclared rules do not name secrets: %v", rep.Undeclared)
	}
	found := false
	for _, p := range failed(rep) {
		found = found || (p.Resource == "secrets" && p.Allowed)
	}
	if !found {
		t.Errorf("no failed secrets probe: %+v", failed(rep))
	}
}

func failed(rep deploy.Report) []deploy.CheckResult {
	var out []deploy.CheckResult
	for _, p := range rep.Probes {
		if !p.OK {
			out = append(out, p)
		}
	}
	return out
}

// The agent's APF objects are accepted, in effect (Dangling=False) and
// visible in the API server's flow-control metrics.
func TestAgentAPFApplied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := agentLab(false)
	cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rbac-app"}}, metav1.CreateOptions{})
	install(t, ctx, l) // the ServiceAccount whose requests we watch
	a, _ := kube.NewApplier(cluster.Config, false)
	objs, err := deploy.Render(l, deploy.APF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	var st deploy.APFStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err = deploy.ReadAPF(ctx, cluster.Client)
		if err != nil {
			t.Fatal(err)
		}
		if (st.Dangling == "False" && st.NominalSeats > 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if st.Dangling != "False" || st.NominalSeats <= 0 {
		t.Fatalf("APF status: %+v", st)
	}
	// A request as the agent is dispatched through its priority level.
	ag := agentClient(t, ctx, l)
	before := st.Dispatched
	ag.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	st, _ = deploy.ReadAPF(ctx, cluster.Client)
	if st.Dispatched <= before {
		t.Errorf("agent request not dispatched through lab-agent: %+v", st)
	}
	t.Logf("lab-agent priority level: %+v", st)
}

// `lab diagnose --in-cluster`: the Job runs with the agent's ServiceAccount,
// hardened, and lab waits for it and streams its pod's log back. (kwok
// simulates the pod, so the log is kwok's, not a real report.)
func TestDiagnoseJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := agentLab(false)
	install(t, ctx, l)
	j, err := deploy.DiagnoseJob(l, deploy.JobSpec{Pod: "api-123", PodNamespace: "rbac-app", NoLLM: true})
	if err != nil {
		t.Fatal(err)
	}
	ps := j.Spec.Template.Spec
	if ps.ServiceAccountName != deploy.ServiceAccount || *ps.SecurityContext.RunAsNonRoot != true || *ps.Containers[0].SecurityContext.ReadOnlyRootFilesystem != true {
		t.Errorf("job pod spec: %+v", ps)
	}
	if args := strings.Join(ps.Containers[0].Args, " "); !strings.Contains(args, "diagnose api-123 -n rbac-app --in-cluster-run") || !strings.Contains(args, "--no-llm") {
		t.Errorf("args: %s", args)
	}
	// The container's output, as kwok (the simulated kubelet) serves it.
	go func() {
		for ctx.Err() == nil {
			pods, _ := cluster.Client.CoreV1().Pods(l.Agent.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=lab-diagnose"})
			for _, p := range pods.Items {
				cluster.SetLogs(ctx, p.Namespace, p.Name, []harness.ContainerLogs{{Container: "diagnose", Current: "# Post-mortem: rbac-app/api-123\n"}})
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var out strings.Builder
	created, err := deploy.RunJob(ctx, cluster.Client, j, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "# Post-mortem: rbac-app/api-123") {
		t.Errorf("report not streamed back: %q", out.String())
	}
	if created.Namespace != l.Agent.Namespace || !strings.HasPrefix(created.Name, "lab-diagnose-") {
		t.Errorf("job %s/%s", created.Namespace, created.Name)
	}
}
