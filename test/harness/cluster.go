package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options shape a control plane.
type Options struct {
	Dir           string     // state folder; empty = a new temp dir removed on Stop
	Nodes         []NodeSpec // fake nodes created after start (default: two workers)
	APIServerArgs []string   // extra kube-apiserver flags, e.g. --max-requests-inflight=10
	NoControllers bool       // skip kube-controller-manager and kube-scheduler
}

// Cluster is a running control plane with kwok-managed fake nodes.
type Cluster struct {
	Dir        string
	Kubeconfig string // admin (system:masters) kubeconfig
	Config     *rest.Config
	Client     kubernetes.Interface
	PKI        *PKI
	Server     string // https://127.0.0.1:port
	procs      []*Proc
	tempDir    bool
	stopOnce   sync.Once
}

// Start brings up etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, and creates the fake nodes. On error everything
// started so far is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	c = &Cluster{Dir: opts.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "lab-harness-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.PKI, err = NewPKI(c.Dir); err != nil {
		return nil, err
	}
	if err = c.startEtcdAndAPIServer(ctx, opts); err != nil {
		return nil, err
	}
	if !opts.NoControllers {
		if err = c.startControllers(); err != nil {
			return nil, err
		}
	}
	if err = c.startKwok(ctx); err != nil {
		return nil, err
	}
	nodes := opts.Nodes
	if nodes == nil {
		nodes = []NodeSpec{{Name: "worker-1"}, {Name: "worker-2"}}
	}
	for _, n := range nodes {
		if err = c.AddNode(ctx, n); err != nil {
			return nil, err
		}
	}
	if len(nodes) > 0 {
		err = c.WaitNodesReady(ctx, len(nodes))
	}
	return c, err
}

func (c *Cluster) startEtcdAndAPIServer(ctx context.Context, opts Options) error {
	etcdBin, err := Bin("etcd")
	if err != nil {
		return err
	}
	apiBin, err := Bin("kube-apiserver")
	if err != nil {
		return err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return err
		}
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	etcd, err := StartProc(c.Dir, "etcd", etcdBin, []string{
		"--name=lab", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + clientURL, "--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=lab=" + peerURL, "--unsafe-no-fsync", "--log-level=warn",
	})
	if err != nil {
		return err
	}
	c.procs = append(c.procs, etcd)

	serving, servingKey, err := c.PKI.Issue("apiserver", "kube-apiserver", nil, "127.0.0.1", "localhost", "kubernetes.default.svc", "10.0.0.1")
	if err != nil {
		return err
	}
	kubeletClient, kubeletClientKey, err := c.PKI.Issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		return err
	}
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	args := joinArgs(map[string]string{
		"etcd-servers":                     clientURL,
		"bind-address":                     "127.0.0.1",
		"advertise-address":                "127.0.0.1",
		"secure-port":                      strconv.Itoa(ports[2]),
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
		"v":                                "1",
	})
	api, err := StartProc(c.Dir, "kube-apiserver", apiBin, append(args, opts.APIServerArgs...))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, api)
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
// kubeconfig for it (name.kubeconfig in the cluster dir).
func (c *Cluster) WriteKubeconfig(name, user string, groups []string) (string, error) {
	cert, key, err := c.PKI.Issue(name, user, groups)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthority: c.PKI.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: cert, ClientKey: key}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: name}
	cfg.CurrentContext = "lab"
	path := filepath.Join(c.Dir, name+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// ConfigFor returns a rest.Config authenticated as user in groups.
func (c *Cluster) ConfigFor(user string, groups ...string) (*rest.Config, error) {
	path, err := c.WriteKubeconfig("user-"+user, user, groups)
	if err != nil {
		return nil, err
	}
	return clientcmd.BuildConfigFromFlags("", path)
}

func (c *Cluster) startControllers() error {
	cm, err := Bin("kube-controller-manager")
	if err != nil {
		return err
	}
	sched, err := Bin("kube-scheduler")
	if err != nil {
		return err
	}
	p1, p2 := mustPort(), mustPort()
	ctrl, err := StartProc(c.Dir, "kube-controller-manager", cm, joinArgs(map[string]string{
		"kubeconfig":                       c.Kubeconfig,
		"authentication-kubeconfig":        c.Kubeconfig,
		"authorization-kubeconfig":         c.Kubeconfig,
		"leader-elect":                     "false",
		"bind-address":                     "127.0.0.1",
		"secure-port":                      strconv.Itoa(p1),
		"root-ca-file":                     c.PKI.CAFile,
		"service-account-private-key-file": filepath.Join(c.Dir, "sa.key"),
		"controllers":                      "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-persistentvolume-binder,-attachdetach",
		"concurrent-deployment-syncs":      "5",
	}))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, ctrl)
	s, err := StartProc(c.Dir, "kube-scheduler", sched, joinArgs(map[string]string{
		"kubeconfig":                c.Kubeconfig,
		"authentication-kubeconfig": c.Kubeconfig,
		"authorization-kubeconfig":  c.Kubeconfig,
		"leader-elect":              "false",
		"bind-address":              "127.0.0.1",
		"secure-port":               strconv.Itoa(p2),
	}))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, s)
	return nil
}

func mustPort() int {
	p, err := FreePort()
	if err != nil {
		panic(err)
	}
	return p
}

// Proc returns the started component called name, or nil.
func (c *Cluster) Proc(name string) *Proc {
	for _, p := range c.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Stop stops every component (newest first) and removes a temp dir.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].Stop(5 * time.Second)
		}
		if c.tempDir && os.Getenv("LAB_KEEP_HARNESS") == "" {
			os.RemoveAll(c.Dir)
		}
	})
}
