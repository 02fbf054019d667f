package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
	"lab.dev/lab/nvidia"
)

type fakeHost struct {
	cpus          int
	total, avail  uint64
	free          uint64
	watches, inst int64
	busy          map[string]bool
	engine        *EngineInfo
	paths         map[string]bool
	node          engine.NodeHost
	probe         func(image string) error
}

func (h fakeHost) CPUs() int                       { return h.cpus }
func (h fakeHost) Memory() (uint64, uint64, error) { return h.total, h.avail, nil }
func (h fakeHost) DiskFree(string) (uint64, error) { return h.free, nil }
func (h fakeHost) PortFree(a string) error {
	if h.busy[a] {
		return errors.New("address already in use")
	}
	return nil
}
func (h fakeHost) Sysctl(n string) (int64, error) {
	if n == "fs.inotify.max_user_watches" {
		return h.watches, nil
	}
	return h.inst, nil
}
func (h fakeHost) LookPath(n string) (string, error) {
	if h.paths[n] {
		return "/usr/bin/" + n, nil
	}
	return "", errors.New("not found")
}
func (h fakeHost) Engine(context.Context) (EngineInfo, error) {
	if h.engine == nil {
		return EngineInfo{}, engine.ErrNoEngine
	}
	return *h.engine, nil
}

func (h fakeHost) NodeHost() engine.NodeHost { return h.node }
func (h fakeHost) PrivilegedProbe(_ context.Context, _, image string) error {
	if h.probe == nil {
		return ErrImageAbsent
	}
	return h.probe(image)
}

func bigHost() fakeHost {
	return fakeHost{cpus: 16, total: 64 * gib, avail: 48 * gib, free: 500 * gib, watches: 524288, inst: 512,
		engine: &EngineInfo{Name: "docker", Socket: "/var/run/docker.sock", Version: "28.2.2", Runtimes: []string{"runc"}},
		node:   engine.NodeHost{CapSysResource: true}}
}

func outcome(t *testing.T, rep Report, id string) Outcome {
	t.Helper()
	for _, o := range rep.Outcomes {
		if o.ID == id {
			return o
		}
	}
	t.Fatalf("no check %s", id)
	return Outcome{}
}

func run(t *testing.T, l *config.Lab, h Host, gpu nvidia.Inspector) Report {
	t.Helper()
	env := &Env{Lab: l, Host: h, GPU: gpu, HTTP: http.DefaultClient, Offline: true}
	return Run(context.Background(), env, Checks(), 5*time.Second)
}

var (
	noGPU   = nvidia.Fake{Err: nvidia.ErrNoDriver}
	rtx3060 = nvidia.Fake{Info: nvidia.Info{DriverVersion: "550.54", CUDAVersion: "12.4", GPUs: []nvidia.GPU{{Name: "NVIDIA GeForce RTX 3060", MemoryTotalBytes: 12288 << 20, ComputeCapability: "8.6"}}}}
	rtx4090 = nvidia.Fake{Info: nvidia.Info{DriverVersion: "570.86", CUDAVersion: "12.8", GPUs: []nvidia.GPU{{Name: "NVIDIA GeForce RTX 4090", MemoryTotalBytes: 24564 << 20, ComputeCapability: "8.9"}}}}
	h100    = nvidia.Fake{Info: nvidia.Info{DriverVersion: "580.65", CUDAVersion: "13.0", GPUs: []nvidia.GPU{{Name: "NVIDIA H100 80GB HBM3", MemoryTotalBytes: 81559 << 20, ComputeCapability: "9.0"}}}}
	gtx1650 = nvidia.Fake{Info: nvidia.Info{DriverVersion: "550.54", CUDAVersion: "12.4", GPUs: []nvidia.GPU{{Name: "NVIDIA GeForce GTX 1650", MemoryTotalBytes: 4096 << 20, ComputeCapability: "7.5"}}}}
)

func TestNoGPUIsAWarningWithHint(t *testing.T) {
	rep := run(t, config.Default(), bigHost(), noGPU)
	o := outcome(t, rep, "gpu-nvml")
	if o.Status != Warn || o.Hint == "" {
		t.Fatalf("no GPU: want a warning with a hint, got %+v", o)
	}
	if !rep.Passed {
		t.Errorf("a lab without GPU workers must pass without a GPU: %+v", rep)
	}
}

func TestNoGPUFailsWhenGPUWorkersRequested(t *testing.T) {
	l := config.Default()
	l.Cluster.GPUWorkers = 1
	rep := run(t, l, bigHost(), noGPU)
	if o := outcome(t, rep, "gpu-nvml"); o.Status != Fail {
		t.Fatalf("want fail, got %+v", o)
	}
	if o := outcome(t, rep, "gpu-toolkit"); o.Status != Fail {
		t.Errorf("toolkit: want fail on a host without nvidia-ctk, got %+v", o)
	}
	if rep.Passed {
		t.Error("report passed")
	}
}

func TestGPUClassification(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gpu    nvidia.Fake
		status Status
		family string
		model  string
	}{
		{"rtx3060-12gb", rtx3060, OK, "consumer-rtx", "llama3:8b"},
		{"rtx4090-24gb", rtx4090, OK, "consumer-rtx", "llama3:8b"},
		{"h100-80gb", h100, OK, "datacenter", "llama3:8b"},
		{"gtx1650-4gb", gtx1650, Warn, "other", "phi3:mini"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := run(t, config.Default(), bigHost(), tc.gpu)
			o := outcome(t, rep, "gpu-fit")
			if o.Status != tc.status {
				t.Errorf("status %s, want %s: %s", o.Status, tc.status, o.Message)
			}
			fits := o.Details.([]GPUFit)
			if fits[0].Class.Family != tc.family || fits[0].Class.Model != tc.model {
				t.Errorf("got %+v", fits[0].Class)
			}
			if n := outcome(t, rep, "gpu-nvml"); n.Status != OK {
				t.Errorf("nvml: %+v", n)
			}
		})
	}
}

func TestExplicitModelTooBigForVRAM(t *testing.T) {
	l := config.Default()
	l.Stacks.Ollama.Model = "llama3:8b"
	o := outcome(t, run(t, l, bigHost(), gtx1650), "gpu-fit")
	if o.Status != Warn {
		t.Fatalf("got %+v", o)
	}
}

func TestHostChecks(t *testing.T) {
	h := bigHost()
	h.cpus, h.total, h.avail, h.free, h.watches = 1, 4*gib, 2*gib, gib, 8192
	h.engine = nil
	l := config.Default()
	l.Cluster.PortMappings = []config.PortMapping{{ContainerPort: 80, HostPort: 8080, ListenAddress: "127.0.0.1"}}
	h.busy = map[string]bool{"127.0.0.1:8080": true}
	rep := run(t, l, h, noGPU)
	for id, want := range map[string]Status{"host-cpu": Warn, "host-memory": Fail, "host-disk": Fail, "engine": Fail, "inotify": Warn, "ports": Fail, "kwok-binaries": Skip, "charts": Skip} {
		if o := outcome(t, rep, id); o.Status != want {
			t.Errorf("%s: %s, want %s (%s)", id, o.Status, want, o.Message)
		}
	}
	if rep.Passed || rep.Failures != 4 {
		t.Errorf("passed=%v failures=%d", rep.Passed, rep.Failures)
	}
}

func TestKwokLabNeedsNoEngine(t *testing.T) {
	l := config.Default()
	l.Cluster.Provider = "kwok"
	h := bigHost()
	h.engine = nil
	env := &Env{Lab: l, Host: h, GPU: noGPU, HTTP: http.DefaultClient, Offline: true,
		KwokBins: func() (string, error) { return "/cache", nil }}
	rep := Run(context.Background(), env, Checks(), time.Second)
	for id, want := range map[string]Status{"engine": Skip, "inotify": Skip, "kwok-binaries": OK} {
		if o := outcome(t, rep, id); o.Status != want {
			t.Errorf("%s: %s, want %s", id, o.Status, want)
		}
	}
	if !rep.Passed {
		t.Errorf("kwok lab failed: %+v", rep)
	}
}

func TestEndpoints(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	env := &Env{Lab: config.Default(), Host: bigHost(), GPU: noGPU, HTTP: srv.Client(),
		Endpoints: []Endpoint{{Name: "good", URL: srv.URL + "/index.yaml"}, {Name: "bad", URL: srv.URL + "/broken"}}}
	o := outcome(t, Run(context.Background(), env, Checks(), time.Second), "charts")
	if o.Status != Warn || o.Message != "unreachable: bad" {
		t.Fatalf("got %+v", o)
	}
}

func TestCheckCrashAndTimeoutAreContained(t *testing.T) {
	checks := []Check{
		{ID: "panics", Fatal: true, Run: func(context.Context, *Env) Result { panic("boom") }},
		{ID: "hangs", Run: func(ctx context.Context, _ *Env) Result { select {} }},
	}
	rep := Run(context.Background(), &Env{Lab: config.Default()}, checks, 50*time.Millisecond)
	if o := outcome(t, rep, "panics"); o.Status != Fail {
		t.Errorf("panic: %+v", o)
	}
	if o := outcome(t, rep, "hangs"); o.Status != Warn {
		t.Errorf("hang: %+v", o)
	}
}

// A check with its own, longer Timeout (the privileged probe) is not cut at
// the run's bound; one that heeds its context says where its time went,
// with the bound; one that does not is still ended, with the bound named.
func TestCheckTimeouts(t *testing.T) {
	slow := func(d time.Duration) func(context.Context, *Env) Result {
		return func(ctx context.Context, _ *Env) Result {
			select {
			case <-time.After(d):
				return ok("done")
			case <-ctx.Done():
				return fail("starting a container: %v", ctx.Err())
			}
		}
	}
	checks := []Check{
		{ID: "own-timeout", Fatal: true, Timeout: 2 * time.Second, Run: slow(200 * time.Millisecond)},
		{ID: "heeds", Fatal: true, Run: slow(time.Hour)},
		{ID: "deaf", Fatal: true, Run: func(context.Context, *Env) Result { select {} }},
	}
	rep := Run(context.Background(), &Env{Lab: config.Default()}, checks, 50*time.Millisecond)
	if o := outcome(t, rep, "own-timeout"); o.Status != OK {
		t.Errorf("a check with its own timeout was cut at the run's: %+v", o)
	}
	if o := outcome(t, rep, "heeds"); o.Status != Fail || o.Message != "no answer within 50ms: starting a container: context deadline exceeded" {
		t.Errorf("heeds: %+v", o.Result)
	}
	if o := outcome(t, rep, "deaf"); o.Status != Fail || !strings.HasPrefix(o.Message, "no answer within 50ms") {
		t.Errorf("deaf: %+v", o.Result)
	}
	for _, c := range Checks() {
		if c.ID == "privileged" && c.Timeout < 30*time.Second {
			t.Errorf("the privileged probe's own timeout: %v", c.Timeout)
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := run(t, config.Default(), bigHost(), rtx4090)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Checks []map[string]any `json:"checks"`
		Passed bool             `json:"passed"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Checks) != len(Checks()) {
		t.Fatalf("%d checks in JSON", len(back.Checks))
	}
	for _, c := range back.Checks {
		for _, k := range []string{"id", "category", "description", "fatal", "status", "message"} {
			if _, ok := c[k]; !ok {
				t.Errorf("check %v lacks %s", c["id"], k)
			}
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	// covered through SystemHost on Linux; the parser must not need MemAvailable.
	total, avail, err := SystemHost{}.Memory()
	if err != nil || total == 0 || avail > total {
		t.Fatalf("total=%d avail=%d err=%v", total, avail, err)
	}
}

func TestExistingClusterCheck(t *testing.T) {
	l := config.Default()
	l.Cluster.Provider = "existing"
	env := &Env{Lab: l, Host: bigHost(), GPU: noGPU, HTTP: http.DefaultClient, Offline: true,
		Existing: func(context.Context) (string, error) { return "", errors.New("dial tcp 10.1.2.3:6443: i/o timeout") }}
	rep := Run(context.Background(), env, Checks(), time.Second)
	if o := outcome(t, rep, "existing-cluster"); o.Status != Fail || !strings.Contains(o.Message, "i/o timeout") {
		t.Fatalf("unreachable existing cluster: %+v", o)
	}
	if rep.Passed {
		t.Error("passed with an unreachable cluster")
	}
	env.Existing = func(context.Context) (string, error) { return "https://k8s.example:6443 ready", nil }
	if o := outcome(t, Run(context.Background(), env, Checks(), time.Second), "existing-cluster"); o.Status != OK {
		t.Errorf("reachable: %+v", o)
	}
	if o := outcome(t, run(t, config.Default(), bigHost(), noGPU), "existing-cluster"); o.Status != Skip {
		t.Errorf("kind lab: %+v", o)
	}
}

func TestTerraformCheck(t *testing.T) {
	l := config.Default()
	e := &Env{Lab: l}
	if r := checkTerraform(context.Background(), e); r.Status != Skip {
		t.Errorf("no provisioner: %+v", r)
	}
	l.Cluster.Provisioner = "terraform"
	for _, tc := range []struct {
		version string
		err     error
		want    Status
	}{
		{"1.5.7", nil, OK},
		{"1.10.0", nil, OK},
		{"1.3.9", nil, Fail},
		{"", errors.New("no terraform binary"), Fail},
	} {
		e.Terraform = func(context.Context) (string, string, error) { return "/usr/bin/terraform", tc.version, tc.err }
		if r := checkTerraform(context.Background(), e); r.Status != tc.want {
			t.Errorf("%s %v: %+v", tc.version, tc.err, r)
		}
	}
}

// Privileged node containers: started for real where the node image is
// there; a bounding set without CAP_SYS_RESOURCE is fatal with Docker < 23
// (it cannot start one) and a warning otherwise (lab patches containerd).
func TestPrivilegedNodeContainers(t *testing.T) {
	kind := config.Default()
	restricted := engine.NodeHost{CapSysResource: false, CgroupV1: true}
	old := &EngineInfo{Name: "docker", Socket: "/var/run/docker.sock", Version: "20.10.24+dfsg1"}
	for _, c := range []struct {
		name   string
		host   func(h *fakeHost)
		image  string
		status Status
		msg    string
	}{
		{"full bounding set, no image yet", func(h *fakeHost) {}, "", OK, "not started"},
		{"full bounding set, probe starts", func(h *fakeHost) { h.probe = func(string) error { return nil } }, "kindest/node:x", OK, "from kindest/node:x starts"},
		{"probe fails", func(h *fakeHost) {
			h.node = restricted
			h.probe = func(string) error { return errors.New("OCI runtime create failed: unable to apply caps") }
		}, "kindest/node:x", Fail, "unable to apply caps"},
		{"no CAP_SYS_RESOURCE, Docker 20", func(h *fakeHost) { h.node, h.engine = restricted, old }, "", Fail, "Docker 20.10.24+dfsg1 asks for every capability"},
		{"no CAP_SYS_RESOURCE, Docker 28", func(h *fakeHost) { h.node = restricted }, "", Warn, "restrict_oom_score_adj"},
		{"no CAP_SYS_RESOURCE, Docker 20 with a wrapper as default runtime", func(h *fakeHost) {
			w := *old
			w.DefaultRuntime = "bounded"
			h.node, h.engine = restricted, &w
		}, "", Warn, "restrict_oom_score_adj"},
		{"no CAP_SYS_RESOURCE, a wrapper runtime lets it start", func(h *fakeHost) {
			h.node, h.engine, h.probe = restricted, old, func(string) error { return nil }
		}, "kindest/node:x", Warn, "starts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := bigHost()
			c.host(&h)
			env := &Env{Lab: kind, Host: h, GPU: noGPU, HTTP: http.DefaultClient, Offline: true, NodeImage: c.image}
			o := outcome(t, Run(context.Background(), env, Checks(), 5*time.Second), "privileged")
			if o.Status != c.status || !strings.Contains(o.Message, c.msg) {
				t.Errorf("got %s %q, want %s containing %q", o.Status, o.Message, c.status, c.msg)
			}
		})
	}
	kwok := config.Default()
	kwok.Cluster.Provider = "kwok"
	if o := outcome(t, run(t, kwok, bigHost(), noGPU), "privileged"); o.Status != Skip {
		t.Errorf("kwok: %+v", o)
	}
}

func TestCgroupV1(t *testing.T) {
	h := bigHost()
	h.node.CgroupV1 = true
	l := config.Default() // kind v1.37.0
	if o := outcome(t, run(t, l, h, noGPU), "cgroups"); o.Status != Warn || !strings.Contains(o.Message, "failCgroupV1: false") || !strings.Contains(o.Message, "cgroupfs") {
		t.Errorf("kind 1.37 on cgroup v1: %+v", o)
	}
	l.Cluster.Provider = "k3s"
	if o := outcome(t, run(t, l, h, noGPU), "cgroups"); o.Status != Warn || !strings.Contains(o.Message, "k3s") {
		t.Errorf("k3s 1.37 on cgroup v1: %+v", o)
	}
	if o := outcome(t, run(t, l, bigHost(), noGPU), "cgroups"); o.Status != OK {
		t.Errorf("cgroup v2: %+v", o)
	}
}

// A lab that exists has its nodes, images and model on the disk already: a
// second up (a resume, a no-op) needs only a margin, not the whole lab again
// (make test's kind lab, 15.3 GiB free with the lab itself on that disk,
// was refused its no-op up for lacking 15.5).
func TestDiskOfALabThatExists(t *testing.T) {
	h := bigHost()
	h.free = 5 * gib
	l := config.Default()
	env := &Env{Lab: l, Host: h, GPU: noGPU, HTTP: http.DefaultClient, Offline: true}
	if r := checkDisk(context.Background(), env); r.Status != Fail {
		t.Errorf("a new lab on 5 GiB: %s %s", r.Status, r.Message)
	}
	env.Made = true
	if r := checkDisk(context.Background(), env); r.Status != OK || !strings.Contains(r.Message, "the lab exists") {
		t.Errorf("the same lab made: %s %s", r.Status, r.Message)
	}
	h.free = gib
	env.Host = h
	if r := checkDisk(context.Background(), env); r.Status != Fail {
		t.Errorf("a made lab on 1 GiB: %s %s", r.Status, r.Message)
	}
}
