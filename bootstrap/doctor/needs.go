package doctor

import (
	"sort"

	"lab.dev/lab/core/config"
	"lab.dev/lab/nvidia"
)

// Needs is what a lab asks of the host.
type Needs struct {
	CPUs      float64 `json:"cpus"`
	Memory    uint64  `json:"memoryBytes"`
	Disk      uint64  `json:"diskBytes"`
	Breakdown []Need  `json:"breakdown"`
}

// Need is one line of the estimate.
type Need struct {
	What   string  `json:"what"`
	CPUs   float64 `json:"cpus"`
	Memory uint64  `json:"memoryBytes"`
	Disk   uint64  `json:"diskBytes"`
}

const gib = nvidia.GiB

// stackNeeds are the requests the stacks' workstation-sized values add up to
// (see stacks/), plus their images on disk.
var stackNeeds = map[string]Need{
	"argocd":     {What: "stack argocd", CPUs: 0.5, Memory: gib, Disk: gib},
	"linkerd":    {What: "stack linkerd", CPUs: 0.3, Memory: gib / 2, Disk: gib / 2},
	"prometheus": {What: "stack prometheus", CPUs: 0.5, Memory: 2 * gib, Disk: 3 * gib},
	"ollama":     {What: "stack ollama (runtime)", CPUs: 1, Memory: gib, Disk: 3 * gib},
	"kyverno":    {What: "stack kyverno", CPUs: 0.3, Memory: gib / 2, Disk: gib / 2},
}

// modelSize approximates the 4-bit weights of the models lab defaults to.
var modelSize = map[string]uint64{"phi3:mini": 23 * gib / 10, "llama3:8b": 47 * gib / 10}

// Estimate adds up what l needs. For kind and k3s every node is a container
// (≈ 0.5 CPU, 1 GiB, 2 GiB image layers); kwok runs one real control plane
// and simulates the nodes; existing needs nothing locally but the model cache.
func Estimate(l *config.Lab, vram uint64) Needs {
	var n Needs
	add := func(x Need) {
		n.Breakdown = append(n.Breakdown, x)
		n.CPUs += x.CPUs
		n.Memory += x.Memory
		n.Disk += x.Disk
	}
	nodes := l.Cluster.ControlPlanes + l.Cluster.Workers + l.Cluster.GPUWorkers
	caps := l.Cluster.Capabilities()
	switch {
	case caps.ContainerNodes:
		add(Need{What: "cluster nodes", CPUs: 0.5 * float64(nodes), Memory: uint64(nodes) * gib, Disk: 2*gib + uint64(nodes)*gib/2})
	case caps.SimulatedNodes:
		add(Need{What: "kwok control plane", CPUs: 1, Memory: gib, Disk: gib})
		return n // simulated nodes: stacks' pods take no host resources
	}
	s := l.Stacks
	for name, st := range s.ByName() {
		if st.IsEnabled() && caps.OwnsCluster {
			add(stackNeeds[name])
		}
	}
	if s.Ollama.IsEnabled() {
		model := ResolveModel(l, vram)
		size, ok := modelSize[model]
		if !ok {
			size = 5 * gib
		}
		m := Need{What: "model " + model, Disk: size}
		if vram < size { // the model runs from host memory on the CPU
			m.Memory, m.CPUs = size+gib/2, 2
		}
		add(m)
	}
	sort.Slice(n.Breakdown, func(i, j int) bool { return n.Breakdown[i].What < n.Breakdown[j].What })
	return n
}

// ResolveModel is stacks.ollama.model with "auto" resolved by VRAM.
func ResolveModel(l *config.Lab, vram uint64) string {
	if m := l.Stacks.Ollama.Model; m != "" && m != "auto" {
		return m
	}
	return nvidia.FitModel(vram).Name
}
