// Command podnet is the pod network of lab's offline kind node image
// (test/bin/kind/node-image.sh), the part kind's kindnetd plays in the stock
// image: on its node it writes the CNI configuration — ptp links, host-local
// addresses from the node's pod CIDR, portmap — and keeps one route per other
// node, that node's pod CIDR through its InternalIP on kind's Docker
// network. No masquerading: pods reach each other and Services by their own
// addresses, and an offline lab has no outside to reach. Flannel would be the
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
	routes := map[string]string{} // pod CIDR → via, as last set
	for {
		if err := sync(context.Background(), cs, node, routes); err != nil {
			log.Print(err)
		}
		time.Sleep(5 * time.Second)
	}
}

// sync writes this node's CNI configuration once its pod CIDR is known and
// sets a route to every other node's pod CIDR.
func sync(ctx context.Context, cs kubernetes.Interface, self string, routes map[string]string) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range nodes.Items {
		if n.Spec.PodCIDR == "" {
			continue
		}
		if n.Name == self {
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
