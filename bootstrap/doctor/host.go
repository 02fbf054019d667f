package doctor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
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
type EngineInfo struct {
	Name     string   `json:"name"` // docker or podman
	Socket   string   `json:"socket"`
	Version  string   `json:"version"`
	Runtimes []string `json:"runtimes,omitempty"` // e.g. runc, nvidia
	// DefaultRuntime is the OCI runtime containers get unless they ask for
	// another (runc; nvidia, or a wrapper such as lab's runc-bounded).
	DefaultRuntime string `json:"defaultRuntime,omitempty"`
}

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

// Engine asks the first answering socket for /version and /info over the
// Docker Engine API (Podman serves the same API).
func (SystemHost) Engine(ctx context.Context) (EngineInfo, error) {
	var lastErr error = engine.ErrNoEngine
	for _, sock := range engine.Sockets() {
		if _, err := os.Stat(sock); err != nil {
			continue
		}
		c := socketClient(sock, 3*time.Second)
		var ver struct {
			Version    string
			Components []struct{ Name string }
		}
		if err := getJSON(ctx, c, "http://engine/version", &ver); err != nil {
			lastErr = fmt.Errorf("%s: %w", sock, err)
			continue
		}
		info := EngineInfo{Name: "docker", Socket: sock, Version: ver.Version}
		for _, comp := range ver.Components {
			if strings.Contains(strings.ToLower(comp.Name), "podman") {
				info.Name = "podman"
			}
		}
		var di struct {
			Runtimes       map[string]any
			DefaultRuntime string
		}
		if err := getJSON(ctx, c, "http://engine/info", &di); err == nil {
			info.DefaultRuntime = di.DefaultRuntime
			for r := range di.Runtimes {
				info.Runtimes = append(info.Runtimes, r)
			}
		}
		return info, nil
	}
	return EngineInfo{}, lastErr
}

// socketClient speaks HTTP to the engine's unix socket (any host name).
func socketClient(sock string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
