package analyze

import (
	"fmt"
	"regexp"
	"strings"

	"lab.dev/lab/agent/collect"
)

// Images that cannot be pulled and containers the kubelet cannot create.

var (
	pullNotFound    = regexp.MustCompile(`(?i)manifest unknown|not found|no such manifest|manifest for .* not found`)
	pullAuth        = regexp.MustCompile(`(?i)unauthorized|authentication required|pull access denied|denied: |forbidden|401|403`)
	pullRateLimited = regexp.MustCompile(`(?i)toomanyrequests|429 Too Many Requests|pull rate limit`)
	pullPlatform    = regexp.MustCompile(`(?i)no match for platform in manifest|no matching manifest for`)
	pullTLS         = regexp.MustCompile(`x509: |tls: failed to verify certificate|certificate signed by unknown authority|certificate has expired`)
	pullUnreachable = regexp.MustCompile(`(?i)dial tcp|i/o timeout|no such host|connection refused|TLS handshake timeout|network is unreachable|context deadline exceeded`)
)

func detectImagePull(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range append(statuses(b, true), statuses(b, false)...) {
		w := s.State.Waiting
		if w == nil || (w.Reason != "ImagePullBackOff" && w.Reason != "ErrImagePull" && w.Reason != "InvalidImageName" && w.Reason != "ErrImageNeverPull") {
			continue
		}
		image := s.Image
		if c := container(b, s.Name); c != nil {
			image = c.Image
		}
		evIDs, evs := events(b, nil, "Failed")
		text := w.Message
		for _, e := range evs {
			text += "\n" + e.Message
		}
		f := Finding{Severity: Critical, Container: s.Name, Evidence: append([]string{"container:" + s.Name + ":state", "container:" + s.Name + ":spec"}, evIDs...)}
		switch {
		case w.Reason == "ErrImageNeverPull":
			f.Category, f.Cause = "ImageNeverPull", fmt.Sprintf("image %q is not on node %s, and container %s's imagePullPolicy Never forbids pulling it", image, b.Pod.Spec.NodeName, s.Name)
			f.Runbook = []string{"Load the image into the node (kind load docker-image, lab agent image, a bundle), or set imagePullPolicy IfNotPresent in git."}
		case pullRateLimited.MatchString(text):
			f.Category, f.Cause = "RegistryRateLimited", fmt.Sprintf("the registry refused to serve %q: pull rate limit reached (429 Too Many Requests)", image)
			f.Runbook = []string{"Pull through an authenticated account or a registry mirror (lab.yaml cluster.registryMirrors); the kubelet retries with back-off.", "For labs: bundle the images (lab bundle) so nodes never pull from the internet."}
		case pullPlatform.MatchString(text):
			f.Category, f.Cause = "ImagePlatformMismatch", fmt.Sprintf("image %q has no variant for node %s's platform (%s): it was built for another OS/architecture", image, b.Pod.Spec.NodeName, nodePlatform(b))
			f.Runbook = []string{"Build and push a multi-arch image (docker buildx --platform linux/amd64,linux/arm64), or schedule onto nodes of the image's architecture (nodeSelector kubernetes.io/arch)."}
		case pullTLS.MatchString(text):
			f.Category, f.Cause = "RegistryUnreachable", fmt.Sprintf("the node does not trust the TLS certificate of the registry of %q: %s", image, clip(restOfLine(text, pullTLS.FindStringIndex(text)[0]), 160))
			f.Runbook = []string{"Give the nodes the registry's CA (containerd's hosts.toml ca, or the node's trust store), or use a certificate from a trusted CA.", "Never turn verification off outside a throwaway lab."}
		case w.Reason == "InvalidImageName":
			f.Category, f.Cause = "InvalidImageName", fmt.Sprintf("image reference %q of container %s is not a valid image name: %s", image, s.Name, clip(invalidDetail(w.Message), 200))
			f.Runbook = []string{"Fix the image reference in git: lowercase repository names, one tag after ':', a digest after '@'."}
		case pullAuth.MatchString(text):
			f.Category, f.Cause = "ImagePullAuth", fmt.Sprintf("the registry refused to serve %q to this node (authorization failed): the pod needs an image pull secret (spec.imagePullSecrets) for this private registry, or has a wrong one", image)
			f.Runbook = []string{"Create a docker-registry Secret with credentials for the registry and list it in spec.imagePullSecrets (or on the ServiceAccount).", "Check the image's repository name: registries also answer 'denied' for repositories that do not exist."}
		case pullNotFound.MatchString(text):
			f.Category, f.Cause = "ImageNotFound", fmt.Sprintf("image %q is not found in its registry: the tag or repository name is wrong (typo or an unpublished tag)", image)
			f.Runbook = []string{"List the repository's tags and correct the tag in the manifest in git.", "Prefer immutable tags or digests for deployments."}
		case pullUnreachable.MatchString(text):
			f.Category, f.Cause = "RegistryUnreachable", fmt.Sprintf("the node cannot reach the registry of %q (network, DNS or proxy)", image)
			f.Runbook = []string{"From the node, resolve and reach the registry host; check proxies and mirrors (lab.yaml cluster.registryMirrors).", "For air-gapped labs, load the image from the bundle (lab up --offline)."}
		default:
			f.Category, f.Cause = "ImagePullBackOff", fmt.Sprintf("image %q cannot be pulled: %s", image, clip(strings.TrimSpace(text), 200))
		}
		out = append(out, f)
	}
	return out
}

// restOfLine is text from i to the end of its line.
func restOfLine(text string, i int) string {
	line, _, _ := strings.Cut(text[i:], "\n")
	return line
}

// nodePlatform is the pod's node's os/arch, when the node was read.
func nodePlatform(b *collect.Bundle) string {
	if b.Node == nil {
		return "unknown"
	}
	return b.Node.Status.NodeInfo.OperatingSystem + "/" + b.Node.Status.NodeInfo.Architecture
}

// invalidDetail is the reason part of an InvalidImageName message.
func invalidDetail(msg string) string {
	if i := strings.LastIndex(msg, "invalid reference format"); i >= 0 {
		return msg[i:]
	}
	return msg
}

var (
	missingRef = regexp.MustCompile(`(configmap|secret) "([^"]+)" not found`)
	missingKey = regexp.MustCompile(`couldn't find key (\S+) in (ConfigMap|Secret) ([^ ]+)`)
)

func detectConfigError(b *collect.Bundle) []Finding {
	var out []Finding
	for _, s := range append(statuses(b, true), statuses(b, false)...) {
		w := s.State.Waiting
		if w == nil || (w.Reason != "CreateContainerConfigError" && w.Reason != "CreateContainerError") {
			continue
		}
		f := Finding{Category: w.Reason, Severity: Critical, Container: s.Name, Evidence: []string{"container:" + s.Name + ":state", "container:" + s.Name + ":spec"}}
		evIDs, _ := events(b, regexp.MustCompile(`not found|couldn't find key|runAsNonRoot|no space left`), "Failed")
		f.Evidence = append(f.Evidence, evIDs...)
		switch {
		case missingKey.MatchString(w.Message):
			m := missingKey.FindStringSubmatch(w.Message)
			f.Cause = fmt.Sprintf("container %s reads key %s from %s %s, which does not have that key", s.Name, m[1], m[2], m[3])
		case missingRef.MatchString(w.Message):
			m := missingRef.FindStringSubmatch(w.Message)
			f.Cause = fmt.Sprintf("container %s needs %s %q, which does not exist in namespace %s", s.Name, m[1], m[2], b.Pod.Namespace)
		case strings.Contains(w.Message, "runAsNonRoot"):
			f.Cause = fmt.Sprintf("container %s must run as non-root (runAsNonRoot) but its image runs as root: set securityContext.runAsUser to a non-zero UID, or use an image with a non-root USER (%s)", s.Name, clip(w.Message, 160))
		case w.Reason == "CreateContainerError":
			f.Cause = fmt.Sprintf("the container runtime cannot create container %s: %s", s.Name, clip(w.Message, 240))
		default:
			f.Cause = fmt.Sprintf("container %s cannot be created: %s", s.Name, w.Message)
		}
		f.Runbook = []string{"Create the missing ConfigMap/Secret (or key) through git, or fix the reference in the pod spec.", "The pod starts by itself once it exists: no restart needed."}
		if w.Reason == "CreateContainerError" {
			f.Runbook = []string{"Read the runtime's message: a full disk (no space left on device), a name conflict or a mount the runtime refuses.", "On the node: df -h /var/lib/containerd, crictl ps -a; free space or move the pod."}
		}
		out = append(out, f)
	}
	return out
}
