package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Client is lab's one container-engine client: the Docker Engine API
// (Docker, or Podman's compatible socket) through the Docker SDK. The
// doctor probes with it, bundles pull and save with it, `lab sbom --image`
// saves with it.
type Client struct {
	cli    *client.Client
	Socket string // the unix socket it talks to ("" when from DOCKER_HOST)
}

// Info is what the engine says of itself.
type Info struct {
	Name     string   `json:"name"` // docker or podman
	Socket   string   `json:"socket"`
	Version  string   `json:"version"`
	Runtimes []string `json:"runtimes,omitempty"` // e.g. runc, nvidia
	// DefaultRuntime is the OCI runtime containers get unless they ask for
	// another (runc; nvidia, or a wrapper such as lab's runc-bounded).
	DefaultRuntime string `json:"defaultRuntime,omitempty"`
}

// Connect reaches the engine the environment names (DOCKER_HOST, else
// Docker's default socket) and pings it; ErrNoEngine when none answers.
func Connect(ctx context.Context) (*Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: %v", ErrNoEngine, err)
	}
	return &Client{cli: cli}, nil
}

// ConnectSocket reaches the engine on one unix socket, each call bounded by
// timeout.
func ConnectSocket(ctx context.Context, sock string, timeout time.Duration) (*Client, error) {
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation(), client.WithTimeout(timeout))
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%s: %w", sock, err)
	}
	return &Client{cli: cli, Socket: sock}, nil
}

// Probe asks the first answering socket of Sockets() what engine it is.
func Probe(ctx context.Context, timeout time.Duration) (Info, error) {
	var lastErr error = ErrNoEngine
	for _, sock := range Sockets() {
		if _, err := os.Stat(sock); err != nil {
			continue
		}
		c, err := ConnectSocket(ctx, sock, timeout)
		if err != nil {
			lastErr = err
			continue
		}
		info, err := c.Info(ctx)
		c.Close()
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", sock, err)
			continue
		}
		return info, nil
	}
	return Info{}, lastErr
}

// Info asks the engine its name, version and runtimes.
func (c *Client) Info(ctx context.Context) (Info, error) {
	v, err := c.cli.ServerVersion(ctx)
	if err != nil {
		return Info{}, err
	}
	info := Info{Name: "docker", Socket: c.Socket, Version: v.Version}
	for _, comp := range v.Components {
		if strings.Contains(strings.ToLower(comp.Name), "podman") {
			info.Name = "podman"
		}
	}
	if di, err := c.cli.Info(ctx); err == nil {
		info.DefaultRuntime = di.DefaultRuntime
		for r := range di.Runtimes {
			info.Runtimes = append(info.Runtimes, r)
		}
	}
	return info, nil
}

// Close releases the client.
func (c *Client) Close() error { return c.cli.Close() }

// Has reports whether the engine holds the image ref.
func (c *Client) Has(ctx context.Context, ref string) (bool, error) {
	_, _, err := c.cli.ImageInspectWithRaw(ctx, ref)
	if client.IsErrNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// ImageID is the engine's id of image ref, "" when it does not hold it.
func (c *Client) ImageID(ctx context.Context, ref string) (string, error) {
	img, _, err := c.cli.ImageInspectWithRaw(ctx, ref)
	if client.IsErrNotFound(err) {
		return "", nil
	}
	return img.ID, err
}

// Pull pulls ref; the engine reports a failed pull in its stream, not in
// the status code, so the stream is read to its end.
func (c *Client) Pull(ctx context.Context, ref string) error {
	rc, err := c.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("pulling %s: %s", ref, msg.Error)
		}
	}
}

// Save writes ref in docker-save format to path and returns its SHA-256.
func (c *Client) Save(ctx context.Context, ref, path string) (string, error) {
	return c.SaveAll(ctx, []string{ref}, path)
}

// SaveAll writes refs into one docker-save archive at path (a layer they
// share is in it once, as `docker save a b` writes it) and returns its
// SHA-256.
func (c *Client) SaveAll(ctx context.Context, refs []string, path string) (string, error) {
	ref := strings.Join(refs, ", ")
	rc, err := c.cli.ImageSave(ctx, refs)
	if err != nil {
		return "", fmt.Errorf("saving %s: %w", ref, err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("saving %s: %w", ref, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrImageAbsent means an image is not in the engine (nothing is pulled).
var ErrImageAbsent = errors.New("image not in the engine")

// RunPrivileged starts a privileged container from image as kind starts a
// node (its own cgroup namespace; entrypoint /bin/true; removed after) and
// waits for it. Nothing is pulled: an absent image is ErrImageAbsent.
func (c *Client) RunPrivileged(ctx context.Context, img string) error {
	if ok, _ := c.Has(ctx, img); !ok {
		return ErrImageAbsent
	}
	c.removeStaleProbes(ctx)
	created, err := c.cli.ContainerCreate(ctx, &container.Config{Image: img, Entrypoint: []string{"/bin/true"}, Cmd: []string{},
		Labels: map[string]string{managedByLabel: "lab", probeLabel: "privileged"}},
		&container.HostConfig{Privileged: true, CgroupnsMode: container.CgroupnsModePrivate}, nil, nil, "")
	if err != nil {
		return fmt.Errorf("creating a privileged container: %w", err)
	}
	defer c.cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true}) //nolint:errcheck // best effort
	if err := c.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("starting a privileged container: %w", err)
	}
	waitC, errC := c.cli.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			return fmt.Errorf("the privileged container exited %d", w.StatusCode)
		}
		return nil
	case err := <-errC:
		return fmt.Errorf("waiting for the privileged container to exit: %w", err)
	}
}

// managedByLabel is core/kube.ManagedByLabel (core/engine sits beside
// core/kube in core's order and does not import it).
const managedByLabel = "app.kubernetes.io/managed-by"

// probeLabel marks the doctor's probe containers.
const probeLabel = "lab.dev/probe"

// staleProbe is the age past which a probe container is a leftover: a probe
// lives for less than a second unless its lab was killed (or its check's
// time ran out and lab exited) before removing it.
const staleProbe = 2 * time.Minute

// removeStaleProbes removes the probe containers older than staleProbe that
// a killed lab left (created, or exited), so none piles up; a younger one
// may be another lab's probe in progress and is left alone. Best effort.
func (c *Client) removeStaleProbes(ctx context.Context) {
	list, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", probeLabel))})
	if err != nil {
		return
	}
	for _, p := range list {
		if time.Since(time.Unix(p.Created, 0)) > staleProbe {
			c.cli.ContainerRemove(ctx, p.ID, container.RemoveOptions{Force: true}) //nolint:errcheck // best effort
		}
	}
}
