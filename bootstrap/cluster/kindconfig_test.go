package cluster

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// lab.yaml → kind v1alpha4: multi-node, GPU workers, mirrors, port mappings.
func TestKindConfigGolden(t *testing.T) {
	for _, name := range []string{"kind-multinode", "kind-gpu-mirrors-ports"} {
		t.Run(name, func(t *testing.T) {
			l, err := config.LoadFile(filepath.Join("testdata", name+".lab.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := yaml.Marshal(KindConfig(l))
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

// checkGolden compares got with the golden file (rewritten with -update).
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, _ := os.ReadFile(golden)
	if string(want) != string(got) {
		t.Errorf("output differs from %s (go test -update):\n%s", golden, got)
	}
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
