package stacks

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/config"
	"lab.dev/lab/stacks/certs"
)

// Env is what values builders know about the lab and the host.
type Env struct {
	Lab      *config.Lab
	Model    string     // resolved Ollama model ("auto" already decided by VRAM)
	GPU      bool       // GPU workers exist: Ollama asks for nvidia.com/gpu
	Certs    *certs.Set // Linkerd identity (nil when Linkerd is off)
	LowPower bool       // small host: trim requests further
	// ModelBundled: the model comes from a lab bundle (lab up --offline),
	// imported through Ollama's API after the install; the pod pulls nothing.
	ModelBundled bool
}

// Values returns lab's values for one release, with lab.yaml's
// stacks.<name>.values merged over them (the user wins).
func Values(release string, e Env) (map[string]any, error) {
	var v map[string]any
	var user map[string]any
	s := e.Lab.Stacks
	switch release {
	case "argocd":
		v, user = argoValues(e), s.ArgoCD.Values
	case "linkerd-crds":
		v = map[string]any{"installGatewayAPI": true}
	case "linkerd-control-plane":
		if e.Certs == nil {
			return nil, fmt.Errorf("linkerd-control-plane needs the lab's identity certificates")
		}
		v, user = linkerdValues(e), s.Linkerd.Values
	case "kube-prometheus-stack":
		v, user = prometheusValues(e), s.Prometheus.Values
		// lab's saturation alerts (manifests/prometheus) as the chart's own
		// PrometheusRule lab-saturation.
		raw, err := SaturationRules(e.Lab.Agent.Prediction)
		if err != nil {
			return nil, err
		}
		var rules map[string]any
		if err := yaml.Unmarshal(raw, &rules); err != nil {
			return nil, fmt.Errorf("manifests/prometheus/saturation-rules.yaml: %w", err)
		}
		v["additionalPrometheusRulesMap"] = map[string]any{"lab-saturation": rules}
	case "ollama":
		v, user = ollamaValues(e), s.Ollama.Values
	case "kyverno":
		v, user = kyvernoValues(e), s.Kyverno.Values
	default:
		return nil, fmt.Errorf("no values builder for release %q", release)
	}
	return Merge(v, user), nil
}

func res(cpu, mem, memLimit string) map[string]any {
	return map[string]any{"requests": map[string]any{"cpu": cpu, "memory": mem}, "limits": map[string]any{"memory": memLimit}}
}

// argo-cd chart (argoproj/argo-helm): one replica of each, no Dex, no
// notifications, plain HTTP behind port-forward, sized for a workstation.
//
// No gRPC service config from DNS: Argo CD's components dial each other
// (and the repo-server itself, in the liveness probe's full health check)
// through gRPC's DNS resolver, which also asks for a TXT record
// (_grpc_config.NAME) that no cluster zone answers, so CoreDNS forwards it
// out of the cluster. Where that upstream does not answer — an air-gapped
// host, lab's offline kind lab — each dial waited for the forward's timeout
// (2 s and more), longer than the probe's 1 s: the repo-server was
// restarted every 40 s and no Application could be compared. Argo CD
// configures nothing through such records.
func argoValues(Env) map[string]any {
	return map[string]any{
		"global":        map[string]any{"env": []any{map[string]any{"name": "GRPC_ENABLE_TXT_SERVICE_CONFIG", "value": "false"}}},
		"dex":           map[string]any{"enabled": false},
		"notifications": map[string]any{"enabled": false},
		"configs": map[string]any{
			"params": map[string]any{"server.insecure": true},
			// App-of-apps: Argo CD no longer assesses child Applications'
			// health by default; this makes the root wait for its children
			// (and sync waves order them).
			"cm": map[string]any{"resource.customizations.health.argoproj.io_Application": appHealthLua},
		},
		"controller":     map[string]any{"replicas": 1, "resources": res("100m", "256Mi", "1Gi")},
		"server":         map[string]any{"replicas": 1, "resources": res("50m", "64Mi", "256Mi")},
		"repoServer":     map[string]any{"replicas": 1, "resources": res("50m", "128Mi", "512Mi")},
		"applicationSet": map[string]any{"replicas": 1},
		"redis":          map[string]any{"resources": res("20m", "32Mi", "128Mi")},
	}
}

// linkerd-control-plane chart: lab's own trust anchor and issuer.
func linkerdValues(e Env) map[string]any {
	return map[string]any{
		"identityTrustAnchorsPEM": e.Certs.AnchorPEM,
		"identity": map[string]any{"issuer": map[string]any{"tls": map[string]any{
			"crtPEM": e.Certs.IssuerPEM,
			"keyPEM": e.Certs.IssuerKeyPEM,
		}}},
		"controllerReplicas":    1,
		"enablePodAntiAffinity": false,
	}
}

// kube-prometheus-stack: short retention, small requests, and selectors that
// pick up ServiceMonitors/rules from any release (the agent's included).
func prometheusValues(e Env) map[string]any {
	nilUses := false
	prometheusSpec := map[string]any{
		"retention": "12h",
		"resources": res("100m", "512Mi", "2Gi"),
		"serviceMonitorSelectorNilUsesHelmValues": nilUses,
		"podMonitorSelectorNilUsesHelmValues":     nilUses,
		"ruleSelectorNilUsesHelmValues":           nilUses,
	}
	return map[string]any{
		"grafana": map[string]any{"enabled": true, "resources": res("50m", "128Mi", "256Mi")},
		"alertmanager": map[string]any{"alertmanagerSpec": map[string]any{
			"resources": res("10m", "32Mi", "128Mi"),
			// AlertmanagerConfig objects (the agent's receiver) from any namespace.
			"alertmanagerConfigSelector":          map[string]any{},
			"alertmanagerConfigMatcherStrategy":   map[string]any{"type": "None"},
			"alertmanagerConfigNamespaceSelector": map[string]any{},
		}},
		"prometheusOperator": map[string]any{"resources": res("50m", "64Mi", "256Mi")},
		// The containers' limits as the kubelet's cAdvisor reports them:
		// lab's saturation rules compare usage with kube-state-metrics'
		// limits, or these where kube-state-metrics is off (the chart's own
		// kubelet ServiceMonitor drops every container_spec_* series as
		// kube-state-metrics' duplicate). Only the limits are kept.
		"prometheus": map[string]any{
			"prometheusSpec":            prometheusSpec,
			"additionalServiceMonitors": []any{cadvisorLimits},
		},
	}
}

// cadvisorLimits is the additional ServiceMonitor that keeps the
// containers' memory and CPU limits from the kubelets' cAdvisor endpoint
// (the kubelet Service the operator maintains in kube-system), scraped the
// way the chart's kubelet ServiceMonitor scrapes it.
var cadvisorLimits = map[string]any{
	"name":              "lab-cadvisor-limits",
	"selector":          map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"}},
	"namespaceSelector": map[string]any{"matchNames": []any{"kube-system"}},
	"endpoints": []any{map[string]any{
		"port": "https-metrics", "scheme": "https", "path": "/metrics/cadvisor", "interval": "30s", "honorLabels": true,
		"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"tlsConfig":       map[string]any{"caFile": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "insecureSkipVerify": true},
		"metricRelabelings": []any{map[string]any{"sourceLabels": []any{"__name__"}, "action": "keep",
			"regex": "container_spec_(memory_limit_bytes|cpu_quota|cpu_period)"}},
	}},
}

// kyverno chart: one admission replica (a workstation), and its webhooks
// never called for lab's own namespaces (the policy set exempts them too,
// so a stuck Kyverno cannot block the lab's stacks).
func kyvernoValues(e Env) map[string]any {
	exempt := []any{}
	for _, ns := range e.Lab.PolicyExempt() {
		exempt = append(exempt, ns)
	}
	return map[string]any{
		"admissionController": map[string]any{"replicas": 1},
		"config": map[string]any{"webhooks": map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{
			map[string]any{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": exempt},
		}}}},
	}
}

// ollama chart (otwld): the model to pull at start, a GPU when the lab has
// GPU workers (runtime class nvidia, as nvkind sets it up), CPU otherwise.
func ollamaValues(e Env) map[string]any {
	pull := []any{e.Model}
	if e.ModelBundled {
		pull = []any{}
	}
	v := map[string]any{
		"ollama": map[string]any{"models": map[string]any{"pull": pull}},
		// Models survive pod restarts where the cluster has a default
		// StorageClass (kind: standard, k3s: local-path); a kwok lab has no
		// storage and its pods are simulated.
		"persistentVolume": map[string]any{"enabled": e.Lab == nil || e.Lab.Cluster.Capabilities().Storage, "size": "20Gi"},
		"resources":        res("500m", "2Gi", "12Gi"),
	}
	if e.GPU {
		v["ollama"].(map[string]any)["gpu"] = map[string]any{"enabled": true, "type": "nvidia", "number": 1}
		v["runtimeClassName"] = "nvidia"
		v["tolerations"] = []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}}
	}
	return v
}

// Merge deep-merges over into base (maps merge, everything else replaces).
func Merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = Merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// appHealthLua reports an Application's own health as its health.
const appHealthLua = `hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
`
