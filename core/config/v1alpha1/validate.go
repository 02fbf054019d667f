package v1alpha1

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks l's values (after defaults) and returns every problem with
// its field path; Load adds file and line. Rules come from struct tags (min,
// max, minf, maxf, enum, pattern, required) plus the cross-field rules below.
func Validate(l *Lab) []FieldError {
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if l.APIVersion != APIVersion {
		add("apiVersion", "must be %s, got %q", APIVersion, l.APIVersion)
	}
	if l.Kind != Kind {
		add("kind", "must be %s, got %q", Kind, l.Kind)
	}
	checkTags(reflect.ValueOf(l).Elem(), "", add)

	c := l.Cluster
	if c.ControlPlanes == 2 {
		add("cluster.controlPlanes", "must be 1 or 3 (etcd needs an odd quorum), got 2")
	}
	if c.Provider == "existing" {
		for path, set := range map[string]bool{"cluster.workers": c.Workers > 0, "cluster.gpuWorkers": c.GPUWorkers > 0, "cluster.portMappings": len(c.PortMappings) > 0} {
			if set {
				add(path, "cannot be set with provider existing: lab does not create that cluster's nodes")
			}
		}
	}
	if c.Provisioner == "terraform" && c.Provider == "existing" {
		add("cluster.provisioner", "terraform provisions the clusters lab creates (kind, k3s, kwok), not an existing one")
	}
	if c.Provider == "k3s" && c.GPUWorkers > 0 && c.NodeImage == "" {
		add("cluster.nodeImage", "k3s GPU workers need a k3s image that carries the NVIDIA container runtime (the k3s docs' CUDA image); set cluster.nodeImage to one")
	}
	if c.Provider == "kwok" && len(c.PortMappings) > 0 {
		add("cluster.portMappings", "kwok nodes are simulated: no ports can be mapped")
	}
	hostPorts := map[int]string{}
	for i, p := range c.PortMappings {
		path := fmt.Sprintf("cluster.portMappings[%d].hostPort", i)
		if prev, dup := hostPorts[p.HostPort]; dup {
			add(path, "host port %d is already mapped by %s", p.HostPort, prev)
		}
		hostPorts[p.HostPort] = path
	}
	if a := l.Agent.APF; a.HandSize > a.Queues {
		add("agent.apf.handSize", "must be <= agent.apf.queues (%d), got %d", a.Queues, a.HandSize)
	}
	if p := l.Agent.Prediction; p.Window.Duration > 0 && p.Window.Duration < time.Minute {
		add("agent.prediction.window", "must be at least 1m (a trend needs samples; Prometheus scrapes every 30s), got %s", p.Window.Duration)
	} else if p.MinHistory.Duration > p.Window.Duration {
		add("agent.prediction.minHistory", "must be at most agent.prediction.window (%s), got %s", p.Window.Duration, p.MinHistory.Duration)
	}
	if p := l.Agent.Prediction; p.Horizon.Duration == 0 && p.Window.Duration > 0 {
		add("agent.prediction.horizon", "must be more than 0")
	}
	if r := l.Agent.Remediation; r.Enabled && len(r.Allowed) == 0 {
		add("agent.remediation.allowed", "must name at least one action when remediation is enabled")
	}
	if l.GitOps.Enabled != nil && *l.GitOps.Enabled && !l.Stacks.ArgoCD.IsEnabled() {
		add("gitops.enabled", "needs stacks.argocd.enabled: true")
	}
	if p := l.Policies; p.Enabled != nil && *p.Enabled {
		if l.GitOps.Enabled == nil || !*l.GitOps.Enabled {
			add("policies.enabled", "needs gitops.enabled: true (the policy set is delivered as an Argo CD Application)")
		}
	}
	for i, ns := range l.Policies.Namespaces {
		if !dnsLabel.MatchString(ns) {
			add(fmt.Sprintf("policies.namespaces[%d]", i), "must be a namespace name (a DNS label), got %q", ns)
		}
		if LabNamespaces[ns] {
			add(fmt.Sprintf("policies.namespaces[%d]", i), "%s is one of lab's own stack namespaces, which the policies leave alone", ns)
		}
	}
	return errs
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// LabNamespaces are the namespaces of lab's own stacks: excluded from the
// policy set (their charts run what they need, e.g. node exporters as root).
var LabNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true, "local-path-storage": true,
	"argocd": true, "linkerd": true, "monitoring": true, "ollama": true, "kyverno": true, "lab-system": true, "lab-agent": true}

func checkTags(v reflect.Value, path string, add func(string, string, ...any)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		p := join(path, name)
		if f.Anonymous && strings.Contains(opts, "inline") {
			p = path
		}
		if fv.Type() == durationType {
			if d := fv.Interface().(Duration); d.Duration < 0 {
				add(p, "must not be negative, got %s", d.Duration)
			}
			continue
		}
		switch fv.Kind() {
		case reflect.Struct:
			checkTags(fv, p, add)
		case reflect.Slice:
			for j := 0; j < fv.Len(); j++ {
				ep := fmt.Sprintf("%s[%d]", p, j)
				if el := fv.Index(j); el.Kind() == reflect.Struct {
					checkTags(el, ep, add)
				} else {
					checkValue(f, el, ep, add)
				}
			}
		default:
			checkValue(f, fv, p, add)
		}
	}
}

func checkValue(f reflect.StructField, v reflect.Value, p string, add func(string, string, ...any)) {
	tag := f.Tag
	switch v.Kind() {
	case reflect.Int:
		n := v.Int()
		if s := tag.Get("required"); s == "true" && n == 0 {
			add(p, "is required")
			return
		}
		if s := tag.Get("min"); s != "" {
			if m, _ := strconv.ParseInt(s, 10, 64); n < m {
				add(p, "must be >= %d, got %d", m, n)
			}
		}
		if s := tag.Get("max"); s != "" {
			if m, _ := strconv.ParseInt(s, 10, 64); n > m {
				add(p, "must be <= %d, got %d", m, n)
			}
		}
	case reflect.Float64:
		x := v.Float()
		if s := tag.Get("minf"); s != "" {
			if m, _ := strconv.ParseFloat(s, 64); x < m {
				add(p, "must be >= %g, got %g", m, x)
			}
		}
		if s := tag.Get("maxf"); s != "" {
			if m, _ := strconv.ParseFloat(s, 64); x > m {
				add(p, "must be <= %g, got %g", m, x)
			}
		}
	case reflect.String:
		s := v.String()
		if tag.Get("required") == "true" && s == "" {
			add(p, "is required")
			return
		}
		if enum := tag.Get("enum"); enum != "" && !slices.Contains(strings.Split(enum, ","), s) {
			add(p, "must be one of %s, got %q", strings.Trim(strings.ReplaceAll(enum, ",", ", "), ", "), s)
		}
		if pat := tag.Get("pattern"); pat != "" && s != "" && !regexp.MustCompile(pat).MatchString(s) {
			add(p, "%q does not match %s", s, pat)
		}
	}
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "time: "))
	}
	if d < 0 {
		return 0, fmt.Errorf("negative")
	}
	return d, nil
}
