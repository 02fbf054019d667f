package cluster

import (
	"context"
	"fmt"
	"os"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	k3d "github.com/k3d-io/k3d/v5/pkg/types"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kinderrors "sigs.k8s.io/kind/pkg/errors"
)

// ImageLoader is a provider that can put saved image archives (docker save
// format) into its nodes' container runtime, for air-gapped installs.
type ImageLoader interface {
	LoadImages(ctx context.Context, archives []string) error
}

// LoadImages imports each archive into every node's containerd, the nodes
// side by side, as `kind load image-archive` does.
func (p *kindProvider) LoadImages(_ context.Context, archives []string) error {
	nodes, err := p.kind.ListInternalNodes(p.lab.Metadata.Name)
	if err != nil {
		return err
	}
	load := make([]func() error, len(nodes))
	for i, n := range nodes {
		load[i] = func() error {
			for _, a := range archives {
				f, err := os.Open(a)
				if err != nil {
					return err
				}
				err = nodeutils.LoadImageArchive(n, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("loading %s into %s: %w", a, n.String(), err)
				}
			}
			return nil
		}
	}
	return kinderrors.UntilErrorConcurrent(load)
}

// LoadImages imports the archives into every node, as `k3d image import` does.
func (p *k3sProvider) LoadImages(ctx context.Context, archives []string) error {
	cl, err := k3dclient.ClusterGet(ctx, p.rt, &k3d.Cluster{Name: p.lab.Metadata.Name})
	if err != nil {
		return err
	}
	return k3dclient.ImageImportIntoClusterMulti(ctx, p.rt, archives, cl, k3d.ImageImportOpts{KeepTar: true, Mode: k3d.ImportModeAutoDetect})
}

// terraformProvider loads images through the provider it wraps.
func (p *terraformProvider) LoadImages(ctx context.Context, archives []string) error {
	if l, ok := p.Provider.(ImageLoader); ok {
		return l.LoadImages(ctx, archives)
	}
	return fmt.Errorf("the %s provider cannot load images", p.Provider.Name())
}
