//go:build integration

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// `kubectl lab` through kubectl's own plugin mechanism: the real kubectl
// (built by the harness for the kind node image) finds kubectl-lab on PATH
// — the lab binary under krew's name, as `make build` makes it — and runs
// it; the plugin reads kubectl's cluster ($KUBECONFIG, --context,
// --namespace, the context's namespace) and gives the cause `lab diagnose`
// gives.
func TestKubectlPlugin(t *testing.T) {
	kubectl := filepath.Join(os.Getenv("LAB_TESTBIN"), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Skipf("no kubectl in the test-binary cache (test/bin/build.sh builds it with the kind parts): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := cluster.Apply(ctx, scenario(t, "missing-configmap"), "kubectl-plugin")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(buildLab(t), filepath.Join(bin, "kubectl-lab")); err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// kubectl's view of the cluster: a kubeconfig whose current context
	// has the scenario's namespace, and a second context without one.
	for _, c := range kc.Contexts {
		c.Namespace = "kubectl-plugin"
	}
	kc.Contexts["elsewhere"] = kc.Contexts[kc.CurrentContext].DeepCopy()
	kc.Contexts["elsewhere"].Namespace = ""
	own := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*kc, own); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir() // no lab here: the plugin must not need one
	run := func(args ...string) string {
		cmd := exec.CommandContext(ctx, kubectl, args...)
		cmd.Dir = home
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "KUBECONFIG="+own, "LAB_HOME="+home, "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("plugin", "list"); !strings.Contains(out, "kubectl-lab") {
		t.Errorf("kubectl plugin list does not find kubectl-lab:\n%s", out)
	}
	if out := run("lab", "version"); !strings.Contains(out, "kubernetes") {
		t.Errorf("kubectl lab version:\n%s", out)
	}
	if out := run("lab", "--help"); !strings.Contains(out, "kubectl lab [command]") {
		t.Errorf("kubectl lab --help does not call itself kubectl lab:\n%s", out)
	}
	// The same cause as lab diagnose, from the context's namespace, from -n
	// under another context, and from --kubeconfig.
	lab := exec.CommandContext(ctx, buildLab(t), "diagnose", pods[0].Name, "-n", "kubectl-plugin", "--no-llm", "--kubeconfig", cluster.Kubeconfig)
	lab.Dir, lab.Env = home, append(os.Environ(), "LAB_HOME="+home, "NO_COLOR=1")
	if want, err := lab.CombinedOutput(); err != nil || !strings.Contains(string(want), "CreateContainerConfigError") {
		t.Fatalf("lab diagnose: %v\n%s", err, want)
	}
	for _, args := range [][]string{
		{"lab", "diagnose", pods[0].Name, "--no-llm"},
		{"lab", "diagnose", pods[0].Name, "--no-llm", "--context", "elsewhere", "--namespace", "kubectl-plugin"},
		{"lab", "diagnose", pods[0].Name, "--no-llm", "--kubeconfig", cluster.Kubeconfig, "-n", "kubectl-plugin"},
	} {
		if out := run(args...); !strings.Contains(out, "CreateContainerConfigError") || !strings.Contains(out, pods[0].Name) {
			t.Errorf("kubectl %s: not the cause lab diagnose gives:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := run("lab", "diagnose", "-n", "kubectl-plugin"); !strings.Contains(out, pods[0].Name) {
		t.Errorf("kubectl lab diagnose -n (triage):\n%s", out)
	}
}
