package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	k3dconfig "github.com/k3d-io/k3d/v5/pkg/config"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/engine"
)

// lab.yaml → k3d v1alpha5 SimpleConfig: HA servers, agents, GPU agents,
// mirrors (registries.yaml), port mappings — and k3d's own JSON Schema for
// that version accepts what lab writes.
func TestK3dConfigGolden(t *testing.T) {
	schema, err := k3dconfig.GetSchemaByVersion("k3d.io/v1alpha5")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"k3s-ha", "k3s-gpu-mirrors-ports"} {
		t.Run(name, func(t *testing.T) {
			l, err := config.LoadFile(filepath.Join("testdata", name+".lab.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			sc := K3dConfig(l, engine.NodeHost{CapSysResource: true})
			b, err := yaml.Marshal(sc)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if err := k3dconfig.ValidateSchema(doc, schema); err != nil {
				t.Errorf("k3d's schema refuses lab's config: %v\n%s", err, b)
			}
			checkGolden(t, filepath.Join("testdata", name+".k3d.golden.yaml"), b)
		})
	}
}

func TestK3sImage(t *testing.T) {
	l := config.Default()
	l.Cluster.KubernetesVersion = "v1.36.1"
	if img := K3sImage(l); img != "docker.io/rancher/k3s:v1.36.1-k3s1" {
		t.Errorf("image %s", img)
	}
	l.Cluster.NodeImage = "mirror/k3s:x"
	if img := K3sImage(l); img != "mirror/k3s:x" {
		t.Errorf("nodeImage not honoured: %s", img)
	}
}

// A GPU k3s lab without a CUDA-capable image is refused at load, naming the field.
func TestK3sGPUNeedsImage(t *testing.T) {
	f := filepath.Join(t.TempDir(), "lab.yaml")
	os.WriteFile(f, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: g}\ncluster:\n  provider: k3s\n  gpuWorkers: 1\n"), 0o644)
	_, err := config.LoadFile(f)
	if err == nil || !strings.Contains(err.Error(), "cluster.nodeImage") || !strings.Contains(err.Error(), "NVIDIA container runtime") {
		t.Fatalf("error %v", err)
	}
}

// On a cgroup v1 host a v1.35+ k3s gets fail-cgroupv1=false on every kubelet.
func TestK3dCgroupV1KubeletArg(t *testing.T) {
	l := config.Default()
	l.Cluster.Provider, l.Cluster.KubernetesVersion = "k3s", "v1.35.1"
	args := K3dConfig(l, engine.NodeHost{CgroupV1: true}).Options.K3sOptions.ExtraArgs
	if len(args) != 1 || args[0].Arg != "--kubelet-arg=fail-cgroupv1=false" || len(args[0].NodeFilters) != 2 {
		t.Errorf("cgroup v1, v1.35: %+v", args)
	}
	l.Cluster.KubernetesVersion = "v1.34.4"
	if args := K3dConfig(l, engine.NodeHost{CgroupV1: true}).Options.K3sOptions.ExtraArgs; len(args) != 0 {
		t.Errorf("v1.34 needs no override: %+v", args)
	}
}
