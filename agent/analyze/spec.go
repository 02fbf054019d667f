package analyze

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"lab.dev/lab/agent/collect"
)

// Causes tied to the spec: the field that explains what a log line says.

var deniedPath = regexp.MustCompile(`(/[\w.@+-]+(?:/[\w.@+-]*)*)\S*?:? (?:permission denied|Permission denied|operation not permitted|read-only file system)`)

// specTie names the spec field behind a decisive line: for a permission
// error on a path, the volume mounted there and the user the container runs
// as (runAsUser, fsGroup); "" when the spec explains nothing.
func specTie(b *collect.Bundle, name, line string) string {
	m := deniedPath.FindStringSubmatch(line)
	c := container(b, name)
	if m == nil || c == nil {
		return ""
	}
	p := m[1]
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if p == vm.MountPath || strings.HasPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			if mount == nil || len(vm.MountPath) > len(mount.MountPath) {
				mount = &c.VolumeMounts[i]
			}
		}
	}
	if mount == nil {
		return ""
	}
	src := "volume " + mount.Name
	for _, v := range b.Pod.Spec.Volumes {
		if v.Name == mount.Name && v.PersistentVolumeClaim != nil {
			src = fmt.Sprintf("volume %s (PVC %s)", mount.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	if mount.ReadOnly {
		return fmt.Sprintf("%s is %s, mounted readOnly at %s", p, src, mount.MountPath)
	}
	user, fsGroup := "the image's user", "no fsGroup"
	if sc := b.Pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			user = fmt.Sprintf("runAsUser %d", *sc.RunAsUser)
		}
		if sc.FSGroup != nil {
			fsGroup = fmt.Sprintf("fsGroup %d", *sc.FSGroup)
		}
	}
	if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
		user = fmt.Sprintf("runAsUser %d", *sc.RunAsUser)
	}
	tie := fmt.Sprintf("%s is on %s mounted at %s; the container runs as %s with %s", p, src, mount.MountPath, user, fsGroup)
	if fsGroup == "no fsGroup" {
		tie += ": the volume's files are not writable by that user — set the pod's securityContext.fsGroup (or fix the volume's ownership)"
	}
	return tie
}
