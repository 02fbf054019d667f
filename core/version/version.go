// Package version holds lab's own version, set at build time:
// -ldflags "-X lab.dev/lab/core/version.Version=v0.1.0". The agent's image
// tag is derived from it, so the binary and its image always agree.
package version

// Version of this lab binary ("dev" when built without the Makefile).
var Version = "dev"

// AgentImage is the image the in-cluster agent runs: lab's own static binary
// (`make image` tags it with this build's version).
func AgentImage() string { return "lab.dev/lab:" + Version }
