// Package manifests embeds lab's own YAML: pinned versions, and (as the other
// packages grow) the agent's RBAC, APF objects and Argo CD applications. It
// holds no logic; readers live beside the code that uses them.
package manifests

import _ "embed"

// VersionsYAML pins every component and chart version (see versions.yaml).
//
//go:embed versions.yaml
var VersionsYAML []byte
