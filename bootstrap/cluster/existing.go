package cluster

import (
	"context"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"lab.dev/lab/core/config"
)

// existingProvider adopts a cluster lab did not create. It never deletes it:
// `lab down` only removes what lab put on the host.
type existingProvider struct{ lab *config.Lab }

func (p *existingProvider) Name() string { return "existing" }

func (p *existingProvider) Kubeconfig() string {
	if k := p.lab.Cluster.Kubeconfig; k != "" {
		return k
	}
	if k := os.Getenv("KUBECONFIG"); k != "" {
		return k
	}
	return clientcmd.RecommendedHomeFile
}

func (p *existingProvider) RESTConfig() (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: p.lab.Cluster.Kubeconfig}
	if p.lab.Cluster.Kubeconfig == "" {
		rules = clientcmd.NewDefaultClientConfigLoadingRules()
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: p.lab.Cluster.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s (context %q): %w", p.Kubeconfig(), p.lab.Cluster.Context, err)
	}
	return withRate(cfg, nil)
}

func (p *existingProvider) Exists(ctx context.Context) (bool, error) {
	_, err := p.RESTConfig()
	return err == nil, nil
}

func (p *existingProvider) Healthy(ctx context.Context) (bool, string) {
	cfg, err := p.RESTConfig()
	if err != nil {
		return false, err.Error()
	}
	if err := APIReady(ctx, cfg); err != nil {
		return false, err.Error()
	}
	return true, "reachable, /readyz ok"
}

func (p *existingProvider) Create(ctx context.Context) error {
	if ok, why := p.Healthy(ctx); !ok {
		return fmt.Errorf("existing cluster: %s", why)
	}
	return nil
}

func (p *existingProvider) Delete(context.Context) error          { return nil }
func (p *existingProvider) EnsureNodes(ctx context.Context) error { return nil }

// Capabilities of the existing provider (see config.Capabilities).
func (p *existingProvider) Capabilities() config.Capabilities { return p.lab.Cluster.Capabilities() }
