// Package harness starts the real components lab's integration tests and the
// kwok provider run against: etcd, kube-apiserver (RBAC and API Priority and
// Fairness on), kube-controller-manager, kube-scheduler and kwok with fake
// nodes, plus a real `ollama serve` with a tiny generated model. Everything
// listens on free loopback ports, lives in one temp dir and is stopped by PID.
//
// Binaries come from the cache test/bin/build.sh fills (make testbin).
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// BinDir is where test/bin/build.sh put the binaries: $LAB_TESTBIN, else
// $XDG_CACHE_HOME/lab/testbin (~/.cache/lab/testbin).
func BinDir() string {
	if d := os.Getenv("LAB_TESTBIN"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ".cache/lab/testbin"
	}
	return filepath.Join(cache, "lab", "testbin")
}

// Bin returns the path of a cached binary or an error saying how to build it.
func Bin(name string) (string, error) {
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found in %s: run `make testbin` (test/bin/build.sh)", name, BinDir())
	}
	return p, nil
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

// StartProc runs bin with args in its own process group, output to dir/name.log.
func StartProc(dir, name, bin string, args []string, env ...string) (*Proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
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

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
