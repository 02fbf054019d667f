package kwok

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"lab.dev/lab/core/kube"
	"lab.dev/lab/core/state"
	"lab.dev/lab/manifests"
)

var (
	crdGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	logsGVR        = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
	portForwardGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "portforwards"}
)

// NodeSpec describes one fake node.
type NodeSpec struct {
	Name   string
	CPU    string // default "8"
	Memory string // default "32Gi"
	GPUs   int    // nvidia.com/gpu capacity
	Labels map[string]string
	Taints []corev1.Taint
}

func (c *Cluster) startKwok(ctx context.Context) error {
	for name, crd := range map[string][]byte{"logs.kwok.x-k8s.io": manifests.KwokLogsCRD, "portforwards.kwok.x-k8s.io": manifests.KwokPortForwardCRD} {
		if err := c.ApplyYAML(ctx, crd); err != nil {
			return fmt.Errorf("installing kwok CRD %s: %w", name, err)
		}
		if err := c.waitCRD(ctx, name); err != nil {
			return err
		}
	}
	cfg := filepath.Join(c.Dir, "kwok.yaml")
	if err := state.WriteFile(cfg, manifests.KwokConfig, 0o644); err != nil {
		return err
	}
	cert, key, err := c.PKI.Issue("kwok", "kwok", nil, "127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	port := c.State.Ports["kwok"]
	_, err = c.launch("kwok", []string{
		"--kubeconfig=" + c.Kubeconfig, "--config=" + cfg,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", "--node-port=" + strconv.Itoa(port),
		"--server-address=127.0.0.1:" + strconv.Itoa(port),
		"--tls-cert-file=" + cert, "--tls-private-key-file=" + key,
		"--node-lease-duration-seconds=0", "--enable-crds=Logs", "--enable-crds=PortForward", "--cidr=10.244.0.0/16",
	})
	return err
}

// ApplyYAML creates every object of a (multi-document) YAML, or updates it if
// it exists, through the dynamic client.
func (c *Cluster) ApplyYAML(ctx context.Context, data []byte) error {
	return c.applyYAML(ctx, data, true)
}

// CreateYAML creates the objects that do not exist yet and leaves the others
// alone (re-applying a scenario must not roll its workloads).
func (c *Cluster) CreateYAML(ctx context.Context, data []byte) error {
	return c.applyYAML(ctx, data, false)
}

func (c *Cluster) applyYAML(ctx context.Context, data []byte, update bool) error {
	a, err := kube.NewApplier(c.Config, false)
	if err != nil {
		return err
	}
	dyn := a.Dyn
	objs, err := DecodeYAML(data)
	if err != nil {
		return err
	}
	for _, o := range objs {
		gvr, namespaced, err := a.Lookup(o)
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if namespaced {
			ns := o.GetNamespace()
			if ns == "" {
				ns = "default"
				o.SetNamespace(ns)
			}
			ri = dyn.Resource(gvr).Namespace(ns)
		}
		_, err = ri.Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && !update {
			err = nil
		}
		if apierrors.IsAlreadyExists(err) {
			cur, gerr := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
			if gerr != nil {
				return gerr
			}
			o.SetResourceVersion(cur.GetResourceVersion())
			_, err = ri.Update(ctx, o, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// DecodeYAML splits a multi-document YAML into objects (kube.DecodeYAML).
var DecodeYAML = kube.DecodeYAML

func (c *Cluster) waitCRD(ctx context.Context, name string) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.Proc("kube-apiserver").WaitFor(wctx, "CRD "+name+" Established", func(ctx context.Context) (bool, error) {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, cond := range conds {
			m, _ := cond.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// AddNode creates a fake node kwok manages (Ready within a second or two).
func (c *Cluster) AddNode(ctx context.Context, n NodeSpec) error {
	if n.CPU == "" {
		n.CPU = "8"
	}
	if n.Memory == "" {
		n.Memory = "32Gi"
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(n.CPU),
		corev1.ResourceMemory: resource.MustParse(n.Memory),
		corev1.ResourcePods:   resource.MustParse("110"),
		// a kubelet reports its image filesystem; without it a pod with an
		// ephemeral-storage limit could never be scheduled on a simulated node
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	if n.GPUs > 0 {
		capacity["nvidia.com/gpu"] = *resource.NewQuantity(int64(n.GPUs), resource.DecimalSI)
	}
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"type": "kwok", "node-role.kubernetes.io/worker": "", ManagedLabel: "true",
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec:       corev1.NodeSpec{Taints: n.Taints},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	_, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating node %s: %w", n.Name, err)
	}
	return nil
}

// ManagedLabel marks the nodes EnsureNodes owns.
const ManagedLabel = "lab.dev/managed"

// EnsureNodes makes the lab's fake nodes exactly nodes: it creates the
// missing ones, deletes managed nodes not in the list, and waits until all
// are Ready. Nodes already there are left alone.
func (c *Cluster) EnsureNodes(ctx context.Context, nodes []NodeSpec) error {
	list, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: ManagedLabel + "=true"})
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range nodes {
		want[n.Name] = true
	}
	have := map[string]bool{}
	for _, n := range list.Items {
		have[n.Name] = true
		if !want[n.Name] {
			if err := c.Client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting node %s: %w", n.Name, err)
			}
		}
	}
	for _, n := range nodes {
		if !have[n.Name] {
			if err := c.AddNode(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	return c.WaitNodesReady(ctx, len(nodes))
}

// WaitNodesReady waits until at least n nodes report Ready.
func (c *Cluster) WaitNodesReady(ctx context.Context, n int) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return c.Proc("kwok").WaitFor(wctx, fmt.Sprintf("%d nodes Ready", n), func(ctx context.Context) (bool, error) {
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, node := range nodes.Items {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= n, nil
	})
}

// ContainerLogs is what pods/log returns for one container.
type ContainerLogs struct {
	Container string
	Current   string
	Previous  string // served for ?previous=true
}

// SetLogs writes the log files and the kwok Logs object for a pod, so that
// pods/log (current and previous) returns this content through the API server.
func (c *Cluster) SetLogs(ctx context.Context, namespace, pod string, logs []ContainerLogs) error {
	dir := filepath.Join(c.Dir, "logs", namespace, pod)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var entries []any
	for _, l := range logs {
		cur, prev := filepath.Join(dir, l.Container+".log"), filepath.Join(dir, l.Container+".previous.log")
		if err := os.WriteFile(cur, CRILog(l.Current, time.Now()), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(prev, CRILog(l.Previous, time.Now().Add(-time.Minute)), 0o644); err != nil {
			return err
		}
		entries = append(entries, map[string]any{"containers": []any{l.Container}, "logsFile": cur, "previousLogsFile": prev, "follow": false})
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
		"metadata": map[string]any{"name": pod, "namespace": namespace},
		"spec":     map[string]any{"logs": entries},
	}}
	_, err = dyn.Resource(logsGVR).Namespace(namespace).Create(ctx, obj, metav1.CreateOptions{})
	return err
}

// CRILog turns plain text into the CRI log format kwok serves (what a
// kubelet's container runtime writes): "<RFC3339Nano> stdout F <line>", one
// millisecond apart, the last line at end.
func CRILog(text string, end time.Time) []byte {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		return nil
	}
	var b strings.Builder
	b.Grow(len(text) + len(lines)*40)
	t := end.Add(-time.Duration(len(lines)) * time.Millisecond).UTC()
	for _, l := range lines {
		t = t.Add(time.Millisecond)
		b.WriteString(t.Format(time.RFC3339Nano))
		b.WriteString(" stdout F ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// SetPortForward makes pods/portforward of the simulated pod reach a real
// server: connections to port are forwarded to target (host:port).
func (c *Cluster) SetPortForward(ctx context.Context, namespace, pod string, port int32, targetAddress string, targetPort int32) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
		"metadata": map[string]any{"name": pod, "namespace": namespace},
		"spec": map[string]any{"forwards": []any{map[string]any{"ports": []any{int64(port)},
			"target": map[string]any{"port": int64(targetPort), "address": targetAddress}}}},
	}}
	_, err = dyn.Resource(portForwardGVR).Namespace(namespace).Create(ctx, obj, metav1.CreateOptions{})
	return err
}
