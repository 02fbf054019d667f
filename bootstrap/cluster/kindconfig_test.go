package cluster

import (
	"lab.dev/lab/core/golden"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
)

// lab.yaml → kind v1alpha4: multi-node, GPU workers, mirrors, port mappings;
// and the same on a restricted host (no CAP_SYS_RESOURCE, cgroup v1): the
// containerd and kubelet patches.
func TestKindConfigGolden(t *testing.T) {
	open := engine.NodeHost{CapSysResource: true}
	restricted := engine.NodeHost{CapSysResource: false, CgroupV1: true}
	for _, c := range []struct {
		name, lab string
		host      engine.NodeHost
	}{{"kind-multinode", "kind-multinode", open}, {"kind-gpu-mirrors-ports", "kind-gpu-mirrors-ports", open},
		{"kind-multinode-restricted-host", "kind-multinode", restricted}} {
		name := c.name
		t.Run(name, func(t *testing.T) {
			l, err := config.LoadFile(filepath.Join("testdata", c.lab+".lab.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := yaml.Marshal(KindConfig(l, c.host))
			if err != nil {
				t.Fatal(err)
			}
			hosts := MirrorHosts(l)
			paths := make([]string, 0, len(hosts))
			for p := range hosts {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			for _, path := range paths {
				content := hosts[path]
				b = append(b, []byte("# "+path+"\n# "+strings.ReplaceAll(strings.TrimSpace(content), "\n", "\n# ")+"\n")...)
			}
			checkGolden(t, filepath.Join("testdata", name+".kind.golden.yaml"), b)
		})
	}
}

// checkGolden compares got with the golden file (golden.Check).
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, got)
}

func TestNodeImagePinned(t *testing.T) {
	l := config.Default()
	if img := NodeImage(l); !strings.Contains(img, "@sha256:") {
		t.Errorf("default image not pinned by digest: %s", img)
	}
	l.Cluster.KubernetesVersion = "v1.33.1"
	if img := NodeImage(l); img != "kindest/node:v1.33.1" {
		t.Errorf("image %s", img)
	}
	l.Cluster.NodeImage = "registry.local/kindest/node:custom"
	if NodeImage(l) != l.Cluster.NodeImage {
		t.Error("cluster.nodeImage ignored")
	}
}

// The kubelet patches only where they are needed: cgroupfs on any cgroup v1
// host, failCgroupV1 only for a v1.35+ node there; nothing on cgroup v2.
func TestKindCgroupV1PatchOnlyFrom135(t *testing.T) {
	l := config.Default()
	l.Stacks.Prometheus.Enabled = false // its metrics patches are another test's
	for v, want := range map[string]bool{"v1.34.4": false, "v1.35.0": true, "v1.37.0": true, "bogus": false} {
		l.Cluster.KubernetesVersion = v
		patches := strings.Join(KindConfig(l, engine.NodeHost{CapSysResource: true, CgroupV1: true}).KubeadmConfigPatches, "\n")
		if got := strings.Contains(patches, "failCgroupV1: false"); got != want {
			t.Errorf("%s on cgroup v1: failCgroupV1 patched=%v, want %v", v, got, want)
		}
		if !strings.Contains(patches, "cgroupDriver: cgroupfs") {
			t.Errorf("%s on cgroup v1: no cgroupfs driver", v)
		}
		kc := KindConfig(l, engine.NodeHost{CapSysResource: true})
		if len(kc.KubeadmConfigPatches) > 0 || len(kc.ContainerdConfigPatches) > 0 {
			t.Errorf("%s on cgroup v2 patched: %v %v", v, kc.KubeadmConfigPatches, kc.ContainerdConfigPatches)
		}
	}
}

// With kube-prometheus-stack the control plane's metrics listen beyond
// loopback, where its ServiceMonitors scrape them (TestKindStacksForReal
// checks every target up on real nodes); without it nothing is patched.
func TestKindMetricsPatchesWithPrometheus(t *testing.T) {
	l := config.Default()
	patches := strings.Join(KindConfig(l, engine.NodeHost{CapSysResource: true}).KubeadmConfigPatches, "\n")
	for _, want := range []string{"bind-address: 0.0.0.0", "listen-metrics-urls: http://0.0.0.0:2381", "metricsBindAddress: 0.0.0.0:10249"} {
		if !strings.Contains(patches, want) {
			t.Errorf("patches lack %q:\n%s", want, patches)
		}
	}
	l.Stacks.Prometheus.Enabled = false
	if p := KindConfig(l, engine.NodeHost{CapSysResource: true}).KubeadmConfigPatches; len(p) > 0 {
		t.Errorf("patched without Prometheus: %v", p)
	}
}
