//go:build e2e

// Package e2e runs the full cycle on real kind and k3s (k3d) clusters: it
// needs a Docker engine that can pull images (a developer's workstation or a
// hosted CI runner; not this project's CI machine, which has none).
package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func lab(t *testing.T, cfg string, args ...string) (int, string) {
	t.Helper()
	bin := os.Getenv("LAB_BIN")
	if bin == "" {
		bin = "../../bin/lab"
	}
	cmd := exec.Command(bin, append(args, "-c", cfg)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

func kubectl(t *testing.T, kubeconfig string, args ...string) string {
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestKindCycle(t *testing.T) { cycle(t, "kind.yaml") }

func TestK3sCycle(t *testing.T) { cycle(t, "k3s.yaml") }

// cycle: up → status → up again (nothing changed) → a real broken workload
// diagnosed → the agent's RBAC proven → down twice.
func cycle(t *testing.T, cfg string) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("needs Docker (kind and k3s nodes are containers)")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("Docker engine not reachable: %s", out)
	}
	t.Cleanup(func() { lab(t, cfg, "down") })
	code, out := lab(t, cfg, "up")
	if code != 0 {
		t.Fatalf("up: %s", out)
	}
	kc := strings.TrimSpace(strings.TrimPrefix(out[strings.LastIndex(out, "export KUBECONFIG="):], "export KUBECONFIG="))
	if code, out := lab(t, cfg, "status"); code != 0 {
		t.Fatalf("status: %s", out)
	}
	if code, out := lab(t, cfg, "up"); code != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("second up: %s", out)
	}
	// A real broken workload: an image tag that does not exist.
	kubectl(t, kc, "-n", "demo", "create", "deployment", "typo", "--image=registry.k8s.io/pause:3.10-typo")
	deadline := time.Now().Add(3 * time.Minute)
	var diag string
	for time.Now().Before(deadline) {
		pod := strings.TrimSpace(kubectl(t, kc, "-n", "demo", "get", "pods", "-l", "app=typo", "-o", "jsonpath={.items[0].metadata.name}"))
		if pod != "" {
			_, diag = lab(t, cfg, "diagnose", pod, "-n", "demo", "--no-llm")
			if strings.Contains(diag, "ImageNotFound") || strings.Contains(diag, "ImagePull") {
				break
			}
		}
		time.Sleep(5 * time.Second)
	}
	if !strings.Contains(diag, "ImagePull") && !strings.Contains(diag, "ImageNotFound") {
		t.Fatalf("diagnosis:\n%s", diag)
	}
	if code, out := lab(t, cfg, "agent", "rbac-check"); code != 0 {
		t.Errorf("rbac-check: %s", out)
	}
	for i := 0; i < 2; i++ {
		if code, out := lab(t, cfg, "down"); code != 0 {
			t.Fatalf("down: %s", out)
		}
	}
}
