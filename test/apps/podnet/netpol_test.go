package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(ns, name, node, ip string, l map[string]string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l},
		Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning}}
}

// A pod a DNS-only egress policy selects gets a RETURN for port 53 and a
// DROP for everything else; a pod no policy selects gets no rule; an
// ingress policy from one namespace lets only that namespace's pods in.
func TestRender(t *testing.T) {
	udp := corev1.ProtocolUDP
	dns := intstr.FromInt32(53)
	web := intstr.FromString("http")
	pods := []corev1.Pod{
		pod("locked", "client", "n1", "10.0.0.2", map[string]string{"app": "client"}),
		pod("locked", "open", "n1", "10.0.0.3", map[string]string{"app": "open"}),
		pod("shop", "web", "n1", "10.0.0.4", map[string]string{"app": "web"}),
		pod("monitoring", "prom", "n2", "10.0.1.5", nil),
		pod("locked", "elsewhere", "n2", "10.0.1.6", map[string]string{"app": "client"}),
	}
	pods[2].Spec.Containers = []corev1.Container{{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}
	pols := []networkingv1.NetworkPolicy{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "client-dns-only"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "from-monitoring"}, Spec: networkingv1.NetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &web}}}}}},
	}
	ns := map[string]labels.Set{"locked": {"kubernetes.io/metadata.name": "locked"}, "shop": {"kubernetes.io/metadata.name": "shop"}, "monitoring": {"kubernetes.io/metadata.name": "monitoring"}}
	got := render("n1", pods, ns, pols)
	for _, want := range []string{
		`-A PODNET-EGRESS -s 10.0.0.2/32 -p udp --dport 53 -m comment --comment "locked/client-dns-only" -j RETURN`,
		`-A PODNET-EGRESS -s 10.0.0.2/32 -m comment --comment "egress of locked/client: no policy allows" -j DROP`,
		`-A PODNET-INGRESS -d 10.0.0.4/32 -s 10.0.1.5/32 -p tcp --dport 8080 -m comment --comment "shop/from-monitoring" -j RETURN`,
		`-A PODNET-INGRESS -d 10.0.0.4/32 -m comment --comment "ingress of shop/web: no policy allows" -j DROP`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	for _, not := range []string{"10.0.0.3/32", "10.0.1.6/32 -m"} {
		if strings.Contains(got, not) {
			t.Errorf("a rule for %s (not policed, or not on this node):\n%s", not, got)
		}
	}
}
