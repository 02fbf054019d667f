package remediate

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/agent/collect"
)

func bundle(replicas int32) *collect.Bundle {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}}
	return &collect.Bundle{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}},
		Owners: []collect.Owner{{Kind: "ReplicaSet", Name: "web-5d"}, {Kind: "Deployment", Name: "web", Object: d}}}
}

var pol = Policy{Enabled: true, Allowed: []string{Scale, RolloutRestart, DeleteFailedPod}, Namespaces: []string{"shop"}, MaxReplicas: 5}

// A scale is never to zero, never below what runs unless a person asks,
// never without a count a person gave (a model's number is not taken).
func TestPlanScaleBounds(t *testing.T) {
	for _, c := range []struct {
		replicas  int
		scaleDown bool
		ok        bool
		why       string
	}{
		{-1, false, false, "from a person"},
		{0, true, false, "outside 1..5"},
		{2, false, false, "needs --allow-scale-down"},
		{2, true, true, ""},
		{3, false, true, ""},
		{4, false, true, ""},
		{6, false, false, "outside 1..5"},
	} {
		p := pol
		p.ScaleDown = c.scaleDown
		a, err := Plan(Scale, c.replicas, bundle(3), p)
		if (err == nil) != c.ok || (err != nil && (!errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), c.why))) {
			t.Errorf("scale to %d (down %v): %+v, %v", c.replicas, c.scaleDown, a, err)
		}
		if err == nil && a.Replicas != c.replicas {
			t.Errorf("planned %d, asked %d", a.Replicas, c.replicas)
		}
	}
}

func TestPlanPolicy(t *testing.T) {
	for _, c := range []struct {
		kind string
		pol  func(*Policy)
		why  string
	}{
		{RolloutRestart, func(p *Policy) { p.Enabled = false }, "enabled is false"},
		{RolloutRestart, func(p *Policy) { p.Allowed = []string{Scale} }, "not in agent.remediation.allowed"},
		{RolloutRestart, func(p *Policy) { p.Namespaces = []string{"other"} }, "not in agent.namespaces"},
		{"exec", func(*Policy) {}, "not in agent.remediation.allowed"},
	} {
		p := pol
		p.Allowed = append([]string{}, pol.Allowed...)
		c.pol(&p)
		if _, err := Plan(c.kind, -1, bundle(1), p); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %v, want %q", c.kind, err, c.why)
		}
	}
	a, err := Plan(RolloutRestart, -1, bundle(1), pol)
	if err != nil || a.Target != "Deployment/web" {
		t.Errorf("rollout-restart: %+v %v", a, err)
	}
	if a, err := Plan(DeleteFailedPod, -1, bundle(1), pol); err != nil || a.Target != "Pod/web-1" {
		t.Errorf("delete-failed-pod: %+v %v", a, err)
	}
}
