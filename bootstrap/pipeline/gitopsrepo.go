package pipeline

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/gitops"
)

// InitGitOpsRepo writes the lab's GitOps repository into dir: gitops' layout
// with the agent's RBAC and APF objects rendered here, where both meet.
func InitGitOpsRepo(dir string, l *config.Lab, repoURL string) ([]string, error) {
	objs, err := deploy.Render(l, deploy.Parts(l)...)
	if err != nil {
		return nil, err
	}
	return gitops.InitRepo(dir, l, repoURL, []byte(deploy.YAML(objs)))
}

// GitOpsImages lists the container images the lab's GitOps repository
// deploys — the containers of every workload in its YAML files — so an air-gapped bundle
// carries them beside the charts' (Argo CD syncs the workloads; their
// nodes cannot pull). The repository is gitops.repo when it is a folder
// here, else the lab's own: as `lab up` wrote it, or as it would write it.
// A remote repository cannot be read: note says so and lists nothing.
func GitOpsImages(l *config.Lab) (images []string, note string, err error) {
	if !l.GitOps.Enabled || !l.Stacks.ArgoCD.IsEnabled() {
		return nil, "", nil
	}
	repo, ok := l.GitOpsRepo()
	if !ok && l.GitOps.Repo != "" {
		return nil, "gitops.repo " + l.GitOps.Repo + " is not a folder here: the images its workloads run are not in the bundle (save them with docker save and load them into the nodes)", nil
	}
	if !ok {
		tmp, err := os.MkdirTemp("", "lab-gitops-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(tmp)
		if _, err := InitGitOpsRepo(tmp, l, "http://lab.invalid/lab.git"); err != nil {
			return nil, "", err
		}
		repo = tmp
	}
	seen := map[string]bool{}
	var unread []string
	err = filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")):
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := kube.DecodeYAML(b)
		if err != nil { // a template (Helm, Jsonnet…): not what lab's plain-directory Applications sync
			rel, _ := filepath.Rel(repo, path)
			unread = append(unread, rel)
			return nil
		}
		for _, o := range objs {
			for _, img := range podImages(o) {
				if !seen[img] {
					seen[img] = true
					images = append(images, img)
				}
			}
		}
		return nil
	})
	sort.Strings(images)
	if len(unread) > 0 {
		note = "not plain YAML, so not read for images: " + strings.Join(unread, ", ")
	}
	return images, note, err
}

// podImages is the images a workload object's pod spec runs: its
// containers', init containers' and ephemeral containers'. Other kinds —
// a policy's image pattern, an Application — run nothing.
func podImages(o *unstructured.Unstructured) []string {
	tmpl, ok := kube.PodTemplatePath(o.GetKind())
	if !ok {
		return nil
	}
	path := append(tmpl, "spec")
	var out []string
	for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
		cs, _, _ := unstructured.NestedSlice(o.Object, append(append([]string{}, path...), list)...)
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				if img, ok := m["image"].(string); ok && img != "" {
					out = append(out, img)
				}
			}
		}
	}
	return out
}
