// Package engine owns what every part of lab agrees on about the host's
// container engine (Docker, or Podman's Docker-compatible API): where its
// socket is looked for, and the one error that says none answers.
package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoEngine means no Docker-API engine answered: kind and k3s nodes cannot
// run, images cannot be saved or loaded.
var ErrNoEngine = errors.New("no container engine reachable")

// Sockets lists where lab looks for a Docker-API socket, in order:
// DOCKER_HOST (unix only), Docker's default, rootless Docker, Podman.
func Sockets() []string {
	var s []string
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		s = append(s, strings.TrimPrefix(h, "unix://"))
	}
	s = append(s, "/var/run/docker.sock")
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" {
		s = append(s, filepath.Join(xdg, "docker.sock"), filepath.Join(xdg, "podman", "podman.sock"))
	}
	return append(s, "/run/podman/podman.sock")
}
