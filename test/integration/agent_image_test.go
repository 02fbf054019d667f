//go:build integration

package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// make image builds the agent's image from the static binary, and it runs
// as the in-cluster Job runs it: non-root, read-only root filesystem, no
// network. (Loading it into kind/k3s nodes needs those nodes: test/e2e.)
func TestAgentImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	needEngine(t, ctx).Close()
	const ref = "lab.test/agent:it"
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	out, err := exec.CommandContext(ctx, "make", "-C", "../..", "image", "IMAGE="+ref, "VERSION=it").CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, "docker", "image", "inspect", "-f", "{{.Config.User}} {{json .Config.Entrypoint}}", ref).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != `65532:65532 ["/lab"]` {
		t.Errorf("image config: %v %s", err, out)
	}
	out, err = exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL", ref, "version").CombinedOutput()
	if err != nil && engineCannotRun(string(out)) {
		t.Skipf("the image builds, but this engine cannot run containers: %s", out)
	}
	if err != nil || !strings.HasPrefix(string(out), "lab it ") {
		t.Errorf("docker run %s version: %v\n%s", ref, err, out)
	}
}

// engineCannotRun recognises the engine's own failures to start any
// container (a sandbox without cgroups or runc), as opposed to lab failing.
func engineCannotRun(out string) bool {
	for _, sig := range []string{"OCI runtime", "failed to create shim", "cgroup", "runc"} {
		if strings.Contains(out, sig) {
			return true
		}
	}
	return false
}
