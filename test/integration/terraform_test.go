//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab.dev/lab/test/harness"
)

// cluster.provisioner: terraform with a real Terraform binary (v1.5.7, the
// last MPL release, built from the module proxy by make testbin): lab up
// renders the root module and applies it, the cluster is in Terraform's
// state, a second up changes nothing, a cluster deleted behind Terraform's
// back is replaced, lab down destroys through Terraform, twice is fine.
func TestTerraformProvisioner(t *testing.T) {
	needTerraform(t)
	e := newLabEnv(t, "tf", 1)
	y, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, []byte(strings.Replace(string(y), "provider: kwok,", "provider: kwok, provisioner: terraform,", 1)), 0o644)

	if code, _, errOut := e.run("up"); code != 0 {
		t.Fatalf("up: %d\n%s", code, errOut)
	}
	tfDir := filepath.Join(e.home, "labs", "tf", "terraform")
	if r := stateResources(t, tfDir); len(r) != 1 || r[0] != "terraform_data.cluster" {
		t.Fatalf("terraform state holds %v", r)
	}
	if code, st := e.status(); code != 0 || st["nodesReady"] != float64(3) {
		t.Fatalf("status: %d %v", code, st)
	}
	if code, _, errOut := e.run("up"); code != 0 || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("second up: %d\n%s", code, errOut)
	}
	// Deleted by hand: Terraform still has it; the next up replaces it.
	if code, _, errOut := e.run("cluster", "delete"); code != 0 {
		t.Fatalf("cluster delete: %s", errOut)
	}
	if code, _, errOut := e.run("up"); code != 0 {
		t.Fatalf("up after the cluster vanished: %d\n%s", code, errOut)
	}
	if log, _ := os.ReadFile(filepath.Join(tfDir, "terraform.log")); !strings.Contains(string(log), "terraform_data.cluster: Creation complete") {
		t.Errorf("terraform did not replace the vanished cluster:\n%s", log)
	}
	if code, st := e.status(); code != 0 || st["nodesReady"] != float64(3) {
		t.Fatalf("status after replace: %d %v", code, st)
	}
	code, _, errOut := e.run("down")
	if code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
	if code, st := e.status(); code == 0 || st["clusterUp"] != false {
		t.Errorf("status after down: %d %v", code, st)
	}
	if code, _, errOut := e.run("down"); code != 0 {
		t.Errorf("second down: %d\n%s", code, errOut)
	}
}

// A Terraform failure is reported with the tail of terraform's own output,
// and the lab stays resumable.
func TestTerraformFailureReported(t *testing.T) {
	needTerraform(t)
	e := newLabEnv(t, "tf-fail", 1)
	y, _ := os.ReadFile(e.cfg)
	// Control-plane "binaries" that exist (preflight passes) but cannot start.
	bin := t.TempDir()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\necho broken >&2\nexit 3\n"), 0o755)
	}
	os.WriteFile(e.cfg, []byte(strings.Replace(string(y), "provider: kwok,", "provider: kwok, provisioner: terraform, kwok: {binDir: "+bin+"},", 1)), 0o644)
	code, _, errOut := e.run("up")
	if code == 0 || !strings.Contains(errOut, "terraform apply in") || !strings.Contains(errOut, "local-exec") {
		t.Fatalf("failed apply not reported with terraform's output: %d\n%s", code, errOut)
	}
	if strings.Contains(errOut, "panic:") || !strings.Contains(errOut, "kube-apiserver exited") {
		t.Errorf("the component that failed is not named (or lab panicked):\n%s", errOut)
	}
	if !strings.Contains(errOut, "lab down") {
		t.Errorf("no resume hint:\n%s", errOut)
	}
}

// needTerraform points LAB_TERRAFORM at the cached Terraform, or skips.
func needTerraform(t *testing.T) {
	tfBin, err := harness.Bin("terraform") // $LAB_TESTBIN, else the default cache
	if err != nil {
		t.Skipf("no terraform in the test-binary cache (%v): run make testbin", err)
	}
	t.Setenv("LAB_TERRAFORM", tfBin)
}

func stateResources(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Resources []struct{ Type, Name string } `json:"resources"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range st.Resources {
		out = append(out, r.Type+"."+r.Name)
	}
	return out
}
