package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/core/state"
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
// its old address back). When it started any, or a node restarted by someone
// else is still settling, it waits until the API server answers and every
// node has reported Ready since the restart, for 10 s in a row. It returns
// the nodes it started.
func (p *kindProvider) startStopped(ctx context.Context) ([]string, error) {
	states, err := p.nodeStates(ctx)
	if err != nil {
		return nil, err
	}
	settled := p.settledAt()
	var stopped []string
	settlingElsewhere := false
	since := time.Now().Add(-time.Second) // Ready reports must be newer than the restart
	for name, st := range states {
		switch {
		case !st.running:
			stopped = append(stopped, name)
		case st.settling(settled):
			settlingElsewhere = true // restarted by someone else: wait from then
			if st.startedAt.Before(since) {
				since = st.startedAt
			}
		}
	}
	if len(stopped) == 0 && !settlingElsewhere {
		return nil, nil
	}
	sort.Slice(stopped, func(i, j int) bool {
		ci, cj := strings.Contains(stopped[i], "control-plane"), strings.Contains(stopped[j], "control-plane")
		if ci != cj {
			return ci
		}
		return stopped[i] < stopped[j]
	})
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
			err = reportedSince(wait, cs, since)
		}
		if err != nil {
			steady = 0
		} else if steady++; steady >= 5 {
			// Settled: later runs trust this restart (see node.settling).
			return stopped, state.WriteFile(p.settledFile(), []byte(time.Now().UTC().Format(time.RFC3339Nano)), 0o600)
		}
		select {
		case <-wait.Done():
			return stopped, fmt.Errorf("the nodes of kind cluster %s restarted, but the cluster did not come back within 3 minutes (last: %v); `docker logs %s-control-plane` shows the node's boot",
				p.lab.Metadata.Name, err, p.lab.Metadata.Name)
		case <-time.After(2 * time.Second):
		}
	}
}

// node is what lab reads of a node container.
type node struct {
	running            bool
	created, startedAt time.Time
}

// restarted: started well after it was created (a fresh node starts within
// seconds of its creation).
func (n node) restarted() bool { return n.startedAt.Sub(n.created) > time.Minute }

// settleTime is how long after a restart of its nodes a cluster counts as
// settling: its control plane's static pods can come up more than once.
const settleTime = 90 * time.Second

// settling: the node was restarted (by lab, the engine or a user) less than
// settleTime ago and after lab last saw the cluster steady (settled); its
// Ready reports and the API server's answers are not yet to be trusted.
func (n node) settling(settled time.Time) bool {
	return n.running && n.restarted() && time.Since(n.startedAt) < settleTime && n.startedAt.After(settled)
}

// nodeStates reads every node container of the cluster in one engine call.
func (p *kindProvider) nodeStates(ctx context.Context) (map[string]node, error) {
	nodes, err := p.kind.ListNodes(p.lab.Metadata.Name)
	if err != nil {
		return nil, fmt.Errorf("listing the nodes of kind cluster %s: %w", p.lab.Metadata.Name, err)
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	args := []string{"inspect", "-f", "{{.Name}} {{.State.Running}} {{.Created}} {{.State.StartedAt}}"}
	for _, n := range nodes {
		args = append(args, n.String())
	}
	out, err := exec.CommandContext(ctx, kindEngine(), args...).Output()
	if err != nil {
		return nil, fmt.Errorf("inspecting the nodes of kind cluster %s: %w", p.lab.Metadata.Name, err)
	}
	states := map[string]node{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("inspecting the nodes of kind cluster %s: unexpected %q", p.lab.Metadata.Name, line)
		}
		n := node{running: f[1] == "true"}
		n.created, _ = time.Parse(time.RFC3339Nano, f[2])
		n.startedAt, _ = time.Parse(time.RFC3339Nano, f[3])
		states[strings.TrimPrefix(f[0], "/")] = n
	}
	return states, nil
}

// settledAt is when lab last saw the cluster steady after a restart.
func (p *kindProvider) settledAt() time.Time {
	b, err := os.ReadFile(p.settledFile())
	if err != nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	return t
}

// settling says whether a node of the cluster is settling after a restart
// (see node.settling), and which.
func (p *kindProvider) settling(ctx context.Context) (bool, string) {
	states, err := p.nodeStates(ctx)
	if err != nil {
		return false, ""
	}
	settled := p.settledAt()
	for name, st := range states {
		if st.settling(settled) {
			return true, fmt.Sprintf("node %s restarted %s ago; the control plane is settling", name, time.Since(st.startedAt).Round(time.Second))
		}
	}
	return false, ""
}

func (p *kindProvider) settledFile() string { return filepath.Join(p.dir, "nodes-settled") }

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
