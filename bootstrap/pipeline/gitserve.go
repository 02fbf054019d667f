package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/core/state"
)

// A local gitops.repo on a lab whose nodes are containers: `lab up` serves
// it read-only (`lab gitops serve`, a process of its own that outlives the
// run) on the host's address on the nodes' network, where Argo CD's pods
// reach it, and keeps that one server across runs; `lab down` stops it.

// gitServer is what lab records of the server it started.
type gitServer struct {
	PID  int    `json:"pid"`
	URL  string `json:"url"`  // http://host:port
	Root string `json:"root"` // the repository served (that one only)
}

func gitServerFile(dir string) string { return filepath.Join(dir, "gitserver.json") }

// servedRepoURL returns the clone URL of the local repository when lab's
// server for it is running and answers; "" otherwise.
func (c *Context) servedRepoURL(ctx context.Context, repo string) string {
	var s gitServer
	b, err := os.ReadFile(gitServerFile(c.Dir))
	if err != nil || json.Unmarshal(b, &s) != nil || s.Root != repo || !kwok.Alive(s.PID) {
		return ""
	}
	url := s.URL + "/" + filepath.Base(repo)
	if answers(ctx, url) != nil {
		return ""
	}
	return url
}

// serveRepo starts lab's server for the local repository unless it runs.
func (c *Context) serveRepo(ctx context.Context, repo string) (string, error) {
	if url := c.servedRepoURL(ctx, repo); url != "" {
		return url, nil
	}
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		return "", fmt.Errorf("gitops.repo %s is not a git repository: `lab gitops init %s`, then git init, add and commit", repo, repo)
	}
	host := "127.0.0.1" // simulated nodes: the control plane runs on this host
	if ha, ok := c.Provider.(cluster.HostAddresser); ok {
		var err error
		if host, err = ha.HostAddress(ctx); err != nil {
			return "", err
		}
	} else if !c.Provider.Capabilities().ServesHostRepo {
		return "", fmt.Errorf("gitops.repo %s is a local folder, which the %s provider's cluster cannot reach: push it and set gitops.repo to its URL", repo, c.Provider.Name())
	}
	stopGitServer(c.Dir) // a dead or stale one
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	urlFile := filepath.Join(c.Dir, "gitserver.url")
	os.Remove(urlFile)
	logf, err := os.OpenFile(filepath.Join(c.Dir, "gitserver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(self, "gitops", "serve", repo, "--listen", host+":0", "--url-file", urlFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this run and its terminal
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting the git server: %w", err)
	}
	s := gitServer{PID: cmd.Process.Pid, Root: repo}
	go cmd.Wait() // reaps it should it exit while this run lasts
	// Recorded before it answers: a run killed now leaves a PID the next
	// run (or lab down) stops.
	if err := writeGitServer(c.Dir, s); err != nil {
		return "", err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, err := os.ReadFile(urlFile); err == nil {
			s.URL = strings.TrimSpace(string(b))
			url := s.URL + "/" + filepath.Base(repo)
			if err := answers(ctx, url); err == nil {
				return url, writeGitServer(c.Dir, s)
			}
		}
		if time.Now().After(deadline) {
			stopGitServer(c.Dir)
			return "", fmt.Errorf("the git server for %s did not answer within 15s (see %s)", repo, logf.Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func writeGitServer(dir string, s gitServer) error {
	b, _ := json.Marshal(s)
	return state.WriteFile(gitServerFile(dir), b, 0o600)
}

// stopGitServer stops the server lab started for the lab in dir, if any.
func stopGitServer(dir string) {
	var s gitServer
	b, err := os.ReadFile(gitServerFile(dir))
	if err != nil || json.Unmarshal(b, &s) != nil {
		return
	}
	if kwok.Alive(s.PID) && isGitServer(s.PID) {
		kwok.StopPID(s.PID, 5*time.Second) // its own session: TERM, then KILL
	}
	os.Remove(gitServerFile(dir))
}

// isGitServer: the PID is still lab's `gitops serve` (not a reused PID).
func isGitServer(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "gitops\x00serve")
}

// answers: git's smart HTTP endpoint of the repository responds.
func answers(ctx context.Context, repoURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, repoURL+"/info/refs?service=git-upload-pack", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
