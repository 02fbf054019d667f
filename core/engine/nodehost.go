package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// NodeHost is what the host's kernel allows the containers that kind and k3s
// run as nodes, as far as it changes how lab sets them up.
type NodeHost struct {
	// CapSysResource: the capability bounding set holds CAP_SYS_RESOURCE.
	// Without it (nested containers, hardened kernels, some CI runners) a
	// kubelet cannot lower a sandbox's oom_score_adj, and Docker before 23
	// cannot start a privileged container at all ("unable to apply caps").
	CapSysResource bool `json:"capSysResource"`
	// CgroupV1: the host mounts cgroup v1 (or hybrid), which kubelets from
	// Kubernetes 1.35 refuse unless failCgroupV1 is false (KEP-5573).
	CgroupV1 bool `json:"cgroupV1"`
}

const capSysResource = 24 // linux/capability.h

// ReadNodeHost reads this host's facts from /proc and /sys.
func ReadNodeHost() NodeHost {
	h := NodeHost{CapSysResource: true}
	if bnd, ok := capBnd("/proc/self/status"); ok {
		h.CapSysResource = bnd&(1<<capSysResource) != 0
	}
	// cgroup v2 (unified) has cgroup.controllers at the root of its mount.
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		h.CgroupV1 = true
	}
	return h
}

// capBnd reads the CapBnd line of a /proc/<pid>/status file.
func capBnd(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// KubeletNeedsCgroupV1Override says whether kubelets of version ("v1.37.0")
// refuse this host unless failCgroupV1 is false: a cgroup v1 host and
// Kubernetes 1.35 or later (KEP-5573). An unreadable version is false.
func (h NodeHost) KubeletNeedsCgroupV1Override(version string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(version, "v%d.%d", &major, &minor); err != nil || major != 1 {
		return false
	}
	return h.CgroupV1 && minor >= 35
}
