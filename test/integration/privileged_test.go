//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lab doctor starts a real privileged container, as kind starts a node, from
// a node image already in the engine (here: a one-file image made in the
// test, nothing pulled), and reports what the kernel's bounding set means for
// it. With .ci/run's engine (runc-bounded when the bounding set lacks
// CAP_SYS_RESOURCE) the container must start.
func TestDoctorStartsAPrivilegedContainer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	needEngine(t, ctx)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "root", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "true.c"), []byte("int main(void) { return 0; }\n"), 0o644)
	if out, err := exec.Command("gcc", "-static", "-o", filepath.Join(dir, "root", "bin", "true"), filepath.Join(dir, "true.c")).CombinedOutput(); err != nil {
		t.Skipf("no static gcc for the probe image: %v\n%s", err, out)
	}
	const img = "lab.dev/probe:privileged"
	imp := exec.CommandContext(ctx, "sh", "-c", "tar -C "+filepath.Join(dir, "root")+" -c . | docker import - "+img)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", img).Run() })

	e := newLabEnv(t, "probe", 0)
	os.WriteFile(e.cfg, []byte("apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: probe}\ncluster: {provider: kind, nodeImage: \""+img+"\"}\n"), 0o644)
	_, out, errOut := e.run("doctor", "--offline", "-o", "json")
	var rep struct {
		Checks []struct{ ID, Status, Message string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, errOut)
	}
	for _, o := range rep.Checks {
		if o.ID != "privileged" {
			continue
		}
		t.Logf("%s: %s", o.Status, o.Message)
		if o.Status == "fail" && strings.Contains(o.Message, "unable to apply caps") {
			t.Skipf("this engine cannot start privileged containers (started without lab's runc-bounded runtime?): %s", o.Message)
		}
		if (o.Status != "ok" && o.Status != "warn") || !strings.Contains(o.Message, "from "+img+" starts") {
			t.Errorf("the privileged container did not start: %s %s", o.Status, o.Message)
		}
		if left, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=lab.dev/probe", "--filter", "ancestor="+img).Output(); len(strings.TrimSpace(string(left))) > 0 {
			t.Errorf("probe containers left: %s", left)
		}
		return
	}
	t.Fatalf("no privileged check in %s", out)
}
