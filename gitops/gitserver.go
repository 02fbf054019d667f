package gitops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"time"
)

// GitServer serves git repositories under Root over git's smart HTTP
// protocol (git http-backend), read-only: offline labs point Argo CD at it.
type GitServer struct {
	Root string
	URL  string // http://addr
	srv  *http.Server
}

// ErrNoGit means the git binary (and its http-backend) is not installed.
var ErrNoGit = errors.New("git is not installed (needed to serve a local repository)")

// ServeGit serves every repository under root (a repo at root/<name> is
// http://addr/<name>); addr "127.0.0.1:0" picks a free port.
func ServeGit(root, addr string) (*GitServer, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, ErrNoGit
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	h := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && !(r.Method == http.MethodPost && filepath.Base(r.URL.Path) == "git-upload-pack") {
			http.Error(w, "read-only git server", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g := &GitServer{Root: root, URL: "http://" + l.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go g.srv.Serve(l)
	return g, nil
}

// RepoURL is the clone URL of the repository in root/name.
func (g *GitServer) RepoURL(name string) string { return fmt.Sprintf("%s/%s", g.URL, name) }

// Close stops the server.
func (g *GitServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.srv.Shutdown(ctx)
}
