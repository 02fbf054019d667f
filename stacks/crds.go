package stacks

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chart"

	"lab.dev/lab/core/kube"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// applyCRDs server-side applies the chart's crds/ before Helm runs, and
// waits until they are Established. Helm only creates CRDs on first install
// (never upgrades them), and client-side apply of large ones (the
// kube-prometheus-stack's) overflows the last-applied annotation; server-side
// apply does neither. It returns how many CRDs it applied.
func (in *Installer) applyCRDs(ctx context.Context, ch *chart.Chart) (int, error) {
	var objs []*unstructured.Unstructured
	for _, c := range ch.CRDObjects() {
		for _, doc := range strings.Split(string(c.File.Data), "\n---") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return 0, fmt.Errorf("%s: %w", c.Filename, err)
			}
			if len(m) > 0 {
				objs = append(objs, &unstructured.Unstructured{Object: m})
			}
		}
	}
	if len(objs) == 0 {
		return 0, nil
	}
	if err := in.applyObjects(ctx, objs); err != nil {
		return 0, fmt.Errorf("applying CRDs of %s: %w", ch.Metadata.Name, err)
	}
	cfg, err := in.restConfig()
	if err != nil {
		return 0, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	for _, o := range objs {
		if err := waitEstablished(ctx, dyn, o.GetName()); err != nil {
			return 0, err
		}
	}
	return len(objs), nil
}

func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not Established: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (in *Installer) restConfig() (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: in.Helm.Kubeconfig}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: in.Helm.Context}).ClientConfig()
}

// applyObjects server-side applies objects with the lab's kubeconfig.
func (in *Installer) applyObjects(ctx context.Context, objs []*unstructured.Unstructured) error {
	cfg, err := in.restConfig()
	if err != nil {
		return err
	}
	a, err := kube.NewApplier(cfg, false)
	if err != nil {
		return err
	}
	_, err = a.Apply(ctx, objs)
	return err
}
