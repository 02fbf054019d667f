package stacks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/core/ui"
)

// Source says where a chart comes from: an HTTP chart repository (Repo +
// Name + Version), an OCI registry (Repo "oci://host/path", Name, Version),
// or a local chart directory or .tgz (Path).
type Source struct {
	Repo    string `json:"repo,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Path    string `json:"path,omitempty"`
}

func (s Source) String() string {
	if s.Path != "" {
		return s.Path
	}
	return fmt.Sprintf("%s/%s@%s", strings.TrimSuffix(s.Repo, "/"), s.Name, s.Version)
}

// Release is one Helm release lab keeps in the desired state.
type Release struct {
	Name      string
	Namespace string
	Chart     Source
	Values    map[string]any
	Timeout   time.Duration // readiness wait (default 10m)
}

// Outcome is what Ensure did.
type Outcome struct {
	Release   string   `json:"release"`
	Action    string   `json:"action"` // installed, upgraded, unchanged, recovered-and-installed, recovered-and-upgraded
	Revision  int      `json:"revision"`
	Chart     string   `json:"chart"`
	Diff      []string `json:"diff,omitempty"` // values that changed on upgrade
	Recovered string   `json:"recovered,omitempty"`
	CRDs      int      `json:"crds,omitempty"` // CRDs server-side applied from the chart's crds/
}

// Installer is lab's one Helm installer.
type Installer struct {
	Helm     Helm
	CacheDir string // chart downloads and repository index cache
	Client   kubernetes.Interface
	Log      ui.Logger
}

func (in *Installer) logf(format string, a ...any) { ui.Or(in.Log).Debug(1, format, a...) }

func (in *Installer) settings() *cli.EnvSettings {
	s := cli.New()
	s.RepositoryCache = filepath.Join(in.CacheDir, "repository")
	s.RepositoryConfig = filepath.Join(in.CacheDir, "repositories.yaml")
	s.RegistryConfig = filepath.Join(in.CacheDir, "registry.json")
	s.KubeConfig = in.Helm.Kubeconfig
	return s
}

// Load fetches (or reads) the chart.
func (in *Installer) Load(src Source) (*chart.Chart, error) {
	if src.Path != "" {
		c, err := loader.Load(src.Path)
		if err != nil {
			return nil, fmt.Errorf("loading chart %s: %w", src.Path, err)
		}
		return c, nil
	}
	if err := os.MkdirAll(in.CacheDir, 0o755); err != nil {
		return nil, err
	}
	st := in.settings()
	rc, err := registry.NewClient(registry.ClientOptCredentialsFile(st.RegistryConfig))
	if err != nil {
		return nil, err
	}
	// ChartPathOptions gets its registry client through an action.
	loc := action.NewInstall(&action.Configuration{})
	loc.SetRegistryClient(rc)
	loc.Version = src.Version
	name := src.Name
	if strings.HasPrefix(src.Repo, "oci://") {
		name = strings.TrimSuffix(src.Repo, "/") + "/" + src.Name
	} else {
		loc.RepoURL = src.Repo
	}
	path, err := loc.LocateChart(name, st)
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s: %w", src, err)
	}
	c, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", path, err)
	}
	return c, nil
}

var pending = map[release.Status]bool{release.StatusPendingInstall: true, release.StatusPendingUpgrade: true, release.StatusPendingRollback: true}

// Ensure makes the release match r: install it, upgrade it when its chart
// version or values differ (showing the values diff), or leave it alone. A
// release left pending-* by an interrupted run is recovered first. Installs
// and upgrades are atomic: on failure Helm rolls back, and the error says
// which pods are not ready and why.
func (in *Installer) Ensure(ctx context.Context, r Release) (Outcome, error) {
	out := Outcome{Release: r.Namespace + "/" + r.Name}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Minute
	}
	if r.Values == nil {
		r.Values = map[string]any{}
	}
	cfg, err := in.Helm.Config(r.Namespace)
	if err != nil {
		return out, err
	}
	ch, err := in.Load(r.Chart)
	if err != nil {
		return out, err
	}
	out.Chart = ch.Metadata.Name + "-" + ch.Metadata.Version
	last, err := cfg.Releases.Last(r.Name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return out, fmt.Errorf("reading release %s: %w", r.Name, err)
	}
	if last != nil && pending[last.Info.Status] {
		out.Recovered = fmt.Sprintf("revision %d was %s (an earlier run was interrupted)", last.Version, last.Info.Status)
		in.logf("%s: recovering: %s", r.Name, out.Recovered)
		if last.Version == 1 && last.Info.Status == release.StatusPendingInstall {
			un := action.NewUninstall(cfg)
			un.Wait, un.Timeout = true, r.Timeout
			if _, err := un.Run(r.Name); err != nil {
				return out, fmt.Errorf("removing interrupted install of %s: %w", r.Name, err)
			}
			last = nil
		} else {
			last.SetStatus(release.StatusFailed, "interrupted: marked failed by lab to recover")
			if err := cfg.Releases.Update(last); err != nil {
				return out, fmt.Errorf("unlocking release %s: %w", r.Name, err)
			}
		}
	}
	n, err := in.applyCRDs(ctx, ch)
	if err != nil {
		return out, err
	}
	out.CRDs = n
	if last == nil {
		i := action.NewInstall(cfg)
		i.SkipCRDs = true // applied above, server-side
		i.ReleaseName, i.Namespace, i.CreateNamespace = r.Name, r.Namespace, true
		// Atomic by hand: the pods are explained before the rollback removes them.
		i.Wait, i.WaitForJobs, i.Timeout = true, true, r.Timeout
		rel, err := i.RunWithContext(ctx, ch, r.Values)
		if err != nil {
			err = in.explain(ctx, r, fmt.Errorf("installing %s: %w", r.Name, err))
			un := action.NewUninstall(cfg)
			un.Wait, un.Timeout = true, r.Timeout
			if _, uerr := un.Run(r.Name); uerr != nil && !errors.Is(uerr, driver.ErrReleaseNotFound) {
				return out, errors.Join(err, fmt.Errorf("removing the failed release %s: %w", r.Name, uerr))
			}
			return out, fmt.Errorf("%w\n(the failed release was uninstalled)", err)
		}
		out.Action, out.Revision = prefix(out.Recovered, "installed"), rel.Version
		return out, nil
	}
	status, diff := drift(last, ch.Metadata.Name, ch.Metadata.Version, r.Values)
	if status == "" && len(diff) == 0 {
		out.Action, out.Revision = "unchanged", last.Version
		return out, nil
	}
	u := action.NewUpgrade(cfg)
	u.SkipCRDs = true
	u.Namespace, u.Wait, u.WaitForJobs, u.Timeout, u.MaxHistory = r.Namespace, true, true, r.Timeout, 10
	rel, err := u.RunWithContext(ctx, r.Name, ch, r.Values)
	if err != nil { // atomic by hand, as for installs: explain, then roll back
		err = in.explain(ctx, r, fmt.Errorf("upgrading %s: %w", r.Name, err))
		rb := action.NewRollback(cfg)
		rb.Wait, rb.WaitForJobs, rb.Timeout, rb.CleanupOnFail, rb.MaxHistory = true, true, r.Timeout, true, 10
		if rerr := rb.Run(r.Name); rerr != nil {
			return out, errors.Join(err, fmt.Errorf("rolling %s back: %w", r.Name, rerr))
		}
		return out, fmt.Errorf("%w\n(rolled back to the previous revision)", err)
	}
	out.Action, out.Revision, out.Diff = prefix(out.Recovered, "upgraded"), rel.Version, diff
	return out, nil
}

func prefix(recovered, action string) string {
	if recovered != "" {
		return "recovered-and-" + action
	}
	return action
}

// explain adds which pods of the release's namespace are not ready, and why.
func (in *Installer) explain(ctx context.Context, r Release, err error) error {
	if in.Client == nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	why := NotReady(cctx, in.Client, r.Namespace)
	if len(why) == 0 {
		return err
	}
	return fmt.Errorf("%w\npods not ready in %s:\n  %s", err, r.Namespace, strings.Join(why, "\n  "))
}

// ValuesDiff lists the value paths that differ, "path: old → new".
func ValuesDiff(old, new map[string]any) []string {
	a, b := flat(old), flat(new)
	var out []string
	for k, v := range b {
		if ov, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (unset) → %s", k, v))
		} else if ov != v {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, ov, v))
		}
	}
	for k, v := range a {
		if _, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %s → (unset)", k, v))
		}
	}
	sort.Strings(out)
	return out
}

func flat(m map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(string, any)
	walk = func(p string, v any) {
		if mm, ok := v.(map[string]any); ok && len(mm) > 0 {
			for k, x := range mm {
				walk(strings.TrimPrefix(p+"."+k, "."), x)
			}
			return
		}
		b, _ := json.Marshal(v)
		s := string(b)
		if len(s) > 60 {
			s = fmt.Sprintf("<%d bytes>", len(s))
		}
		out[p] = s
	}
	// Normalise through JSON so ints and float64s compare equal.
	b, _ := json.Marshal(m)
	var norm map[string]any
	_ = json.Unmarshal(b, &norm)
	for k, v := range norm {
		walk(k, v)
	}
	return out
}

// UpToDate reports, without fetching the chart, whether r is deployed at the
// wanted chart version with the wanted values.
func (in *Installer) UpToDate(r Release) (bool, string, error) {
	cfg, err := in.Helm.Config(r.Namespace)
	if err != nil {
		return false, "", err
	}
	last, err := cfg.Releases.Last(r.Name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return false, r.Name + " not installed", nil
	}
	if err != nil {
		return false, "", err
	}
	status, diff := drift(last, r.Chart.Name, r.Chart.Version, r.Values)
	if status != "" {
		return false, r.Name + " is " + status, nil
	}
	if len(diff) > 0 {
		return false, r.Name + ": " + strings.Join(diff, "; "), nil
	}
	return true, "", nil
}

// drift is how release last differs from the chart name@version with values:
// its status when not deployed, then the chart change and the values that
// differ. Ensure (which acts on it) and UpToDate (which `lab up` inspects
// with) both decide with it, so they cannot disagree. An empty name or
// version is not compared.
func drift(last *release.Release, name, version string, values map[string]any) (status string, diff []string) {
	if last.Info != nil && last.Info.Status != release.StatusDeployed {
		status = last.Info.Status.String()
	}
	if m := chartMeta(last); m != nil && ((name != "" && m.Name != name) || (version != "" && m.Version != version)) {
		if name == "" {
			name = m.Name
		}
		diff = append(diff, fmt.Sprintf("chart: %s-%s → %s-%s", m.Name, m.Version, name, version))
	}
	return status, append(diff, ValuesDiff(last.Config, values)...)
}

func chartMeta(r *release.Release) *chart.Metadata {
	if r.Chart == nil {
		return nil
	}
	return r.Chart.Metadata
}

func onlyTest(h *release.Hook) bool {
	for _, e := range h.Events {
		if e != release.HookTest {
			return false
		}
	}
	return len(h.Events) > 0
}

func hookEvents(h *release.Hook) string {
	ev := make([]string, len(h.Events))
	for i, e := range h.Events {
		ev[i] = string(e)
	}
	return strings.Join(ev, ",")
}

// Render returns the manifests the release would apply (helm template: a
// client-only dry run, no cluster needed), CRDs and hooks included.
func (in *Installer) Render(r Release) (string, error) {
	ch, err := in.Load(r.Chart)
	if err != nil {
		return "", err
	}
	i := action.NewInstall(&action.Configuration{})
	i.ReleaseName, i.Namespace, i.DryRun, i.ClientOnly, i.IncludeCRDs, i.Replace = r.Name, r.Namespace, true, true, true, true
	i.KubeVersion = &chartutil.KubeVersion{Version: "v1.34.0", Major: "1", Minor: "34"}
	rel, err := i.Run(ch, r.Values)
	if err != nil {
		return "", fmt.Errorf("rendering %s: %w", r.Name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# release %s/%s (%s)\n", r.Namespace, r.Name, ch.Metadata.Name+"-"+ch.Metadata.Version)
	for _, crd := range ch.CRDObjects() {
		b.WriteString("---\n")
		b.Write(crd.File.Data)
	}
	b.WriteString(rel.Manifest)
	// Hooks too (as helm template prints them): their Jobs run images an
	// offline install needs as much as the Deployments' (kube-prometheus-
	// stack's admission-webhook patch Job is a pre-install hook). Not the
	// chart's tests: they run only under `helm test`, never in lab's install.
	for _, h := range rel.Hooks {
		if onlyTest(h) {
			continue
		}
		fmt.Fprintf(&b, "\n---\n# Source: %s (hook: %s)\n%s\n", h.Path, hookEvents(h), h.Manifest)
	}
	return b.String(), nil
}
