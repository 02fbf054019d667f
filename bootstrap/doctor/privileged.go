package doctor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"lab.dev/lab/core/engine"
)

// NodeHost reads what the kernel allows node containers.
func (SystemHost) NodeHost() engine.NodeHost { return engine.ReadNodeHost() }

// ErrImageAbsent means the probe's image is not in the engine (nothing is pulled).
var ErrImageAbsent = engine.ErrImageAbsent

// PrivilegedProbe starts a privileged container from image, as kind starts a
// node (entrypoint /bin/true, removed after), on the engine's socket.
// Nothing is pulled: an absent image is ErrImageAbsent.
func (SystemHost) PrivilegedProbe(ctx context.Context, socket, image string) error {
	c, err := engine.ConnectSocket(ctx, socket, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.RunPrivileged(ctx, image)
}

// dockerMajor is 20 for "20.10.24+dfsg1" (0 when unreadable).
func dockerMajor(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

// privilegedTimeout bounds the privileged probe: creating and starting a
// container from the 1.4 GB node image takes under a second on an idle
// host, and more than the preflight's 10 s per check on a two-core CI
// runner also building images and running another lab (seen in CI).
const privilegedTimeout = time.Minute

const wrapperHint = "upgrade Docker to 23 or later (it grants a privileged container only the capabilities the host's bounding set holds), or register a runc wrapper that deletes CAP_SYS_RESOURCE from the OCI spec: dockerd --add-runtime bounded=/path/to/wrapper --default-runtime bounded (lab's test harness does this: test/bin/kind/runc-bounded)"

// checkPrivileged: kind and k3s nodes are privileged containers. Where the
// host's capability bounding set lacks CAP_SYS_RESOURCE, Docker before 23
// cannot start one at all, and kubelets inside cannot lower oom_score_adj
// (lab up then sets containerd's restrict_oom_score_adj in kind nodes).
func checkPrivileged(ctx context.Context, e *Env) Result {
	if !e.Lab.Cluster.Capabilities().ContainerNodes {
		return skip("provider %s runs no node containers", e.Lab.Cluster.Provider)
	}
	nh := e.Host.NodeHost()
	info, eerr := e.Engine(ctx)
	img, perr := e.NodeImage, ErrImageAbsent
	if eerr == nil && img != "" {
		perr = e.Host.PrivilegedProbe(ctx, info.Socket, img)
	}
	tried := perr != ErrImageAbsent
	switch {
	case tried && perr != nil:
		r := fail("a privileged container from %s does not start: %v", img, perr)
		if !nh.CapSysResource {
			r.Message += " (the host's capability bounding set lacks CAP_SYS_RESOURCE)"
		}
		return r
	case !nh.CapSysResource:
		// Inferred only where the engine would run plain runc: a wrapper
		// registered as the default runtime (runc-bounded) is the fix itself.
		if eerr == nil && info.Name == "docker" && dockerMajor(info.Version) > 0 && dockerMajor(info.Version) < 23 &&
			(info.DefaultRuntime == "" || info.DefaultRuntime == "runc") && !tried {
			return fail("the host's capability bounding set lacks CAP_SYS_RESOURCE and Docker %s asks for every capability: `docker run --privileged` fails with \"unable to apply caps: operation not permitted\"", info.Version)
		}
		r := warn("the host's capability bounding set lacks CAP_SYS_RESOURCE: lab up sets containerd's restrict_oom_score_adj in kind nodes so kubelets can start pods")
		if !e.Lab.Cluster.Capabilities().RestrictedHostPatch {
			r = warn("the host's capability bounding set lacks CAP_SYS_RESOURCE: kubelets in %s nodes may fail to start pods (lab patches only kind nodes for it)", e.Lab.Cluster.Provider)
		}
		if tried {
			r.Message += fmt.Sprintf("; a privileged container from %s starts", img)
		}
		return r
	case tried:
		return ok("a privileged container from %s starts", img)
	}
	return ok("the capability bounding set holds every capability a privileged node asks for (node image not in the engine yet: not started)")
}

// checkCgroups: a cgroup v1 host needs failCgroupV1: false for kubelets from
// 1.35 (KEP-5573); lab up sets it in kind nodes.
func checkCgroups(_ context.Context, e *Env) Result {
	if !e.Lab.Cluster.Capabilities().ContainerNodes {
		return skip("provider %s runs no kubelets on this kernel", e.Lab.Cluster.Provider)
	}
	nh := e.Host.NodeHost()
	if !nh.CgroupV1 {
		return ok("cgroup v2")
	}
	driver := ""
	if e.Lab.Cluster.Capabilities().CgroupfsDriver {
		// See cluster.KindConfig: the systemd driver left FROZEN pods here.
		driver = "; kind's kubelets and containerd use the cgroupfs driver (with the systemd driver a container can stay frozen and unkillable)"
	}
	if !nh.KubeletNeedsCgroupV1Override(e.Lab.Cluster.KubernetesVersion) {
		return warn("cgroup v1 (deprecated; kubelets %s still accept it)%s", e.Lab.Cluster.KubernetesVersion, driver)
	}
	return warn("cgroup v1: kubelets %s refuse it by default (KEP-5573); lab up tells the %s nodes' kubelets not to (failCgroupV1: false)%s", e.Lab.Cluster.KubernetesVersion, e.Lab.Cluster.Provider, driver)
}
