package config

// Capabilities are what a cluster provider can do, as data: code outside the
// providers asks these instead of comparing provider names.
type Capabilities struct {
	// OwnsCluster: lab creates the cluster and its nodes, and `lab down`
	// deletes it (every provider but existing).
	OwnsCluster bool `json:"ownsCluster"`
	// ContainerNodes: nodes are containers on the host's Docker or Podman
	// (images can be loaded into them, the engine must be reachable).
	ContainerNodes bool `json:"containerNodes"`
	// SimulatedNodes: nodes and pods are simulated (kwok): no container runs,
	// so no model is served, Argo CD does not reconcile, `lab break` works.
	SimulatedNodes bool `json:"simulatedNodes"`
	// HostBinaries: the control plane runs as processes on the host from the
	// binary cache (kwok's kube-apiserver, etcd, …).
	HostBinaries bool `json:"hostBinaries"`
	// GPUWorkers: real GPU workers (NVIDIA device plugin, RuntimeClass nvidia).
	GPUWorkers bool `json:"gpuWorkers"`
	// Storage: a default StorageClass binds PVCs.
	Storage bool `json:"storage"`
	// RecreateOnChange: any cluster.* change needs a new cluster (kind and
	// k3d cannot change the nodes of a running cluster).
	RecreateOnChange bool `json:"recreateOnChange"`
	// NodeImage: nodes boot from one node image that the doctor can start
	// as a privileged container to prove the host runs them (kind).
	NodeImage bool `json:"nodeImage"`
	// RestrictedHostPatch: lab patches the nodes for a host whose bounding
	// set lacks CAP_SYS_RESOURCE (containerd's restrict_oom_score_adj; kind).
	RestrictedHostPatch bool `json:"restrictedHostPatch"`
	// CgroupfsDriver: the nodes' kubelets and containerd use the cgroupfs
	// driver (kind as lab configures it; systemd left frozen pods here).
	CgroupfsDriver bool `json:"cgroupfsDriver"`
	// ServesHostRepo: the cluster reaches a git server lab runs on this host
	// (kind: the node network's gateway; kwok: the host itself), so a local
	// GitOps repository — or the lab's own — can be served to Argo CD.
	ServesHostRepo bool `json:"servesHostRepo"`
}

// providerCapabilities is the one table of what each provider can do.
var providerCapabilities = map[string]Capabilities{
	"kind": {OwnsCluster: true, ContainerNodes: true, GPUWorkers: true, Storage: true, RecreateOnChange: true,
		NodeImage: true, RestrictedHostPatch: true, CgroupfsDriver: true, ServesHostRepo: true},
	"k3s":      {OwnsCluster: true, ContainerNodes: true, GPUWorkers: true, Storage: true, RecreateOnChange: true},
	"kwok":     {OwnsCluster: true, SimulatedNodes: true, HostBinaries: true, ServesHostRepo: true},
	"existing": {Storage: true},
}

// Capabilities of the cluster's provider (zero for an unknown provider,
// which validation rejects).
func (c Cluster) Capabilities() Capabilities { return providerCapabilities[c.Provider] }
