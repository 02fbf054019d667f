//go:build tools

// Package tools pins the Kubernetes commands that build.sh
// builds; the go.mod beside it maps k8s.io/kubernetes' v0.0.0 staging
// requirements to the matching published v0.x modules.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"

	// The kind node image (test/bin/kind/node-image.sh).
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
