package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"lab.dev/lab/core/engine"
	"lab.dev/lab/core/state"
	"lab.dev/lab/nvidia"
)

// Thresholds from kind's known issues: fewer inotify watches/instances make
// kubelets in node containers fail with "too many open files".
const (
	minInotifyWatches   = 524288
	minInotifyInstances = 512
)

// Checks is the full preflight list, in display order.
func Checks() []Check {
	return []Check{
		{ID: "host-cpu", Category: "host", Description: "CPU cores for the enabled stacks", Hint: "disable stacks in lab.yaml (stacks.<name>.enabled: false) or use the kwok provider", Fatal: false, Run: checkCPU},
		{ID: "host-memory", Category: "host", Description: "memory for the enabled stacks and the model", Hint: "free memory, disable stacks, or pick a smaller model (stacks.ollama.model: phi3:mini)", Fatal: true, Run: checkMemory},
		{ID: "host-disk", Category: "host", Description: "free disk for node images, charts and the model", Hint: "free space under the lab state dir and the container engine's data root", Fatal: true, Run: checkDisk},
		{ID: "engine", Category: "container engine", Description: "Docker or Podman reachable (kind and k3s nodes are containers)", Hint: "start Docker (systemctl start docker) or set DOCKER_HOST=unix:///path/to/docker.sock; or use cluster.provider: kwok", Fatal: true, Run: checkEngine},
		{ID: "privileged", Category: "container engine", Description: "privileged node containers start (kind and k3s nodes are privileged)", Hint: wrapperHint, Fatal: true, Timeout: privilegedTimeout, Run: checkPrivileged},
		{ID: "cgroups", Category: "kernel", Description: "cgroup version the node kubelets accept", Hint: "boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or use a node image at v1.34 or older", Fatal: true, Run: checkCgroups},
		{ID: "inotify", Category: "kernel", Description: "inotify limits for many kubelets on one kernel (kind known issue)", Hint: "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 (persist in /etc/sysctl.d/)", Run: checkInotify},
		{ID: "ports", Category: "network", Description: "host ports of cluster.portMappings are free", Hint: "stop what listens there or change cluster.portMappings[].hostPort", Fatal: true, Run: checkPorts},
		{ID: "charts", Category: "network", Description: "chart repositories reachable", Hint: "on an air-gapped host use `lab bundle` on a connected machine, then `lab up --offline --bundle FILE`", Run: checkEndpoints},
		{ID: "kwok-binaries", Category: "cluster", Description: "control-plane and kwok binaries for the kwok provider", Hint: "run `make testbin` (builds them into the cache) or set cluster.kwok.binDir", Fatal: true, Run: checkKwokBins},
		{ID: "terraform", Category: "cluster", Description: "Terraform (>= 1.4) or OpenTofu for cluster.provisioner: terraform", Hint: "install Terraform or OpenTofu, or point LAB_TERRAFORM at one; or leave cluster.provisioner empty", Fatal: true, Run: checkTerraform},
		{ID: "gitops-repo", Category: "gitops", Description: "a GitOps repository Argo CD can clone (gitops.repo, or the lab's own)", Hint: "set gitops.repo to a URL the cluster can clone, or to a local git folder on kind/kwok; leave it empty on kind/kwok for the lab's own; or gitops.enabled: false", Fatal: true, Run: checkGitOpsRepo},
		{ID: "existing-cluster", Category: "cluster", Description: "the existing cluster answers (cluster.kubeconfig / context)", Hint: "check cluster.kubeconfig and cluster.context (kubectl --context … get --raw /readyz)", Fatal: true, Run: checkExisting},
		{ID: "gpu-nvml", Category: "gpu", Description: "NVIDIA driver reachable through NVML", Hint: "install the NVIDIA driver (nvidia-smi must work); without a GPU the model runs on CPU", FatalWhen: wantsGPU, Run: checkNVML},
		{ID: "gpu-fit", Category: "gpu", Description: "GPU suitability (RTX-class) and the model that fits its VRAM", Hint: "set stacks.ollama.model to a model that fits, or cluster.gpuWorkers: 0", FatalWhen: wantsGPU, Run: checkGPUFit},
		{ID: "gpu-toolkit", Category: "gpu", Description: "nvidia-container-toolkit for GPU workers", Hint: "install nvidia-container-toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker --set-as-default`, set accept-nvidia-visible-devices-as-volume-mounts = true in /etc/nvidia-container-runtime/config.toml, restart Docker", Fatal: true, Run: checkToolkit},
	}
}

func ok(format string, a ...any) Result {
	return Result{Status: OK, Message: fmt.Sprintf(format, a...)}
}
func fail(format string, a ...any) Result {
	return Result{Status: Fail, Message: fmt.Sprintf(format, a...)}
}
func warn(format string, a ...any) Result {
	return Result{Status: Warn, Message: fmt.Sprintf(format, a...)}
}
func skip(format string, a ...any) Result {
	return Result{Status: Skip, Message: fmt.Sprintf(format, a...)}
}

func human(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/float64(gib)) }

func (e *Env) needs() Needs {
	info, _ := e.GPUInfo()
	return Estimate(e.Lab, info.LargestVRAM())
}

func checkCPU(_ context.Context, e *Env) Result {
	n, have := e.needs(), float64(e.Host.CPUs())
	r := ok("%g cores, the lab requests about %.1f", have, n.CPUs)
	if have < n.CPUs {
		r = fail("%g cores, the lab requests about %.1f: pods will be slow or stay Pending", have, n.CPUs)
	}
	r.Details = n
	return r
}

func checkMemory(_ context.Context, e *Env) Result {
	n := e.needs()
	total, avail, err := e.Host.Memory()
	if err != nil {
		return warn("cannot read memory: %v", err)
	}
	switch {
	case total < n.Memory:
		return Result{Status: Fail, Message: fmt.Sprintf("%s in all, the lab needs about %s", human(total), human(n.Memory)), Details: n}
	case avail < n.Memory:
		return Result{Status: Warn, Message: fmt.Sprintf("%s available of %s, the lab needs about %s", human(avail), human(total), human(n.Memory)), Details: n}
	}
	return Result{Status: OK, Message: fmt.Sprintf("%s available, the lab needs about %s", human(avail), human(n.Memory)), Details: n}
}

// madeDiskMargin is the free disk a lab that exists needs for an up: logs,
// a changed chart, the state files (its images and model are on disk).
const madeDiskMargin = 2 << 30

func checkDisk(_ context.Context, e *Env) Result {
	n := e.needs()
	dir := state.Home()
	free, err := e.Host.DiskFree(dir)
	if err != nil {
		return warn("cannot stat %s: %v", dir, err)
	}
	need, what := n.Disk, "the lab needs about"
	if e.Made { // what it needed is on that disk already
		need, what = madeDiskMargin, "the lab exists (its nodes, images and model are there): about this much for what changes:"
	}
	if free < need {
		return Result{Status: Fail, Message: fmt.Sprintf("%s free at %s, %s %s", human(free), dir, what, human(need)), Details: n}
	}
	return Result{Status: OK, Message: fmt.Sprintf("%s free at %s, %s %s", human(free), dir, what, human(need)), Details: n}
}

func checkEngine(ctx context.Context, e *Env) Result {
	if !e.Lab.Cluster.Capabilities().ContainerNodes {
		return skip("provider %s needs no container engine", e.Lab.Cluster.Provider)
	}
	info, err := e.Engine(ctx)
	if err != nil {
		return fail("%v (looked at %s)", err, strings.Join(engine.Sockets(), ", "))
	}
	return Result{Status: OK, Message: fmt.Sprintf("%s %s at %s", info.Name, info.Version, info.Socket), Details: info}
}

func checkInotify(_ context.Context, e *Env) Result {
	if !e.Lab.Cluster.Capabilities().ContainerNodes {
		return skip("provider %s runs no kubelets on this kernel", e.Lab.Cluster.Provider)
	}
	w, err1 := e.Host.Sysctl("fs.inotify.max_user_watches")
	i, err2 := e.Host.Sysctl("fs.inotify.max_user_instances")
	if err := errors.Join(err1, err2); err != nil {
		return warn("cannot read inotify limits: %v", err)
	}
	msg := fmt.Sprintf("max_user_watches=%d (want >= %d), max_user_instances=%d (want >= %d)", w, minInotifyWatches, i, minInotifyInstances)
	if w < minInotifyWatches || i < minInotifyInstances {
		return fail("%s", msg)
	}
	return ok("%s", msg)
}

func checkPorts(_ context.Context, e *Env) Result {
	pm := e.Lab.Cluster.PortMappings
	if len(pm) == 0 {
		return skip("no port mappings requested")
	}
	var busy []string
	for _, p := range pm {
		addr := net.JoinHostPort(p.ListenAddress, strconv.Itoa(p.HostPort))
		if err := e.Host.PortFree(addr); err != nil {
			busy = append(busy, addr)
		}
	}
	if len(busy) > 0 {
		return fail("in use: %s", strings.Join(busy, ", "))
	}
	return ok("%d port(s) free", len(pm))
}

func checkKwokBins(_ context.Context, e *Env) Result {
	if !e.Lab.Cluster.Capabilities().HostBinaries {
		return skip("provider is %s", e.Lab.Cluster.Provider)
	}
	if e.KwokBins == nil {
		return fail("no binary resolver configured")
	}
	dir, err := e.KwokBins()
	if err != nil {
		return fail("%v", err)
	}
	return ok("found in %s", dir)
}

func checkTerraform(ctx context.Context, e *Env) Result {
	if e.Lab.Cluster.Provisioner != "terraform" {
		return skip("cluster.provisioner is not terraform")
	}
	if e.Terraform == nil {
		return fail("no Terraform resolver configured")
	}
	path, version, err := e.Terraform(ctx)
	if err != nil {
		return fail("%v", err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil || major < 1 || (major == 1 && minor < 4) {
		return fail("%s is version %q; terraform_data needs >= 1.4", path, version)
	}
	return ok("%s %s", path, version)
}

func checkExisting(ctx context.Context, e *Env) Result {
	if e.Lab.Cluster.Capabilities().OwnsCluster {
		return skip("provider is %s", e.Lab.Cluster.Provider)
	}
	if e.Existing == nil {
		return fail("no cluster resolver configured")
	}
	where, err := e.Existing(ctx)
	if err != nil {
		return fail("%v", err)
	}
	return ok("%s", where)
}

func wantsGPU(e *Env) bool {
	return e.Lab.Cluster.GPUWorkers > 0 && e.Lab.Cluster.Capabilities().GPUWorkers
}

func checkNVML(_ context.Context, e *Env) Result {
	info, err := e.GPUInfo()
	if err != nil {
		r := fail("no NVIDIA GPU usable: %v; the model will run on CPU", err)
		if !wantsGPU(e) {
			r.Status = Warn
		}
		return r
	}
	if len(info.GPUs) == 0 {
		return Result{Status: Warn, Message: fmt.Sprintf("driver %s loaded but no GPU found", info.DriverVersion), Details: info}
	}
	if wantsGPU(e) && len(info.GPUs) < e.Lab.Cluster.GPUWorkers {
		return Result{Status: Fail, Message: fmt.Sprintf("%d GPU(s) for %d GPU workers: each GPU worker gets a whole GPU", len(info.GPUs), e.Lab.Cluster.GPUWorkers), Details: info}
	}
	names := make([]string, len(info.GPUs))
	for i, g := range info.GPUs {
		names[i] = fmt.Sprintf("%s (%s)", g.Name, human(g.MemoryTotalBytes))
	}
	return Result{Status: OK, Message: fmt.Sprintf("%d GPU(s): %s; driver %s, CUDA %s", len(info.GPUs), strings.Join(names, ", "), info.DriverVersion, info.CUDAVersion), Details: info}
}

// GPUFit is the detail of the gpu-fit check.
type GPUFit struct {
	GPU   nvidia.GPU   `json:"gpu"`
	Class nvidia.Class `json:"class"`
}

func checkGPUFit(_ context.Context, e *Env) Result {
	info, err := e.GPUInfo()
	if err != nil || len(info.GPUs) == 0 {
		model := ResolveModel(e.Lab, 0)
		return Result{Status: Warn, Message: fmt.Sprintf("no GPU: %s will run on CPU (slow: a few tokens/s)", model)}
	}
	var fits []GPUFit
	var msgs []string
	status := OK
	for _, g := range info.GPUs {
		c := nvidia.Classify(g)
		fits = append(fits, GPUFit{GPU: g, Class: c})
		msgs = append(msgs, fmt.Sprintf("GPU %d %s: %s, %s", g.Index, g.Name, c.Family, c.Reason))
		if !c.Suitable {
			status = Fail
		}
	}
	model := ResolveModel(e.Lab, info.LargestVRAM())
	if need, known := modelSize[model]; known && need > info.LargestVRAM() {
		status = Fail
		msgs = append(msgs, fmt.Sprintf("model %s needs about %s of VRAM", model, human(need)))
	} else {
		msgs = append(msgs, "model: "+model)
	}
	return Result{Status: status, Message: strings.Join(msgs, "; "), Details: fits}
}

func checkToolkit(ctx context.Context, e *Env) Result {
	if !wantsGPU(e) {
		return skip("no GPU workers requested")
	}
	var problems []string
	if _, err := e.Host.LookPath("nvidia-ctk"); err != nil {
		problems = append(problems, "nvidia-ctk not on PATH")
	}
	if info, err := e.Engine(ctx); err == nil {
		if !slices.Contains(info.Runtimes, "nvidia") {
			problems = append(problems, info.Name+" has no nvidia runtime")
		}
	}
	if b, err := os.ReadFile("/etc/nvidia-container-runtime/config.toml"); err != nil || !strings.Contains(string(b), "accept-nvidia-visible-devices-as-volume-mounts = true") {
		problems = append(problems, "accept-nvidia-visible-devices-as-volume-mounts is not true in /etc/nvidia-container-runtime/config.toml")
	}
	if len(problems) > 0 {
		return fail("%s", strings.Join(problems, "; "))
	}
	return ok("nvidia-ctk, the nvidia runtime and volume-mount device lists are set up")
}

func checkEndpoints(ctx context.Context, e *Env) Result {
	if e.Offline {
		return skip("offline: charts come from the bundle")
	}
	if len(e.Endpoints) == 0 {
		return skip("no chart repositories needed")
	}
	type res struct {
		Name, URL, Error string
	}
	out := make([]res, len(e.Endpoints))
	done := make(chan struct{}, len(e.Endpoints))
	for i, ep := range e.Endpoints {
		go func() {
			defer func() { done <- struct{}{} }()
			out[i] = res{Name: ep.Name, URL: ep.URL}
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, ep.URL, nil)
			if err == nil {
				var resp *http.Response
				if resp, err = e.HTTP.Do(req); err == nil {
					resp.Body.Close()
					if resp.StatusCode >= 500 {
						err = fmt.Errorf("HTTP %d", resp.StatusCode)
					}
				}
			}
			if err != nil {
				out[i].Error = err.Error()
			}
		}()
	}
	for range e.Endpoints {
		<-done
	}
	var bad []string
	for _, r := range out {
		if r.Error != "" {
			bad = append(bad, r.Name)
		}
	}
	if len(bad) > 0 {
		return Result{Status: Fail, Message: fmt.Sprintf("unreachable: %s", strings.Join(bad, ", ")), Details: out}
	}
	return Result{Status: OK, Message: fmt.Sprintf("%d repositories reachable", len(out)), Details: out}
}
