package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os/exec"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// NetworkPolicy enforcement, the part kindnetd plays in kind's own image
// (kube-network-policies needs the nftables queue expression, which the
// kernels of lab's CI machines lack). For the pods on this node, two
// iptables chains in the filter table, jumped to first from FORWARD:
// PODNET-EGRESS checks what a policed pod sends, PODNET-INGRESS what a
// policed pod receives; an allowed packet returns to FORWARD, a policed one
// no rule allows is dropped, replies (conntrack) always pass. Traffic to a
// Service is checked after kube-proxy's DNAT, against the backend pod.
//
// The subset a test cluster needs: podSelector, namespaceSelector (and
// both) and ipBlock peers (no except), TCP/UDP/SCTP ports by number (named
// ports on ingress, from the policed pod's containers), policyTypes with
// the API's defaults. Not: endPort, ipBlock except, named egress ports.
const (
	egressChain  = "PODNET-EGRESS"
	ingressChain = "PODNET-INGRESS"
)

type netpolState struct{ last string }

func (s *netpolState) enforce(ctx context.Context, cs kubernetes.Interface, self string) error {
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	pols, err := cs.NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing network policies: %w", err)
	}
	nsLabels := map[string]labels.Set{}
	for _, n := range nss.Items {
		nsLabels[n.Name] = n.Labels
	}
	rules := render(self, pods.Items, nsLabels, pols.Items)
	if rules == s.last {
		return nil
	}
	for i, chain := range []string{egressChain, ingressChain} {
		exec.CommandContext(ctx, "iptables", "-w", "-N", chain).Run() // exists after the first time
		jump := []string{"FORWARD", "-m", "comment", "--comment", "podnet: NetworkPolicies", "-j", chain}
		if exec.CommandContext(ctx, "iptables", append([]string{"-w", "-C"}, jump...)...).Run() != nil {
			pos := fmt.Sprint(i + 1)
			if out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", "-I", jump[0], pos}, jump[1:]...)...).CombinedOutput(); err != nil {
				return fmt.Errorf("jump to %s: %v: %s", chain, err, out)
			}
		}
	}
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s\n%s", err, out, rules)
	}
	s.last = rules
	log.Printf("network policies: %d rules", strings.Count(rules, "\n-A "))
	return nil
}

// render is the iptables-restore input for the policed pods on node self.
func render(self string, pods []corev1.Pod, nsLabels map[string]labels.Set, pols []networkingv1.NetworkPolicy) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n:%s - [0:0]\n", egressChain, ingressChain)
	for _, c := range []string{egressChain, ingressChain} {
		fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n", c)
	}
	live := func(p *corev1.Pod) bool {
		return p.Status.PodIP != "" && !p.Spec.HostNetwork && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name })
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName != self || !live(p) {
			continue
		}
		var eg, in bool
		for _, pol := range pols {
			if pol.Namespace != p.Namespace || !selects(&pol.Spec.PodSelector, p.Labels) {
				continue
			}
			ing, egr := types(&pol)
			ip := p.Status.PodIP + "/32"
			if egr {
				eg = true
				for _, r := range pol.Spec.Egress {
					allow(&b, egressChain, "-s "+ip, " -d ", peers(r.To, pol.Namespace, pods, nsLabels, live), ports(r.Ports, nil), &pol)
				}
			}
			if ing {
				in = true
				for _, r := range pol.Spec.Ingress {
					allow(&b, ingressChain, "-d "+ip, " -s ", peers(r.From, pol.Namespace, pods, nsLabels, live), ports(r.Ports, p), &pol)
				}
			}
		}
		if eg {
			fmt.Fprintf(&b, "-A %s -s %s/32 -m comment --comment \"egress of %s/%s: no policy allows\" -j DROP\n", egressChain, p.Status.PodIP, p.Namespace, p.Name)
		}
		if in {
			fmt.Fprintf(&b, "-A %s -d %s/32 -m comment --comment \"ingress of %s/%s: no policy allows\" -j DROP\n", ingressChain, p.Status.PodIP, p.Namespace, p.Name)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// types is the directions a policy polices, with the API's defaults.
func types(pol *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(pol.Spec.PolicyTypes) == 0 {
		return true, len(pol.Spec.Egress) > 0
	}
	for _, t := range pol.Spec.PolicyTypes {
		ingress = ingress || t == networkingv1.PolicyTypeIngress
		egress = egress || t == networkingv1.PolicyTypeEgress
	}
	return ingress, egress
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// peers are the CIDRs a rule's peer list allows; "" is anywhere (no peers).
func peers(list []networkingv1.NetworkPolicyPeer, ns string, pods []corev1.Pod, nsLabels map[string]labels.Set, live func(*corev1.Pod) bool) []string {
	if len(list) == 0 {
		return []string{""}
	}
	var out []string
	for _, peer := range list {
		if peer.IPBlock != nil {
			out = append(out, peer.IPBlock.CIDR)
			continue
		}
		for i := range pods {
			p := &pods[i]
			if !live(p) {
				continue
			}
			inNS := p.Namespace == ns
			if peer.NamespaceSelector != nil {
				inNS = selects(peer.NamespaceSelector, nsLabels[p.Namespace])
			}
			if inNS && (peer.PodSelector == nil || selects(peer.PodSelector, p.Labels)) {
				out = append(out, p.Status.PodIP+"/32")
			}
		}
	}
	if len(out) == 0 {
		return nil // peers that match no pod allow nothing
	}
	return out
}

// ports are the match clauses of a rule's ports; " " alone is any port.
// Named ports resolve against the policed pod (ingress) or match nothing.
func ports(list []networkingv1.NetworkPolicyPort, target *corev1.Pod) []string {
	if len(list) == 0 {
		return []string{""}
	}
	var out []string
	for _, pp := range list {
		proto := "tcp"
		if pp.Protocol != nil {
			proto = strings.ToLower(string(*pp.Protocol))
		}
		if pp.Port == nil {
			out = append(out, " -p "+proto)
			continue
		}
		n := pp.Port.IntValue()
		if n == 0 && target != nil {
			for _, c := range target.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == pp.Port.String() {
						n = int(cp.ContainerPort)
					}
				}
			}
		}
		if n > 0 {
			out = append(out, fmt.Sprintf(" -p %s --dport %d", proto, n))
		}
	}
	return out
}

// allow writes a RETURN for each peer × port of one rule: self matches the
// policed pod (-s for egress, -d for ingress), peerFlag the other end.
func allow(b *bytes.Buffer, chain, self, peerFlag string, peers, ports []string, pol *networkingv1.NetworkPolicy) {
	for _, peer := range peers {
		if peer != "" {
			peer = peerFlag + peer
		}
		for _, port := range ports {
			fmt.Fprintf(b, "-A %s %s%s%s -m comment --comment \"%s/%s\" -j RETURN\n", chain, self, peer, port, pol.Namespace, pol.Name)
		}
	}
}
