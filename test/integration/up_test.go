//go:build integration

package integration

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	labBinOnce sync.Once
	labBin     string
	labBinErr  error
)

// buildLab builds the lab binary once per test binary, as users run it.
func buildLab(t *testing.T) string {
	t.Helper()
	labBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lab-bin-")
		if err != nil {
			labBinErr = err
			return
		}
		labBin = filepath.Join(dir, "lab")
		out, err := exec.Command("go", "build", "-o", labBin, "../../cmd/lab").CombinedOutput()
		if err != nil {
			labBinErr = err
			labBin = string(out)
		}
	})
	if labBinErr != nil {
		t.Fatalf("building lab: %v\n%s", labBinErr, labBin)
	}
	return labBin
}

type labEnv struct {
	t    *testing.T
	bin  string
	home string
	cfg  string
}

func newLabEnv(t *testing.T, name string, workers int) *labEnv {
	e := &labEnv{t: t, bin: buildLab(t), home: t.TempDir()}
	e.cfg = filepath.Join(e.home, "lab.yaml")
	e.writeConfig(name, workers)
	t.Cleanup(func() { e.run("down") })
	return e
}

func (e *labEnv) writeConfig(name string, workers int) {
	y := "apiVersion: lab.dev/v1alpha1\nkind: Lab\nmetadata: {name: " + name + "}\n" +
		"cluster: {provider: kwok, workers: " + strconv.Itoa(workers) + ", gpuWorkers: 1}\n" +
		"stacks: {argocd: {enabled: false}, linkerd: {enabled: false}, prometheus: {enabled: false}, ollama: {enabled: false}}\n"
	if err := os.WriteFile(e.cfg, []byte(y), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *labEnv) cmd(args ...string) *exec.Cmd {
	c := exec.Command(e.bin, append(args, "-c", e.cfg)...)
	c.Env = append(os.Environ(), "LAB_HOME="+e.home, "NO_COLOR=1")
	return c
}

// run runs lab and returns exit code, stdout, stderr.
func (e *labEnv) run(args ...string) (int, string, string) {
	c := e.cmd(args...)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("lab %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func (e *labEnv) status() (int, map[string]any) {
	code, out, errOut := e.run("status", "-o", "json")
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("status -o json: %v\n%s\n%s", err, out, errOut)
	}
	return code, st
}

// up → status healthy → up again changes nothing → a changed worker count
// shows a diff and refuses without --force → --force applies it → down →
// down again succeeds.
func TestUpStatusDownLifecycle(t *testing.T) {
	e := newLabEnv(t, "cycle", 2)
	if code, _, errOut := e.run("up"); code != 0 {
		t.Fatalf("up: %d\n%s", code, errOut)
	}
	code, st := e.status()
	if code != 0 || st["healthy"] != true || st["nodesReady"] != float64(4) {
		t.Fatalf("status after up: %d %v", code, st)
	}
	if a, _ := st["agent"].(map[string]any); a["ready"] != true || !strings.Contains(a["detail"].(string), "FlowSchema lab-agent in effect") {
		t.Errorf("agent in status: %v", st["agent"])
	}
	if _, checked := st["model"]; checked {
		t.Errorf("a kwok lab's model was checked (its pods are simulated): %v", st["model"])
	}
	code, _, errOut := e.run("up")
	if code != 0 || !strings.Contains(errOut, "nothing changed") || strings.Count(errOut, "nothing to do") != 8 {
		t.Errorf("second up was not a no-op: %d\n%s", code, errOut)
	}
	e.writeConfig("cycle", 3)
	code, _, errOut = e.run("up")
	if code != 1 || !strings.Contains(errOut, "cluster.workers: 2 → 3") || !strings.Contains(errOut, "--force") {
		t.Errorf("changed workers without --force: %d\n%s", code, errOut)
	}
	if _, st := e.status(); st["nodesReady"] != float64(4) {
		t.Errorf("a refused change touched the nodes: %v", st["nodesReady"])
	}
	if code, _, errOut = e.run("up", "--force"); code != 0 {
		t.Fatalf("up --force: %d\n%s", code, errOut)
	}
	if code, st := e.status(); code != 0 || st["nodesReady"] != float64(5) {
		t.Errorf("after --force: %d %v", code, st)
	}
	for i := 0; i < 2; i++ {
		if code, _, errOut := e.run("down"); code != 0 {
			t.Fatalf("down #%d: %d\n%s", i+1, code, errOut)
		}
	}
	if code, st := e.status(); code == 0 || st["clusterUp"] != false {
		t.Errorf("status after down: %d %v", code, st)
	}
	if _, err := os.Stat(filepath.Join(e.home, "labs", "cycle")); !os.IsNotExist(err) {
		t.Errorf("lab state left on the host: %v", err)
	}
}

// An `up` killed (SIGKILL) right after each step boundary resumes and converges.
func TestUpKilledAtEveryStepResumes(t *testing.T) {
	for _, step := range []string{"preflight", "spec", "cluster", "nodes", "stacks", "gitops", "agent", "record"} {
		t.Run(step, func(t *testing.T) {
			e := newLabEnv(t, "kill-"+step, 1)
			c := e.cmd("up")
			stderr, err := c.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			killed := false
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "√ "+step+":") {
					c.Process.Kill()
					killed = true
					break
				}
			}
			go func() {
				for sc.Scan() {
				}
			}()
			c.Wait()
			if !killed {
				t.Fatalf("never saw step %s finish", step)
			}
			code, _, errOut := e.run("up")
			if code != 0 {
				t.Fatalf("resumed up: %d\n%s", code, errOut)
			}
			if step != "record" && !strings.Contains(errOut, "resuming: the last `lab up`") {
				t.Errorf("resume not reported:\n%s", errOut)
			}
			code, st := e.status()
			if code != 0 || st["nodesReady"] != float64(3) {
				t.Errorf("not converged: %d %v", code, st)
			}
			if code, _, errOut := e.run("up"); code != 0 || !strings.Contains(errOut, "nothing changed") {
				t.Errorf("third up not a no-op:\n%s", errOut)
			}
		})
	}
}

// An `up` killed while the control plane is coming up (etcd already
// running, the API server not yet ready) leaves no component behind that
// later runs do not know of: the next up converges, the one after changes
// nothing, and down leaves no process of the lab running.
func TestUpKilledMidClusterLeavesNoOrphans(t *testing.T) {
	e := newLabEnv(t, "kill-mid", 1)
	kwokDir := filepath.Join(e.home, "labs", "kill-mid", "kwok")
	c := e.cmd("up")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(labProcs(kwokDir, "etcd")) == 0 {
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatal("etcd never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Process.Kill()
	c.Wait()
	if code, _, errOut := e.run("up"); code != 0 {
		t.Fatalf("resumed up: %d\n%s", code, errOut)
	}
	if code, _, errOut := e.run("up"); code != 0 || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("up after the resume is not a no-op:\n%s", errOut)
	}
	if code, _, errOut := e.run("down"); code != 0 {
		t.Fatalf("down: %s", errOut)
	}
	time.Sleep(500 * time.Millisecond)
	if left := labProcs(kwokDir, ""); len(left) > 0 {
		t.Errorf("processes of the lab still running after down: %v", left)
	}
}

// labProcs lists running processes whose command line mentions dir (and name).
func labProcs(dir, name string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, dir) && strings.Contains(cmd, name) {
			if st, err := os.ReadFile(filepath.Join("/proc", en.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie is not running
			}
			out = append(out, en.Name()+": "+cmd)
		}
	}
	return out
}

// `lab up --dry-run` only reads: on a new lab it creates nothing, and on a
// running lab (with Linkerd's certificates wanted but not made yet) the lab's
// folder stays byte-identical — names, contents and modes.
func TestDryRunLeavesTheLabFolderByteIdentical(t *testing.T) {
	e := newLabEnv(t, "dry", 1)
	code, out, errOut := e.run("up", "--dry-run")
	if code != 0 || !strings.Contains(out, "plan for lab dry") || !strings.Contains(out, "cluster    would run") {
		t.Fatalf("dry run of a new lab: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.home, "labs")); !os.IsNotExist(err) {
		t.Fatalf("the dry run of a new lab wrote state: %v", treeListing(t, e.home))
	}
	if code, _, errOut := e.run("up"); code != 0 {
		t.Fatalf("up: %s", errOut)
	}
	// Turn Linkerd on: its certificates are not made yet, the dry run must
	// say so instead of making them.
	y, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, []byte(strings.Replace(string(y), "linkerd: {enabled: false}", "linkerd: {enabled: true}", 1)), 0o644)
	dir := filepath.Join(e.home, "labs", "dry")
	before := treeListing(t, dir)
	code, out, errOut = e.run("up", "--dry-run")
	if code != 0 || !strings.Contains(out, "stacks     would run (Linkerd's trust anchor and issuer are not made yet)") {
		t.Errorf("dry run after linkerd was enabled: %d\n%s\n%s", code, out, errOut)
	}
	if after := treeListing(t, dir); after != before {
		t.Errorf("the dry run changed the lab's folder:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// treeListing is every file under dir with its mode and SHA-256, but for
// what the lab's running components write themselves (etcd's data, logs).
func treeListing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "etcd" {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".log") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(data))
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %v %s\n", rel, fi.Mode(), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
