package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
)

// With gitops on and gitops.repo empty, lab keeps the lab's own GitOps
// repository in its state folder — alone under gitops/, so the git server
// serves nothing else — writes it with `lab gitops init`'s content, commits
// it and serves it. GitOps works out of the box; a team that wants its own
// remote sets gitops.repo.

// ownRepo is the lab's own repository's folder.
func (c *Context) ownRepo() string { return config.OwnGitOpsRepo(c.Lab.Metadata.Name) }

// clusterRepo is the local repository served to the cluster: gitops.repo
// when it is a folder here, the lab's own when gitops.repo is empty; "" for
// a URL.
func (c *Context) clusterRepo() (repo string, own bool) {
	if r, local := c.Lab.GitOps.LocalRepo(); local {
		return r, false
	}
	if c.Lab.GitOps.Repo == "" {
		return c.ownRepo(), true
	}
	return "", false
}

// ensureOwnRepo makes the lab's own repository a git repository (so the
// server can serve it) before its URL is known.
func ensureOwnRepo(repo string) error {
	if _, err := os.Stat(filepath.Join(repo, ".git")); err == nil {
		return nil
	}
	if err := os.MkdirAll(repo, 0o700); err != nil {
		return err
	}
	_, err := git(repo, "init", "-q", "-b", "main")
	return err
}

// writeOwnRepo writes the lab's content for url into the lab's own
// repository and commits what changed. The child Applications name the
// repository's URL: when the server's URL changed since the last run they
// are rewritten; every other file a person may have edited (the agent
// commits fixes here) is written only when absent.
func (c *Context) writeOwnRepo(repo, url string) (string, error) {
	urlFile := filepath.Join(c.Dir, "gitops", "served-url")
	old, _ := os.ReadFile(urlFile)
	if strings.TrimSpace(string(old)) != url {
		tmp, err := os.MkdirTemp(c.Dir, "gitops-render-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		if _, err := InitGitOpsRepo(tmp, c.Lab, url); err != nil {
			return "", err
		}
		for _, rel := range []string{c.Lab.GitOps.Path, "README.md"} {
			if err := replace(filepath.Join(tmp, rel), filepath.Join(repo, rel)); err != nil {
				return "", err
			}
		}
	}
	if _, err := InitGitOpsRepo(repo, c.Lab, url); err != nil {
		return "", err
	}
	if err := state.WriteFile(urlFile, []byte(url+"\n"), 0o600); err != nil {
		return "", err
	}
	status, err := git(repo, "status", "--porcelain")
	if err != nil || strings.TrimSpace(status) == "" {
		return "", err
	}
	if _, err := git(repo, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := git(repo, "-c", "user.name=lab", "-c", "user.email=lab@localhost", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "lab up: the lab's GitOps content, served at "+url); err != nil {
		return "", err
	}
	return "committed the lab's own GitOps repository", nil
}

// replace makes dst a copy of src (a file or a folder), removing what dst
// had that src has not.
func replace(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// git runs git in dir and returns its output; an error carries its stderr.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
