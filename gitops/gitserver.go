package gitops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// GitServer serves exactly one git repository over git's smart HTTP
// protocol (git http-backend), read-only: offline labs point Argo CD at it.
// Nothing beside the repository is reachable (before, its parent folder was
// exported, so a pod could clone every repository next to it).
type GitServer struct {
	Repo string // the repository's folder
	URL  string // http://addr
	srv  *http.Server
}

// ErrNoGit means the git binary (and its http-backend) is not installed.
var ErrNoGit = errors.New("git is not installed (needed to serve a local repository)")

// ServeGit serves the repository in folder repo at http://addr/<base of
// repo>; addr "127.0.0.1:0" picks a free port. The repository itself and
// its .git must be real folders, not symbolic links to somewhere else.
func ServeGit(repo, addr string) (*GitServer, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, ErrNoGit
	}
	if repo, err = filepath.Abs(repo); err != nil {
		return nil, err
	}
	for _, p := range []string{repo, filepath.Join(repo, ".git")} {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("serving %s: %w", repo, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() {
			return nil, fmt.Errorf("serving %s: %s is a symbolic link or not a folder: only a real repository folder is served", repo, p)
		}
	}
	name := filepath.Base(repo)
	h := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		// GIT_HTTP_EXPORT_ALL exports what the handler lets through: only
		// paths below /<name>/, checked before the CGI runs.
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		clean := path.Clean("/" + r.URL.Path)
		if !strings.HasPrefix(clean, "/"+name+"/") || strings.Contains(r.URL.Path, "..") {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && !(r.Method == http.MethodPost && path.Base(clean) == "git-upload-pack") {
			http.Error(w, "read-only git server", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g := &GitServer{Repo: repo, URL: "http://" + l.Addr().String(),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}}
	go g.srv.Serve(l)
	return g, nil
}

// RepoURL is the clone URL of the repository.
func (g *GitServer) RepoURL() string { return g.URL + "/" + filepath.Base(g.Repo) }

// Close stops the server.
func (g *GitServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.srv.Shutdown(ctx)
}
