// Command podnet is the pod network of lab's offline kind node image
// (test/bin/kind/node-image.sh), the part kind's kindnetd plays in the stock
// image: on its node it writes the CNI configuration — ptp links, host-local
// addresses from the node's pod CIDR, portmap — and keeps one route per other
// node, that node's pod CIDR through its InternalIP on kind's Docker
// network, and one masquerade rule: traffic from this node's pods to
// anything outside the cluster's pod subnet (the host, a server lab runs
// there) leaves with the node's address, since nothing outside knows the
// pod routes. Pods reach each other and Services by their own addresses.
// Flannel would be the
// usual choice; its module needs one that the Go module proxy here refuses
// (tencentcloud-sdk-go's vpc), and kindnet's is not served.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const confFile = "/etc/cni/net.d/10-podnet.conflist"

func main() {
	node := os.Getenv("NODE_NAME")
	if node == "" {
		log.Fatal("NODE_NAME is not set (the DaemonSet passes spec.nodeName)")
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		log.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		log.Fatal(err)
	}
	cluster := os.Getenv("POD_SUBNET")
	if cluster == "" {
		log.Fatal("POD_SUBNET is not set (kind fills it into the DaemonSet)")
	}
	routes := map[string]string{} // pod CIDR → via, as last set
	np := &netpolState{}
	for i := 0; ; i++ {
		if i%5 == 0 { // routes every 5 s, policies every second
			if err := sync(context.Background(), cs, node, cluster, routes); err != nil {
				log.Print(err)
			}
		}
		if err := np.enforce(context.Background(), cs, node); err != nil {
			log.Print(err)
		}
		time.Sleep(time.Second)
	}
}

// sync writes this node's CNI configuration once its pod CIDR is known and
// sets a route to every other node's pod CIDR.
func sync(ctx context.Context, cs kubernetes.Interface, self, cluster string, routes map[string]string) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range nodes.Items {
		if n.Spec.PodCIDR == "" {
			continue
		}
		if n.Name == self {
			if err := masquerade(ctx, n.Spec.PodCIDR, cluster); err != nil {
				return err
			}
			if err := writeConf(n.Spec.PodCIDR); err != nil {
				return err
			}
			continue
		}
		via := internalIP(n)
		if via == "" || routes[n.Spec.PodCIDR] == via {
			continue
		}
		if out, err := exec.CommandContext(ctx, "ip", "route", "replace", n.Spec.PodCIDR, "via", via).CombinedOutput(); err != nil {
			return fmt.Errorf("route %s via %s (%s): %v: %s", n.Spec.PodCIDR, via, n.Name, err, out)
		}
		routes[n.Spec.PodCIDR] = via
		log.Printf("route %s via %s (%s)", n.Spec.PodCIDR, via, n.Name)
	}
	return nil
}

// masquerade makes sure this node's pods leave the cluster's pod subnet
// with the node's address (the rule is added once; -C checks for it).
func masquerade(ctx context.Context, podCIDR, cluster string) error {
	rule := []string{"POSTROUTING", "-s", podCIDR, "!", "-d", cluster, "-m", "comment", "--comment", "podnet: pods leaving the pod subnet", "-j", "MASQUERADE"}
	if exec.CommandContext(ctx, "iptables", append([]string{"-w", "-t", "nat", "-C"}, rule...)...).Run() == nil {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", "-t", "nat", "-A"}, rule...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("masquerade rule for %s: %v: %s", podCIDR, err, out)
	}
	log.Printf("masquerading %s leaving %s", podCIDR, cluster)
	return nil
}

func internalIP(n corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// writeConf writes the conflist when it differs, through a rename so the
// kubelet never reads half a file.
func writeConf(cidr string) error {
	conf := map[string]any{
		"cniVersion": "0.4.0", "name": "podnet",
		"plugins": []any{
			map[string]any{"type": "ptp", "ipMasq": false, "mtu": 1500,
				"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": cidr}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}}}},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	if old, err := os.ReadFile(confFile); err == nil && string(old) == string(b) {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(confFile), ".podnet.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	log.Printf("CNI configuration for pod CIDR %s", cidr)
	return os.Rename(tmp, confFile)
}
