package kwok

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"lab.dev/lab/core/state"
)

// Options shape a control plane.
type Options struct {
	Dir           string     // state folder; empty = a new temp dir removed on Stop
	BinDir        string     // where the binaries are; empty = DefaultBinDir()
	Detached      bool       // components outlive this process (the kwok provider)
	Nodes         []NodeSpec // fake nodes created after start (nil: two workers)
	APIServerArgs []string   // extra kube-apiserver flags, e.g. --max-requests-inflight=10
	NoControllers bool       // skip kube-controller-manager and kube-scheduler
}

// State is what a control plane records in Dir/state.json: enough for a later
// lab process to find, check and stop it.
type State struct {
	Created time.Time      `json:"created"`
	Ports   map[string]int `json:"ports"`
	PIDs    map[string]int `json:"pids"`
	BinDir  string         `json:"binDir"`
}

// Cluster is a running control plane with kwok-managed fake nodes.
type Cluster struct {
	Dir        string
	Kubeconfig string // admin (system:masters) kubeconfig
	Config     *rest.Config
	Client     kubernetes.Interface
	PKI        *PKI
	Server     string // https://127.0.0.1:port
	State      State
	opts       Options
	procs      []*Proc
	tempDir    bool
	stopOnce   sync.Once
}

const stateFile = "state.json"

// LoadState reads dir/state.json; os.ErrNotExist when there is no lab there.
func LoadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

func (c *Cluster) saveState() error {
	b, _ := json.MarshalIndent(c.State, "", "  ")
	return state.WriteFile(filepath.Join(c.Dir, stateFile), b, 0o600)
}

// Running reports which components of a recorded control plane are alive.
func (s State) Running() (alive, dead []string) {
	for _, name := range Binaries {
		pid, ok := s.PIDs[name]
		if !ok {
			continue
		}
		if Alive(pid) {
			alive = append(alive, name)
		} else {
			dead = append(dead, name)
		}
	}
	return alive, dead
}

// StopState stops every recorded component of the lab in dir, newest
// first — only a process that is still that component: after a reboot a
// recorded PID may belong to anything, and it is left alone.
func StopState(dir string, s State, grace time.Duration) {
	for i := len(Binaries) - 1; i >= 0; i-- {
		if pid, ok := s.PIDs[Binaries[i]]; ok && Owned(pid, dir) {
			StopPID(pid, grace)
		}
	}
}

// Start brings up etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, and creates the fake nodes. With an existing
// state.json in Dir it reuses the recorded ports, PKI and etcd data and
// starts only what is not running: a stopped or half-started lab resumes.
// On error everything this call started is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	c = &Cluster{Dir: opts.Dir, opts: opts}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "lab-kwok-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	}
	if err = os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	if err = CheckBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	started := c // the error returns below set the named result c to nil
	defer func() {
		if err != nil {
			started.stopStarted()
		}
	}()
	if c.State, err = LoadState(c.Dir); errors.Is(err, os.ErrNotExist) {
		c.State = State{Created: time.Now().UTC(), Ports: map[string]int{}, PIDs: map[string]int{}, BinDir: opts.BinDir}
		names := []string{"etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok"}
		ports, perr := FreePorts(len(names))
		if perr != nil {
			return nil, perr
		}
		for i, p := range names {
			c.State.Ports[p] = ports[i]
		}
		// Recorded before any component starts: a run killed after it
		// started etcd but before it wrote state would otherwise leave the
		// next run to pick new ports and adopt an etcd listening elsewhere.
		if err = c.saveState(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(c.Dir, stateFile), err)
	}
	if c.PKI, err = LoadOrCreatePKI(c.Dir); err != nil {
		return nil, err
	}
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", c.State.Ports["apiserver"])
	if err = c.startEtcdAndAPIServer(ctx); err != nil {
		return nil, err
	}
	if !opts.NoControllers {
		if err = c.startControllers(ctx); err != nil {
			return nil, err
		}
	}
	if err = c.startKwok(ctx); err != nil {
		return nil, err
	}
	if err = c.saveState(); err != nil {
		return nil, err
	}
	nodes := opts.Nodes
	if nodes == nil {
		nodes = []NodeSpec{{Name: "worker-1"}, {Name: "worker-2"}}
	}
	if len(nodes) > 0 {
		if err = c.EnsureNodes(ctx, nodes); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// launch starts a component unless state records it alive.
func (c *Cluster) launch(name string, args []string) (*Proc, error) {
	if pid, ok := c.State.PIDs[name]; ok && Owned(pid, c.Dir) {
		return nil, nil
	}
	if pid := filePID(c.Dir, name); pid > 0 { // started by a run killed before it recorded it
		if runsWith(pid, args) {
			c.State.PIDs[name] = pid
			return nil, c.saveState()
		}
		StopPID(pid, 5*time.Second) // started with other flags (ports, certificates): not ours to adopt
	}
	bin, err := Bin(c.opts.BinDir, name)
	if err != nil {
		return nil, err
	}
	p, err := startProc(c.Dir, name, bin, args, c.opts.Detached)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	c.State.PIDs[name] = p.PID()
	// Recorded at once: a lab up killed before the control plane is ready
	// must not leave a component no later run knows of (it would hold the
	// port, and the next run's copy would die on it).
	if err := c.saveState(); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *Cluster) startEtcdAndAPIServer(ctx context.Context) error {
	ports := c.State.Ports
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-client"])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-peer"])
	if _, err := c.launch("etcd", []string{
		"--name=lab", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + clientURL, "--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=lab=" + peerURL, "--unsafe-no-fsync", "--log-level=warn",
	}); err != nil {
		return err
	}
	serving, servingKey, err := c.PKI.Issue("apiserver", "kube-apiserver", nil, "127.0.0.1", "localhost", "kubernetes.default.svc", "10.0.0.1")
	if err != nil {
		return err
	}
	kubeletClient, kubeletClientKey, err := c.PKI.Issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		return err
	}
	args := joinArgs(map[string]string{
		"etcd-servers":                     clientURL,
		"bind-address":                     "127.0.0.1",
		"advertise-address":                "127.0.0.1",
		"secure-port":                      strconv.Itoa(ports["apiserver"]),
		"tls-cert-file":                    serving,
		"tls-private-key-file":             servingKey,
		"client-ca-file":                   c.PKI.CAFile,
		"kubelet-client-certificate":       kubeletClient,
		"kubelet-client-key":               kubeletClientKey,
		"authorization-mode":               "Node,RBAC",
		"enable-priority-and-fairness":     "true",
		"service-account-issuer":           "https://kubernetes.default.svc.cluster.local",
		"service-account-key-file":         filepath.Join(c.Dir, "sa.pub"),
		"service-account-signing-key-file": filepath.Join(c.Dir, "sa.key"),
		"service-cluster-ip-range":         "10.0.0.0/24",
		"allow-privileged":                 "true",
		"kubelet-preferred-address-types":  "InternalIP",
		"profiling":                        "false",
	})
	api, err := c.launch("kube-apiserver", append(args, c.opts.APIServerArgs...))
	if err != nil {
		return err
	}
	if c.Kubeconfig, err = c.WriteKubeconfig("admin", "lab-admin", []string{"system:masters"}); err != nil {
		return err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return err
	}
	c.Config.QPS, c.Config.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return api.WaitFor(wctx, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", err
	})
}

// WriteKubeconfig issues a client certificate for user in groups and writes a
// kubeconfig for it (name.kubeconfig in the cluster dir), unless a usable one
// exists: the kubeconfig and its certificate and key, issued by this CA.
func (c *Cluster) WriteKubeconfig(name, user string, groups []string) (string, error) {
	path := filepath.Join(c.Dir, name+".kubeconfig")
	if c.kubeconfigUsable(path, name) {
		return path, nil
	}
	cert, key, err := c.PKI.Issue(name, user, groups)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthority: c.PKI.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: cert, ClientKey: key}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: name}
	cfg.CurrentContext = "lab"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return "", err
	}
	return path, state.WriteFile(path, b, 0o600)
}

// kubeconfigUsable says whether the kubeconfig at path, its client
// certificate and key exist, belong together and chain to this CA, for the
// current API server address.
func (c *Cluster) kubeconfigUsable(path, name string) bool {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil || cfg.Clusters["lab"] == nil || cfg.Clusters["lab"].Server != c.Server {
		return false
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(c.Dir, name+".crt"), filepath.Join(c.Dir, name+".key"))
	if err != nil || len(pair.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	return err == nil && leaf.CheckSignatureFrom(c.PKI.CACert) == nil
}

// ConfigFor returns a rest.Config authenticated as user in groups.
func (c *Cluster) ConfigFor(user string, groups ...string) (*rest.Config, error) {
	path, err := c.WriteKubeconfig("user-"+user, user, groups)
	if err != nil {
		return nil, err
	}
	return clientcmd.BuildConfigFromFlags("", path)
}

// startControllers starts kube-controller-manager and kube-scheduler and
// waits for their /healthz: a controller-manager that dies at start leaves
// a cluster where nothing ever gets a pod.
func (c *Cluster) startControllers(ctx context.Context) error {
	cm, err := c.launch("kube-controller-manager", joinArgs(map[string]string{
		"kubeconfig":                       c.Kubeconfig,
		"authentication-kubeconfig":        c.Kubeconfig,
		"authorization-kubeconfig":         c.Kubeconfig,
		"leader-elect":                     "false",
		"bind-address":                     "127.0.0.1",
		"secure-port":                      strconv.Itoa(c.State.Ports["controller-manager"]),
		"root-ca-file":                     c.PKI.CAFile,
		"service-account-private-key-file": filepath.Join(c.Dir, "sa.key"),
		"controllers":                      "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-persistentvolume-binder,-attachdetach",
	}))
	if err != nil {
		return err
	}
	sched, err := c.launch("kube-scheduler", joinArgs(map[string]string{
		"kubeconfig":                c.Kubeconfig,
		"authentication-kubeconfig": c.Kubeconfig,
		"authorization-kubeconfig":  c.Kubeconfig,
		"leader-elect":              "false",
		"bind-address":              "127.0.0.1",
		"secure-port":               strconv.Itoa(c.State.Ports["scheduler"]),
	}))
	if err != nil {
		return err
	}
	if err := waitHealthz(ctx, cm, c.State.Ports["controller-manager"]); err != nil {
		return err
	}
	return waitHealthz(ctx, sched, c.State.Ports["scheduler"])
}

// waitHealthz waits until the component p (nil: started by an earlier run)
// answers /healthz on its loopback port. Its serving certificate is one it
// made for itself at start, so only liveness is read, not trust.
func waitHealthz(ctx context.Context, p *Proc, port int) error {
	if p == nil {
		return nil
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback liveness probe
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	return p.WaitFor(wctx, p.Name+" /healthz", func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// Proc returns the component called name started by this process, or nil.
func (c *Cluster) Proc(name string) *Proc {
	for _, p := range c.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (c *Cluster) stopStarted() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(5 * time.Second)
	}
}

// Stop stops every component (also those an earlier process started) and
// removes a temp dir.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		c.stopStarted()
		StopState(c.Dir, c.State, 5*time.Second)
		if c.tempDir && os.Getenv("LAB_KEEP_HARNESS") == "" {
			os.RemoveAll(c.Dir)
		}
	})
}

// Attach connects to a control plane an earlier process started in dir.
func Attach(dir string, cfg *rest.Config) (*Cluster, error) {
	st, err := LoadState(dir)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	pki, err := LoadOrCreatePKI(dir)
	if err != nil {
		return nil, err
	}
	return &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "admin.kubeconfig"), Config: cfg, Client: cs, PKI: pki, State: st,
		Server: fmt.Sprintf("https://127.0.0.1:%d", st.Ports["apiserver"])}, nil
}
