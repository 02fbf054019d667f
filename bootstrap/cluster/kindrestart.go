package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kindEngine is the container engine CLI kind drives (kind's
// KIND_EXPERIMENTAL_PROVIDER, docker by default).
func kindEngine() string {
	if e := os.Getenv("KIND_EXPERIMENTAL_PROVIDER"); e == "podman" || e == "nerdctl" {
		return e
	}
	return "docker"
}

// startStopped starts the lab's node containers that are not running —
// what a host or engine restart leaves when the engine does not bring them
// back itself — control planes first, then workers in name order (the order
// kind created them, so the engine's address allocation tends to give each
// its old address back), and waits until the API server answers. It
// returns the nodes it started.
func (p *kindProvider) startStopped(ctx context.Context) ([]string, error) {
	nodes, err := p.kind.ListNodes(p.lab.Metadata.Name)
	if err != nil {
		return nil, fmt.Errorf("listing the nodes of kind cluster %s: %w", p.lab.Metadata.Name, err)
	}
	var stopped []string
	for _, n := range nodes {
		out, err := exec.CommandContext(ctx, kindEngine(), "inspect", "-f", "{{.State.Running}}", n.String()).Output()
		if err != nil {
			return nil, fmt.Errorf("inspecting node %s: %w", n.String(), err)
		}
		if strings.TrimSpace(string(out)) != "true" {
			stopped = append(stopped, n.String())
		}
	}
	if len(stopped) == 0 {
		return nil, nil
	}
	sort.SliceStable(stopped, func(i, j int) bool {
		return strings.Contains(stopped[i], "control-plane") && !strings.Contains(stopped[j], "control-plane")
	})
	started := time.Now().Add(-time.Second)
	for _, n := range stopped {
		if out, err := exec.CommandContext(ctx, kindEngine(), "start", n).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("starting node %s: %v: %s", n, err, strings.TrimSpace(string(out)))
		}
	}
	cfg, err := p.RESTConfig()
	if err != nil {
		return stopped, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return stopped, err
	}
	wait, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// Ready for 10 s in a row: after a restart the control plane's static
	// pods can come up twice (a first API server answers, then is replaced).
	steady := 0
	for {
		err := APIReady(wait, cfg)
		if err == nil {
			err = reportedSince(wait, cs, started)
		}
		if err != nil {
			steady = 0
		} else if steady++; steady >= 5 {
			return stopped, nil
		}
		select {
		case <-wait.Done():
			return stopped, fmt.Errorf("nodes %s started, but the cluster did not come back within 3 minutes (last: %v); `docker logs %s` shows the node's boot",
				strings.Join(stopped, ", "), err, stopped[0])
		case <-time.After(2 * time.Second):
		}
	}
}

// reportedSince: every node's kubelet has reported Ready since t (a Ready
// written before the restart says nothing about the node now).
func reportedSince(ctx context.Context, cs kubernetes.Interface, t time.Time) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		fresh := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && c.LastHeartbeatTime.After(t) {
				fresh = true
			}
		}
		if !fresh {
			return fmt.Errorf("node %s has not reported Ready since the restart", n.Name)
		}
	}
	return nil
}

// HostAddress is the host's address on kind's network (its gateway): where
// the nodes, and pods through them, reach a server lab runs on the host.
func (p *kindProvider) HostAddress(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, kindEngine(), "network", "inspect", "kind", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}").Output()
	if err != nil {
		return "", fmt.Errorf("reading kind's network gateway: %w", err)
	}
	for _, gw := range strings.Fields(string(out)) {
		if ip := net.ParseIP(gw); ip != nil && ip.To4() != nil {
			return gw, nil
		}
	}
	return "", fmt.Errorf("kind's network has no IPv4 gateway (%q)", strings.TrimSpace(string(out)))
}

// removeNetworkIfUnused removes kind's Docker network once no container is
// attached to it any more (kind leaves it behind; other kind clusters share
// it, so it stays while any container uses it).
func removeNetworkIfUnused(ctx context.Context) {
	out, err := exec.CommandContext(ctx, kindEngine(), "network", "inspect", "kind", "-f", "{{len .Containers}}").Output()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		return
	}
	_ = exec.CommandContext(ctx, kindEngine(), "network", "rm", "kind").Run()
}
