// Package manifests embeds lab's own YAML: pinned versions, and (as the other
// packages grow) the agent's RBAC, APF objects and Argo CD applications. It
// holds no logic; readers live beside the code that uses them.
package manifests

import "embed"

// VersionsYAML pins every component and chart version (see versions.yaml).
//
//go:embed versions.yaml
var VersionsYAML []byte

// KwokConfig is the kwok configuration and Stages of lab's simulated nodes.
//
//go:embed kwok/kwok.yaml
var KwokConfig []byte

// KwokLogsCRD defines kwok's Logs resource (pods/log content per pod).
//
//go:embed kwok/logs-crd.yaml
var KwokLogsCRD []byte

// KwokPortForwardCRD defines kwok's PortForward resource (pods/portforward
// of a simulated pod, forwarded to a real address).
//
//go:embed kwok/portforward-crd.yaml
var KwokPortForwardCRD []byte

// Agent holds the agent's manifests (text/template over lab.yaml's agent
// settings): rbac.yaml, remediation.yaml (opt-in), apf.yaml, serve.yaml.
//
//go:embed agent/*.yaml
var Agent embed.FS

// GitOps holds the lab's own GitOps content: root.yaml (the app-of-apps),
// apps/ (child Applications), demo/ (the demo workload), and a minimal
// Application CRD for labs without the argo-cd chart.
//
//go:embed gitops
var GitOps embed.FS

// Scenarios are failures as data (workload, kubelet-reported status, events,
// logs, ground truth): `lab break` applies them to a kwok lab, the tests and
// the benchmark diagnose them.
//
//go:embed scenarios/*.yaml scenarios/heldout/*.yaml
var Scenarios embed.FS

// SaturationRules are the PromQL saturation alerts (a Prometheus rule file)
// lab up adds to kube-prometheus-stack.
//
//go:embed prometheus/saturation-rules.yaml
var SaturationRules []byte

// VocabularyYAML maps every reason Kubernetes writes on a pod, its
// containers, its events and its owners to a category, the facts to quote
// and what to do (agent/analyze reads it; its test checks it against
// Kubernetes' own source).
//
//go:embed vocabulary/reasons.yaml
var VocabularyYAML []byte
