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
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
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
	if l.Agent.APF.Enabled {
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
		LLM        string
		Model      string // agent.llm.model, as the caller resolved it ("" leaves it to the pod)
		Tracing    string // agent.tracing.endpoint ("": no exporter in the pod)
		// agent.prediction's window and horizon and agent.namespaces joined
		// by commas (the pod has no lab.yaml)
		PredictWindow, PredictHorizon, WatchNamespaces string
	}{l.Agent.Namespace, l.Agent.Namespaces, l.Agent.APF, AgentImage(), l.InClusterLLMEndpoint(), l.Agent.LLM.Model, l.Agent.Tracing.Endpoint,
		l.Agent.Prediction.Window.String(), l.Agent.Prediction.Horizon.String(), strings.Join(l.Agent.Namespaces, ",")}
	var out []*unstructured.Unstructured
	for _, p := range parts {
		raw, err := manifests.Agent.ReadFile("agent/" + string(p))
		if err != nil {
			return nil, err
		}
		// Every value that comes from outside (lab.yaml's namespaces, the
		// LLM endpoint, the image) enters as a quoted scalar (q: a JSON
		// string, which YAML reads as that exact string), never as YAML
		// text: whatever it holds, it cannot add a key or an object.
		t, err := template.New(string(p)).Option("missingkey=error").Funcs(template.FuncMap{"q": quote}).Parse(string(raw))
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

// quote is a string as a double-quoted YAML (JSON) scalar.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
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

// Install applies what lab.yaml turns on and deletes the remediation Role
// when remediation is off (it must be absent, not just unused).
func Install(ctx context.Context, a *kube.Applier, l *config.Lab) ([]kube.Result, error) {
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
