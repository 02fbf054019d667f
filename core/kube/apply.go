// Package kube holds lab's generic Kubernetes helpers: server-side apply of
// unstructured objects through discovery (idempotent, dry-run capable).
package kube

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Applier applies objects with server-side apply.
type Applier struct {
	Dyn    dynamic.Interface
	Disc   discovery.DiscoveryInterface
	DryRun bool
	groups map[string]*metav1.APIResourceList // discovery answers, per group/version
}

// NewApplier builds an applier for cfg.
func NewApplier(cfg *rest.Config, dryRun bool) (*Applier, error) {
	// client-go's default 5 QPS throttles an apply of a dozen objects to
	// seconds; the API server's own flow control protects it.
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{Dyn: dyn, Disc: disc, DryRun: dryRun}, nil
}

// Result says what happened to one object.
type Result struct {
	Object string `json:"object"`
	Action string `json:"action"` // created, changed, unchanged, deleted
}

// Lookup finds o's resource through discovery: its GroupVersionResource and
// whether it is namespaced. Answers are cached per group/version; a kind
// missing from a cached answer (a CRD just created) is looked up again.
func (a *Applier) Lookup(o *unstructured.Unstructured) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(o.GetAPIVersion())
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		list, ok := a.groups[gv.String()]
		if !ok || attempt == 1 {
			if list, err = a.Disc.ServerResourcesForGroupVersion(gv.String()); err != nil {
				return schema.GroupVersionResource{}, false, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
			}
			if a.groups == nil {
				a.groups = map[string]*metav1.APIResourceList{}
			}
			a.groups[gv.String()] = list
		}
		for _, r := range list.APIResources {
			if r.Kind == o.GetKind() && !strings.Contains(r.Name, "/") {
				return gv.WithResource(r.Name), r.Namespaced, nil
			}
		}
	}
	return schema.GroupVersionResource{}, false, fmt.Errorf("the API server does not serve %s %s", o.GetKind(), gv)
}

// Resource finds the dynamic client for o's kind (in o's namespace).
func (a *Applier) Resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvr, namespaced, err := a.Lookup(o)
	if err != nil {
		return nil, err
	}
	if namespaced {
		return a.Dyn.Resource(gvr).Namespace(o.GetNamespace()), nil
	}
	return a.Dyn.Resource(gvr), nil
}

// Apply server-side-applies every object (field manager "lab") and reports
// whether each was created, changed or left as it was.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	dr := a.dryRun()
	var out []Result
	for _, o := range objs {
		ri, err := a.Resource(o)
		if err != nil {
			return out, err
		}
		name := objectName(o)
		before, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return out, err
		}
		after, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "lab", Force: true, DryRun: dr})
		if err != nil {
			return out, fmt.Errorf("applying %s: %w", name, err)
		}
		action := "created"
		if before != nil && err == nil && before.GetResourceVersion() != "" {
			action = "unchanged"
			if after.GetResourceVersion() != before.GetResourceVersion() {
				action = "changed"
			}
		}
		out = append(out, Result{Object: name, Action: action})
	}
	return out, nil
}

// Delete removes objects, ignoring those already gone.
func (a *Applier) Delete(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	dr := a.dryRun()
	var out []Result
	for _, o := range objs {
		ri, err := a.Resource(o)
		if err != nil {
			return out, err
		}
		err = ri.Delete(ctx, o.GetName(), metav1.DeleteOptions{DryRun: dr})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, Result{Object: objectName(o), Action: "deleted"})
	}
	return out, nil
}

func (a *Applier) dryRun() []string {
	if a.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// objectName is namespace/Kind/name (Kind/name when cluster-scoped).
func objectName(o *unstructured.Unstructured) string {
	name := o.GetKind() + "/" + o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return name
}
