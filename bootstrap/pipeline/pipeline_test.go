package pipeline

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
)

func TestDiffAndRecreate(t *testing.T) {
	a, b := config.Default(), config.Default()
	b.Cluster.Workers = 3
	b.Stacks.Ollama.Model = "llama3:8b"
	d := Diff(a, b)
	if len(d) != 2 || d[0].String() != "cluster.workers: 0 → 3" || !strings.HasPrefix(d[1].Path, "stacks.ollama.model") {
		t.Fatalf("diff %v", d)
	}
	cc := ClusterChanges(d)
	if len(cc) != 1 {
		t.Fatalf("cluster changes %v", cc)
	}
	if NeedsRecreate(config.Cluster{Provider: "kwok"}.Capabilities(), cc) {
		t.Error("kwok adds nodes in place")
	}
	if !NeedsRecreate(config.Cluster{Provider: "k3s"}.Capabilities(), cc) {
		t.Error("a k3d cluster's nodes change only by a recreate")
	}
	if !NeedsRecreate(config.Cluster{Provider: "kind"}.Capabilities(), cc) {
		t.Error("kind cannot add nodes to a running cluster")
	}
	b.Cluster.KubernetesVersion = "v1.36.0"
	if !NeedsRecreate(config.Cluster{Provider: "kwok"}.Capabilities(), ClusterChanges(Diff(a, b))) {
		t.Error("a version change must recreate")
	}
	if len(Diff(a, config.Default())) != 0 {
		t.Error("equal labs differ")
	}
}

// The journal records each boundary; a failure names its step; the next
// run reports where the last one stopped.
func TestRunJournal(t *testing.T) {
	dir := t.TempDir()
	u := &ui.UI{Out: &strings.Builder{}, Err: &strings.Builder{}}
	calls := map[string]int{}
	step := func(name string, done bool, err error) Step {
		return Step{Name: name,
			Inspect: func(context.Context, *Context) (bool, string, error) { return done, "already", nil },
			Apply: func(context.Context, *Context) (string, error) {
				calls[name]++
				return "did it", err
			}}
	}
	c := &Context{Dir: dir, UI: u}
	boom := errors.New("boom")
	_, err := Run(context.Background(), c, []Step{step("a", false, nil), step("b", true, nil), step("c", false, boom), step("d", false, nil)})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "step c") {
		t.Fatalf("err %v", err)
	}
	j, _ := ReadJournal(dir)
	if strings.Join(j.Completed, ",") != "a,b" || j.Failed != "c" || !j.Finished.IsZero() {
		t.Fatalf("journal %+v", j)
	}
	if calls["b"] != 0 || calls["d"] != 0 {
		t.Errorf("calls %v", calls)
	}
	res, err := Run(context.Background(), c, []Step{step("a", true, nil), step("c", false, nil)})
	if err != nil || strings.Join(res.Changed, ",") != "c" || strings.Join(res.Skipped, ",") != "a" {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if !strings.Contains(u.Err.(*strings.Builder).String(), "resuming: the last `lab up`") || !strings.Contains(u.Err.(*strings.Builder).String(), "at step c: boom") {
		t.Errorf("resume not reported:\n%s", u.Err)
	}
	if j, _ = ReadJournal(dir); j.Finished.IsZero() {
		t.Error("finished run not recorded")
	}
}

// A journal that cannot be read names its file and the way out.
func TestBrokenJournalIsNamed(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(JournalPath(dir), []byte(`{"started": "2026-11-2`), 0o600)
	_, err := ReadJournal(dir)
	if err == nil || !strings.Contains(err.Error(), JournalPath(dir)) || !strings.Contains(err.Error(), "lab up") {
		t.Errorf("broken journal: %v", err)
	}
}

// waitUntil returns the check's word once done, and names what was not
// Ready, and why, when the time is up.
func TestWaitUntil(t *testing.T) {
	ctx := context.Background()
	if why, err := waitUntil(ctx, time.Second, "nodes", func(context.Context) (bool, string, error) { return true, "3 nodes Ready", nil }); err != nil || why != "3 nodes Ready" {
		t.Errorf("done: %q %v", why, err)
	}
	_, err := waitUntil(ctx, 100*time.Millisecond, "stacks", func(context.Context) (bool, string, error) { return false, "ollama-0: Pending", nil })
	if err == nil || err.Error() != "stacks not Ready after 100ms: ollama-0: Pending" {
		t.Errorf("timeout: %v", err)
	}
	cause := errors.New("API server refused")
	if _, err := waitUntil(ctx, 100*time.Millisecond, "nodes", func(context.Context) (bool, string, error) { return false, "", cause }); !errors.Is(err, cause) {
		t.Errorf("error: %v", err)
	}
}

// existsProvider is a cluster that is already there (only Exists and Name
// are called).
type existsProvider struct{ cluster.Provider }

func (existsProvider) Name() string                         { return "kind" }
func (existsProvider) Exists(context.Context) (bool, error) { return true, nil }

// A first up refuses a cluster of its name that it did not make; a lab that
// has begun resumes its own; the existing provider adopts by design.
func TestFirstUpRefusesAForeignCluster(t *testing.T) {
	t.Setenv("LAB_HOME", t.TempDir())
	l := config.Default()
	l.Metadata.Name, l.Cluster.Provider = "stacks", "kind"
	c := &Context{Lab: l, Dir: state.LabDir("stacks"), Provider: existsProvider{}}
	u := &Up{Lab: l}
	err := u.refuseForeignCluster(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), `kind cluster named "stacks" already exists`) || !strings.Contains(err.Error(), "kind delete cluster --name stacks") {
		t.Fatalf("a foreign cluster was not refused: %v", err)
	}
	if _, statErr := os.Stat(c.Dir); !os.IsNotExist(statErr) {
		t.Errorf("the refusal wrote state: %v", statErr)
	}
	if err := state.EnsureMeta(c.Dir, state.Meta{Name: "stacks", Provider: "kind"}); err != nil {
		t.Fatal(err)
	}
	if err := u.refuseForeignCluster(context.Background(), c); err != nil {
		t.Errorf("a lab that has begun must resume its own cluster: %v", err)
	}
	l.Cluster.Provider = "existing"
	c.Dir = state.LabDir("other")
	if err := u.refuseForeignCluster(context.Background(), c); err != nil {
		t.Errorf("the existing provider adopts: %v", err)
	}
}

// lab-spec names where the lab's state folder is (host and absolute path):
// what `lab down --all` reads to find a lab's cluster whose folder is gone.
func TestRecordNamesTheStateFolder(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset()
	dir := t.TempDir()
	if err := recordSpec(ctx, cs, dir, config.Default(), "phi3:mini"); err != nil {
		t.Fatal(err)
	}
	d, err := recorded(ctx, cs)
	if got := d[recordDir]; err != nil || got != dir {
		t.Fatalf("recorded state folder %q (%v), want %q", d[recordDir], err, dir)
	}
	cm, err := cs.CoreV1().ConfigMaps(SpecNamespace).Get(ctx, SpecConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if host, _ := os.Hostname(); cm.Data[recordHost] != host || cm.Labels["app.kubernetes.io/managed-by"] != "lab" {
		t.Errorf("lab-spec: host %q (want %q), labels %v", cm.Data[recordHost], host, cm.Labels)
	}
	if d, err := recorded(ctx, fake.NewSimpleClientset()); d[recordDir] != "" || err != nil {
		t.Errorf("no lab-spec: %q %v", d[recordDir], err)
	}
}
