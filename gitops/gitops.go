// Package gitops hands the lab to Argo CD: it renders the root Application
// (app-of-apps) and the lab's own child Applications, writes them as a
// ready-to-push repository (lab gitops init), serves a local repository to
// the cluster over git's smart HTTP protocol (offline labs), and reads,
// syncs and refreshes Applications through the Application CRD with the
// dynamic client (no argo-cd Go module: see shared/DESIGN.md).
package gitops

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/manifests"
)

// ApplicationGVR is Argo CD's Application resource.
var ApplicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// Namespace is where Argo CD and its Applications live.
const Namespace = "argocd"

// RootName is the app-of-apps.
const RootName = "lab-root"

// Params fill the templates.
type Params struct {
	RepoURL        string
	Revision       string
	Path           string
	AgentNamespace string
	// The policy set (lab.yaml policies): on, its Kyverno failure action,
	// the namespaces it leaves alone, the workload namespaces given
	// default-deny NetworkPolicies, and the stacks whose traffic it allows.
	Policies                    bool
	Action                      string
	Exempt, Namespaces          []string
	Prometheus, Ollama, Linkerd bool
}

// ParamsFor derives the parameters from lab.yaml; repoURL is what the
// cluster uses to reach the repository (the local git server's URL for a
// local directory).
func ParamsFor(l *config.Lab, repoURL string) Params {
	return Params{RepoURL: repoURL, Revision: l.GitOps.Revision, Path: l.GitOps.Path, AgentNamespace: l.Agent.Namespace,
		Policies: l.Policies.Enabled, Action: l.Policies.Action(), Exempt: l.PolicyExempt(), Namespaces: l.Policies.Namespaces,
		Prometheus: l.Stacks.Prometheus.Enabled, Ollama: l.Stacks.Ollama.Enabled, Linkerd: l.Stacks.Linkerd.Enabled}
}

func render(name string, p Params) ([]byte, error) {
	raw, err := manifests.GitOps.ReadFile("gitops/" + name)
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Funcs(template.FuncMap{"join": strings.Join}).Option("missingkey=error").Parse(string(raw))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, p)
	return b.Bytes(), err
}

func decode(b []byte) (*unstructured.Unstructured, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// Root renders the root Application.
func Root(p Params) (*unstructured.Unstructured, error) {
	b, err := render("root.yaml", p)
	if err != nil {
		return nil, err
	}
	return decode(b)
}

// Children renders the lab's child Applications, in sync-wave order.
func Children(p Params) ([]*unstructured.Unstructured, error) {
	entries, err := fs.ReadDir(manifests.GitOps, "gitops/apps")
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, e := range entries {
		b, err := render("apps/"+e.Name(), p)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue // an Application for something lab.yaml leaves off
		}
		u, err := decode(b)
		if err != nil {
			return nil, fmt.Errorf("apps/%s: %w", e.Name(), err)
		}
		out = append(out, u)
	}
	sort.SliceStable(out, func(i, j int) bool { return wave(out[i]) < wave(out[j]) })
	return out, nil
}

func wave(u *unstructured.Unstructured) int {
	var n int
	fmt.Sscanf(u.GetAnnotations()["argocd.argoproj.io/sync-wave"], "%d", &n)
	return n
}

func policiesLine(p Params) string {
	if !p.Policies {
		return ""
	}
	return ", then `policies/` (wave 20: lab's Kyverno ClusterPolicies in " + p.Action + " mode, default-deny NetworkPolicies" +
		map[bool]string{true: ", Linkerd authorization for Ollama", false: ""}[p.Linkerd && p.Ollama] + ")"
}

// Policies renders the policy set as the repository's policies/ files (none
// when lab.yaml leaves policies off); a file whose objects are all off (the
// Linkerd objects without the mesh) is left out.
func Policies(p Params) (map[string][]byte, error) {
	out := map[string][]byte{}
	if !p.Policies {
		return out, nil
	}
	entries, err := fs.ReadDir(manifests.GitOps, "gitops/policies")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := render("policies/"+e.Name(), p)
		if err != nil {
			return nil, fmt.Errorf("policies/%s: %w", e.Name(), err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			out["policies/"+e.Name()] = b
		}
	}
	return out, nil
}

// ApplicationCRD is lab's minimal Application definition (labs without the
// argo-cd chart; the chart ships the full one).
func ApplicationCRD() (*unstructured.Unstructured, error) {
	b, err := manifests.GitOps.ReadFile("gitops/application-crd.yaml")
	if err != nil {
		return nil, err
	}
	return decode(b)
}

// InitRepo writes the lab's GitOps content into dir as a repository layout:
// <path>/ the child Applications, demo/ the demo workload, agent/ the agent's
// RBAC and APF objects (agentYAML, rendered by the caller: gitops does not
// know the agent), and a README. Existing files are not overwritten.
func InitRepo(dir string, l *config.Lab, repoURL string, agentYAML []byte) ([]string, error) {
	p := ParamsFor(l, repoURL)
	files := map[string][]byte{}
	children, err := Children(p)
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		b, _ := yaml.Marshal(c.Object)
		files[filepath.Join(p.Path, c.GetName()+".yaml")] = b
	}
	for _, dir := range []string{"gitops/demo", "gitops/runbooks"} { // the demo workload; the runbooks the agent retrieves
		if err := fs.WalkDir(manifests.GitOps, dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := manifests.GitOps.ReadFile(path)
			files[strings.TrimPrefix(path, "gitops/")] = b
			return err
		}); err != nil {
			return nil, err
		}
	}
	files["agent/agent.yaml"] = agentYAML
	pol, err := Policies(p)
	if err != nil {
		return nil, err
	}
	for name, b := range pol {
		files[name] = b
	}
	root, err := Root(p)
	if err != nil {
		return nil, err
	}
	rb, _ := yaml.Marshal(root.Object)
	files["README.md"] = []byte("# " + l.Metadata.Name + " lab: GitOps repository\n\n" +
		"Written by `lab gitops init`. Argo CD's root Application (below; `lab up` creates it)\n" +
		"syncs `" + p.Path + "/`, whose Applications sync `agent/` (wave 0) and `demo/` (wave 10)" + policiesLine(p) + ".\n" +
		"`runbooks/` holds the team's Markdown runbooks: `lab diagnose` cites the sections that fit a failure\n" +
		"(file and heading) and quotes the best one to the model. Edit them; add your own.\n\n```yaml\n" + string(rb) + "```\n")
	var written []string
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		full := filepath.Join(dir, n)
		if _, err := os.Stat(full); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(full, files[n], 0o644); err != nil {
			return written, err
		}
		written = append(written, n)
	}
	return written, nil
}
