//go:build integration

package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"lab.dev/lab/core/engine"
)

// The k3s provider on a real Docker engine: a node image that cannot be
// pulled fails `lab up` with an error naming it, and k3d's network and image
// volume are removed with the nodes — nothing of the lab is left in the
// engine; `lab down` then succeeds. (A full k3s cycle needs the rancher/k3s
// image: test/e2e, on a machine that can pull it.)
func TestK3sFailedCreateLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	needEngine(t, ctx).Close()
	e := newLabEnv(t, "k3s-fail", 1)
	os.WriteFile(e.cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: k3s-fail}\n"+
		"cluster: {provider: k3s, workers: 1, nodeImage: lab.invalid/k3s:none}\n"+
		"stacks: {argocd: {enabled: false}, linkerd: {enabled: false}, prometheus: {enabled: false}, ollama: {enabled: false}}\n"), 0o644)
	code, _, errOut := e.run("up")
	if strings.Contains(errOut, "step preflight") && strings.Contains(errOut, "privileged node containers") {
		t.Skipf("this engine cannot start privileged containers, so no k3s node either (lab doctor says why):\n%s", errOut)
	}
	if code == 0 || !strings.Contains(errOut, "step cluster") {
		t.Fatalf("up with an unpullable node image: %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "lab.invalid/k3s:none") {
		// An engine that cannot create k3d's network fails earlier; the
		// cleanup below is still checked.
		t.Logf("the create failed before the image pull:\n%s", errOut)
	}
	for _, args := range [][]string{
		{"ps", "-a", "--filter", "label=k3d.cluster=k3s-fail", "--format", "{{.Names}}"},
		{"network", "ls", "--filter", "name=k3d-k3s-fail", "--format", "{{.Name}}"},
		{"volume", "ls", "--filter", "name=k3d-k3s-fail", "--format", "{{.Name}}"},
	} {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v %s", args, err, out)
		}
		if strings.TrimSpace(string(out)) != "" {
			t.Errorf("left in the engine after a failed create (docker %s): %s", args[0], out)
		}
	}
	if code, _, errOut := e.run("down"); code != 0 {
		t.Errorf("down: %d\n%s", code, errOut)
	}
}

// needEngine connects to the container engine, or skips saying why.
func needEngine(t *testing.T, ctx context.Context) *engine.Client {
	t.Helper()
	eng, err := engine.Connect(ctx)
	if errors.Is(err, engine.ErrNoEngine) {
		t.Skipf("no container engine here (%v)", err)
	} else if err != nil {
		t.Fatal(err)
	}
	return eng
}
