package doctor

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"lab.dev/lab/core/engine"
)

// Host is the part of the machine checks look at; SystemHost is the real one.
type Host interface {
	CPUs() int
	Memory() (total, available uint64, err error)
	DiskFree(path string) (uint64, error)
	Sysctl(name string) (int64, error) // e.g. fs.inotify.max_user_watches
	PortFree(addr string) error
	LookPath(name string) (string, error)
	Engine(ctx context.Context) (EngineInfo, error)
	NodeHost() engine.NodeHost                                       // what the kernel allows node containers
	PrivilegedProbe(ctx context.Context, socket, image string) error // start a privileged container from image
}

// EngineInfo describes the container engine kind nodes run in.
type EngineInfo = engine.Info

// SystemHost reads the real machine.
type SystemHost struct{}

// CPUs is the number of logical CPUs usable by this process.
func (SystemHost) CPUs() int { return runtime.NumCPU() }

// Memory reads MemTotal and MemAvailable from /proc/meminfo.
func (SystemHost) Memory() (uint64, uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseMeminfo(bufio.NewScanner(f))
}

func parseMeminfo(sc *bufio.Scanner) (total, avail uint64, err error) {
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, perr := strconv.ParseUint(f[1], 10, 64)
		if perr != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = v * 1024
		case "MemAvailable:":
			avail = v * 1024
		}
	}
	if total == 0 {
		return 0, 0, errors.New("MemTotal not found in /proc/meminfo")
	}
	return total, avail, sc.Err()
}

// DiskFree is the space available to unprivileged users on path's filesystem;
// a missing path is measured at its nearest existing parent.
func (SystemHost) DiskFree(path string) (uint64, error) {
	for p := path; ; p = filepath.Dir(p) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		} else if p == "/" || p == "." {
			return 0, err
		}
	}
}

// Sysctl reads /proc/sys/<name with dots as slashes>.
func (SystemHost) Sysctl(name string) (int64, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// PortFree tries to listen on addr.
func (SystemHost) PortFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// LookPath finds a program on PATH.
func (SystemHost) LookPath(name string) (string, error) { return exec.LookPath(name) }

// Engine asks the first answering socket what engine it is (core/engine,
// the Docker SDK; Podman serves the same API).
func (SystemHost) Engine(ctx context.Context) (EngineInfo, error) {
	return engine.Probe(ctx, 3*time.Second)
}
