// Package kwok runs a lab whose control plane is real and whose nodes are
// simulated: etcd, kube-apiserver (RBAC, Node authorization, API Priority and
// Fairness), kube-controller-manager, kube-scheduler and kwok managing fake
// nodes with CPU, memory and nvidia.com/gpu capacity. Everything listens on
// loopback ports chosen at creation, keeps its state in one folder
// (state.json records ports and PIDs) and is stopped by PID. The kwok
// provider runs it detached so the lab outlives `lab up`; the integration
// harness (test/harness) runs it attached, one per test binary.
//
// Binaries come from the cache test/bin/build.sh fills (make testbin) or a
// folder given in lab.yaml (cluster.kwok.binDir).
package kwok

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultBinDir is where test/bin/build.sh puts the binaries: $LAB_TESTBIN,
// else $XDG_CACHE_HOME/lab/testbin (~/.cache/lab/testbin).
func DefaultBinDir() string {
	if d := os.Getenv("LAB_TESTBIN"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ".cache/lab/testbin"
	}
	return filepath.Join(cache, "lab", "testbin")
}

// Binaries are the programs a kwok lab runs.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// ErrMissingBinaries means the control-plane binaries are not built.
var ErrMissingBinaries = errors.New("control-plane binaries missing")

// Bin returns the path of binary name in dir (DefaultBinDir when empty) or an
// error saying how to build it.
func Bin(dir, name string) (string, error) {
	if dir == "" {
		dir = DefaultBinDir()
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: %s not found in %s; run `make testbin` (test/bin/build.sh) or set cluster.kwok.binDir", ErrMissingBinaries, name, dir)
	}
	return p, nil
}

// CheckBinaries reports every missing binary at once.
func CheckBinaries(dir string) error {
	var errs []error
	for _, b := range Binaries {
		if _, err := Bin(dir, b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FreePorts returns n distinct free loopback ports: all are held open
// until every one is chosen (closing each before taking the next can hand
// out the same port twice — seen: the API server and the controller-manager
// given one port, and the controller-manager dying on it).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proc is one started component.
type Proc struct {
	Name string
	Log  string // combined stdout/stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProc runs bin with args in its own process group, output to
// dir/name.log, killed with this process (harness use).
func StartProc(dir, name, bin string, args []string, env ...string) (*Proc, error) {
	return startProc(dir, name, bin, args, false, env...)
}

// startProc starts a component; detached ones get their own session and
// outlive lab.
func startProc(dir, name, bin string, args []string, detached bool, env ...string) (*Proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child records its own PID (<name>.pid) before it becomes the
	// component: a lab killed between starting a process and writing its
	// state cannot leave one that no later run finds (filePID, StopDir).
	cmd := exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, PIDFile(dir, name), bin}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// PIDFile is where the component name started in dir wrote its PID.
func PIDFile(dir, name string) string { return filepath.Join(dir, name+".pid") }

// filePID is the live process recorded in dir's pidfile for name, or 0.
func filePID(dir, name string) int {
	b, err := os.ReadFile(PIDFile(dir, name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !Owned(pid, dir) {
		return 0 // dead, or the PID was reused by an unrelated process
	}
	return pid
}

// Owned: pid is alive and is a component of the lab in dir — its command
// line names dir (every component's flags point into it). A PID recorded
// before a reboot and reused by another process is not owned.
func Owned(pid int, dir string) bool {
	if pid <= 0 || !Alive(pid) {
		return false
	}
	b, ok := cmdline(pid)
	return ok && dir != "" && strings.Contains(string(b), dir)
}

// cmdline is process pid's command line. A process caught in exec shows an
// empty one for a moment (its parent's Start has returned, its new
// arguments are not set yet): read again for up to a second.
func cmdline(pid int) ([]byte, bool) {
	var b []byte
	for try := 0; try < 20 && len(b) == 0; try++ {
		var err error
		if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil {
			return nil, false
		}
		if len(b) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return b, true
}

// runsWith reports whether process pid was started with every one of args.
func runsWith(pid int, args []string) bool {
	b, ok := cmdline(pid)
	if !ok {
		return false
	}
	have := map[string]bool{}
	for _, a := range strings.Split(string(b), "\x00") {
		have[a] = true
	}
	for _, a := range args {
		if !have[a] {
			return false
		}
	}
	return true
}

// StopDir stops every component whose pidfile in dir names a live process
// (also those a killed run started but never recorded in state.json).
func StopDir(dir string, grace time.Duration) {
	for i := len(Binaries) - 1; i >= 0; i-- {
		if pid := filePID(dir, Binaries[i]); pid > 0 {
			StopPID(pid, grace)
		}
	}
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	}
}

// Tail returns the last n lines of the process log, for error messages.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// WaitFor polls cond every interval until it returns true, the process dies,
// or ctx ends; the error carries the process log's tail.
func (p *Proc) WaitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	var last error
	for {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited (%v) before %s:\n%s", p.Name, p.err, what, p.Tail(30))
		}
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("timed out waiting for %s", what)
			if last != nil {
				msg += ": " + last.Error()
			}
			if p != nil {
				msg += "\n" + p.Name + " log:\n" + p.Tail(30)
			}
			return errors.New(msg)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func joinArgs(kv map[string]string) []string {
	out := make([]string, 0, len(kv))
	for k, v := range kv {
		out = append(out, "--"+k+"="+v)
	}
	return out
}

// Alive reports whether a process with pid exists (and is not a zombie).
func Alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// state is the field after "(comm)"
	if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// StopPID stops a process group we did not start in this process (a lab
// started by an earlier `lab up`): SIGTERM, then SIGKILL after grace.
func StopPID(pid int, grace time.Duration) {
	if !Alive(pid) {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if Alive(pid) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
