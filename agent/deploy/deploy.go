// Package deploy puts the agent into the cluster: it renders the embedded
// manifests (manifests/agent) from lab.yaml — ServiceAccount, read-only Roles
// per namespace, the opt-in remediation Role, API Priority and Fairness
// objects — and applies them with server-side apply (idempotent, dry-run
// capable). It also proves the agent's permissions (rbac-check) and reads
// APF state back (apf status).
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"text/template"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/bootstrap/config"
	"lab.dev/lab/manifests"
)

// Part names a manifest file of manifests/agent.
type Part string

// The parts.
const (
	RBAC        Part = "rbac.yaml"
	Remediation Part = "remediation.yaml"
	APF         Part = "apf.yaml"
	Serve       Part = "serve.yaml"
)

// ServiceAccount is the agent's identity.
const ServiceAccount = "lab-agent"

// Username is how the API server sees the agent.
func Username(l *config.Lab) string {
	return "system:serviceaccount:" + l.Agent.Namespace + ":" + ServiceAccount
}

// Parts are the manifest files lab.yaml turns on, in apply order.
func Parts(l *config.Lab) []Part {
	parts := []Part{RBAC}
	if l.Agent.Remediation.Enabled {
		parts = append(parts, Remediation)
	}
	if l.Agent.APF.Enabled != nil && *l.Agent.APF.Enabled {
		parts = append(parts, APF)
	}
	return parts
}

// Render renders parts for l.
func Render(l *config.Lab, parts ...Part) ([]*unstructured.Unstructured, error) {
	data := struct {
		Namespace  string
		Namespaces []string
		APF        config.APF
		Image      string
	}{l.Agent.Namespace, l.Agent.Namespaces, l.Agent.APF, "ghcr.io/lab-dev/lab:latest"}
	var out []*unstructured.Unstructured
	for _, p := range parts {
		raw, err := manifests.Agent.ReadFile("agent/" + string(p))
		if err != nil {
			return nil, err
		}
		t, err := template.New(string(p)).Option("missingkey=error").Parse(string(raw))
		if err != nil {
			return nil, fmt.Errorf("manifests/agent/%s: %w", p, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("rendering manifests/agent/%s: %w", p, err)
		}
		for _, doc := range strings.Split(buf.String(), "\n---") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return nil, fmt.Errorf("manifests/agent/%s: %w", p, err)
			}
			if len(m) > 0 {
				out = append(out, &unstructured.Unstructured{Object: m})
			}
		}
	}
	return out, nil
}

// YAML renders objects as one multi-document YAML (for --dry-run -o yaml).
func YAML(objs []*unstructured.Unstructured) string {
	var b strings.Builder
	for _, o := range objs {
		y, _ := yaml.Marshal(o.Object)
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

// Applier applies objects with server-side apply.
type Applier struct {
	Dyn    dynamic.Interface
	Disc   discovery.DiscoveryInterface
	DryRun bool
}

// NewApplier builds an applier for cfg.
func NewApplier(cfg *rest.Config, dryRun bool) (*Applier, error) {
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

func (a *Applier) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(o.GetAPIVersion())
	if err != nil {
		return nil, err
	}
	list, err := a.Disc.ServerResourcesForGroupVersion(gv.String())
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
	}
	for _, r := range list.APIResources {
		if r.Kind == o.GetKind() && !strings.Contains(r.Name, "/") {
			ri := a.Dyn.Resource(gv.WithResource(r.Name))
			if r.Namespaced {
				return ri.Namespace(o.GetNamespace()), nil
			}
			return ri, nil
		}
	}
	return nil, fmt.Errorf("the API server does not serve %s %s", o.GetKind(), gv)
}

// Apply server-side-applies every object (field manager "lab") and reports
// whether each was created, changed or left as it was.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	var dr []string
	if a.DryRun {
		dr = []string{metav1.DryRunAll}
	}
	var out []Result
	for _, o := range objs {
		ri, err := a.resource(o)
		if err != nil {
			return out, err
		}
		name := o.GetKind() + "/" + o.GetName()
		if ns := o.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
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
	var dr []string
	if a.DryRun {
		dr = []string{metav1.DryRunAll}
	}
	var out []Result
	for _, o := range objs {
		ri, err := a.resource(o)
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
		out = append(out, Result{Object: o.GetNamespace() + "/" + o.GetKind() + "/" + o.GetName(), Action: "deleted"})
	}
	return out, nil
}

// Install applies what lab.yaml turns on and deletes the remediation Role
// when remediation is off (it must be absent, not just unused).
func Install(ctx context.Context, a *Applier, l *config.Lab) ([]Result, error) {
	objs, err := Render(l, Parts(l)...)
	if err != nil {
		return nil, err
	}
	res, err := a.Apply(ctx, objs)
	if err != nil || l.Agent.Remediation.Enabled {
		return res, err
	}
	rem, err := Render(l, Remediation)
	if err != nil {
		return res, err
	}
	del, err := a.Delete(ctx, rem)
	return append(res, del...), err
}
