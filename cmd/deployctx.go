package cmd

import (
	"k8s.io/client-go/rest"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
)

type deployCtx struct {
	lab     *config.Lab
	cfg     *rest.Config
	applier *kube.Applier
}

func (g *globals) deployCtx(kubeconfig string, dryRun bool) (*deployCtx, error) {
	l, err := g.loadLab()
	if err != nil {
		return nil, err
	}
	cfg, err := diagnoseConfig(g, l, kubeconfig)
	if err != nil {
		return nil, err
	}
	a, err := kube.NewApplier(cfg, dryRun)
	if err != nil {
		return nil, err
	}
	return &deployCtx{lab: l, cfg: cfg, applier: a}, nil
}
