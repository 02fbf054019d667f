package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"

	"lab.dev/lab/agent/serve"
)

// AlertBody is one Alertmanager webhook notification (version 4) carrying
// one firing alert on ns/pod; id makes its fingerprint, so each id is one
// alert and the same id delivered again is the same alert.
func AlertBody(ns, pod string, id int, startsAt time.Time) []byte {
	m := serve.Message{Version: "4", Data: &template.Data{Status: "firing", Alerts: template.Alerts{{
		Status: "firing", StartsAt: startsAt, Fingerprint: fmt.Sprintf("%016x", id),
		Labels: template.KV{"alertname": "KubePodNotReady", "namespace": ns, "pod": pod}}}}}
	b, _ := json.Marshal(m)
	return b
}

// Sender posts notifications the way Alertmanager's webhook notifier does:
// a 2xx is final, a 5xx or no answer is retried with backoff (100 ms
// doubling to 1 s here) until ctx ends, any other status is an error.
type Sender struct {
	URL     string // the server's base URL
	Got503  atomic.Int64
	Refused atomic.Int64 // no answer: the server was down
}

// Send delivers body and returns how long the first attempt took to be
// answered (the intake latency when it was a 2xx at once).
func (s *Sender) Send(ctx context.Context, body []byte) (time.Duration, error) {
	back := 100 * time.Millisecond
	first := time.Duration(0)
	for {
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/alerts", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if first == 0 {
			first = time.Since(t0)
		}
		if err == nil {
			resp.Body.Close()
			switch {
			case resp.StatusCode/100 == 2:
				return first, nil
			case resp.StatusCode/100 != 5:
				return first, fmt.Errorf("HTTP %d (Alertmanager would not retry it)", resp.StatusCode)
			}
			s.Got503.Add(1)
		} else {
			s.Refused.Add(1)
		}
		select {
		case <-ctx.Done():
			return first, ctx.Err()
		case <-time.After(back):
		}
		back = min(2*back, time.Second)
	}
}

// ReportsPerPod counts the alert reports `lab agent serve --reports dir`
// wrote for each pod of ns (the file sink names one by its alert).
func ReportsPerPod(dir, ns string) map[string]int {
	per := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "*-alert-*.json"))
	for _, f := range files {
		base := filepath.Base(f)
		i, j := strings.Index(base, "-"+ns+"-"), strings.Index(base, "-alert-")
		if i >= 0 && j > i+len(ns)+2 {
			per[base[i+len(ns)+2:j]]++
		}
	}
	return per
}

// AgentServer is a `lab agent serve` process (the real binary), restartable
// on the same journal.
type AgentServer struct {
	Bin  string   // the lab binary
	Args []string // after `agent serve --listen ADDR`
	Env  []string
	Addr string // 127.0.0.1:port, chosen by Start the first time

	mu   sync.Mutex
	cmd  *exec.Cmd
	Logs bytes.Buffer
}

// URL is the server's base URL.
func (a *AgentServer) URL() string { return "http://" + a.Addr }

// Start starts the server and waits until it answers /healthz.
func (a *AgentServer) Start() error {
	if a.Addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		a.Addr = l.Addr().String()
		l.Close()
	}
	cmd := exec.Command(a.Bin, append([]string{"agent", "serve", "--listen", a.Addr}, a.Args...)...)
	cmd.Env = append(os.Environ(), a.Env...)
	w := &syncWriter{mu: &a.mu, b: &a.Logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return err
	}
	a.cmd = cmd
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r, err := http.Get(a.URL() + "/healthz"); err == nil {
			r.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab agent serve did not start:\n%s", a.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL (no drain, no cleanup).
func (a *AgentServer) Kill() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

// Process is the running server's process.
func (a *AgentServer) Process() *exec.Cmd { return a.cmd }

// Log is what the server wrote so far.
func (a *AgentServer) Log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Logs.String()
}

// Status is the server's GET /status.
func (a *AgentServer) Status() (serve.Status, error) {
	var st serve.Status
	resp, err := http.Get(a.URL() + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// RSS is the server process' resident set size in bytes (0: unknown).
func (a *AgentServer) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
