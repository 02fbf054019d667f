package deploy

import (
	"context"
	"fmt"
	"sort"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"lab.dev/lab/core/config"
)

// Probe is one permission the agent must have or must not have.
type Probe struct {
	Namespace   string `json:"namespace,omitempty"`
	Verb        string `json:"verb"`
	Group       string `json:"group"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	Want        bool   `json:"want"` // declared: allowed (true) or forbidden (false)
}

func (p Probe) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Group != "" {
		r += "." + p.Group
	}
	ns := "cluster-wide"
	if p.Namespace != "" {
		ns = "in " + p.Namespace
	}
	return fmt.Sprintf("%s %s %s", p.Verb, r, ns)
}

// CheckResult is a probe with the API server's answer.
type CheckResult struct {
	Probe
	Allowed bool   `json:"allowed"`
	OK      bool   `json:"ok"`
	Reason  string `json:"reason,omitempty"`
}

// Report is `lab agent rbac-check`.
type Report struct {
	User       string        `json:"user"`
	Probes     []CheckResult `json:"probes"`
	Undeclared []string      `json:"undeclared"` // rules the agent holds beyond what lab declares
	Passed     bool          `json:"passed"`
}

type grant struct{ group, resource, verb string }

// declared is every (group, resource, verb) lab grants in the agent namespaces.
func declared(l *config.Lab) map[grant]bool {
	d := map[grant]bool{}
	for _, r := range []struct {
		group     string
		resources []string
	}{{"", []string{"pods", "pods/log", "events", "persistentvolumeclaims"}}, {"events.k8s.io", []string{"events"}},
		{"apps", []string{"replicasets", "deployments", "statefulsets", "daemonsets"}}, {"batch", []string{"jobs", "cronjobs"}},
		{"networking.k8s.io", []string{"networkpolicies"}}} {
		for _, res := range r.resources {
			for _, v := range []string{"get", "list", "watch"} {
				d[grant{r.group, res, v}] = true
			}
		}
	}
	if l.Agent.Remediation.Enabled {
		d[grant{"apps", "deployments", "patch"}] = true
		d[grant{"apps", "statefulsets", "patch"}] = true
		d[grant{"", "pods", "delete"}] = true
	}
	// What every authenticated user may do (system:basic-user and friends).
	for _, r := range []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"} {
		d[grant{"authorization.k8s.io", r, "create"}] = true
	}
	d[grant{"authentication.k8s.io", "selfsubjectreviews", "create"}] = true
	return d
}

// Probes lists what rbac-check asks the API server, per agent namespace and
// cluster-wide.
func Probes(l *config.Lab) []Probe {
	var ps []Probe
	rem := l.Agent.Remediation.Enabled
	for _, ns := range l.Agent.Namespaces {
		for _, p := range []Probe{
			{Verb: "get", Resource: "pods", Want: true}, {Verb: "list", Resource: "pods", Want: true}, {Verb: "watch", Resource: "pods", Want: true},
			{Verb: "get", Resource: "pods", Subresource: "log", Want: true}, {Verb: "list", Resource: "events", Want: true},
			{Verb: "get", Group: "apps", Resource: "deployments", Want: true}, {Verb: "get", Group: "apps", Resource: "replicasets", Want: true},
			{Verb: "get", Group: "batch", Resource: "jobs", Want: true}, {Verb: "get", Resource: "persistentvolumeclaims", Want: true},
			{Verb: "list", Group: "networking.k8s.io", Resource: "networkpolicies", Want: true},
			{Verb: "get", Resource: "secrets"}, {Verb: "list", Resource: "secrets"}, {Verb: "create", Resource: "pods", Subresource: "exec"},
			{Verb: "create", Resource: "pods"}, {Verb: "update", Resource: "configmaps"}, {Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
			{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "roles"}, {Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "roles"},
			{Verb: "patch", Group: "apps", Resource: "deployments", Want: rem}, {Verb: "delete", Resource: "pods", Want: rem},
			{Verb: "delete", Group: "apps", Resource: "deployments"},
		} {
			p.Namespace = ns
			ps = append(ps, p)
		}
	}
	return append(ps,
		Probe{Verb: "get", Resource: "nodes", Want: true},
		Probe{Verb: "get", Resource: "pods", Namespace: "kube-system"},
		Probe{Verb: "list", Resource: "secrets"},
		Probe{Verb: "delete", Resource: "namespaces"},
		Probe{Verb: "patch", Resource: "nodes"},
		Probe{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
		Probe{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		Probe{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		Probe{Verb: "impersonate", Resource: "users"},
		Probe{Verb: "impersonate", Resource: "serviceaccounts"},
		Probe{Verb: "create", Resource: "serviceaccounts", Subresource: "token"},
		Probe{Verb: "get", Resource: "nodes", Subresource: "proxy"},
	)
}

// Impersonate returns a copy of an admin config acting as the agent.
func Impersonate(admin *rest.Config, l *config.Lab) *rest.Config {
	c := rest.CopyConfig(admin)
	c.Impersonate = rest.ImpersonationConfig{UserName: Username(l),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + l.Agent.Namespace, "system:authenticated"}}
	return c
}

// RBACCheck asks the API server, as the agent (impersonation), every probe
// with a SelfSubjectAccessReview, then lists the agent's rules per namespace
// with SelfSubjectRulesReview and flags any rule lab did not declare.
func RBACCheck(ctx context.Context, admin *rest.Config, l *config.Lab) (Report, error) {
	cs, err := kubernetes.NewForConfig(Impersonate(admin, l))
	if err != nil {
		return Report{}, err
	}
	rep := Report{User: Username(l), Passed: true}
	for _, p := range Probes(l) {
		ssar := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource}}}
		res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{})
		if err != nil {
			return rep, fmt.Errorf("asking %s: %w", p, err)
		}
		r := CheckResult{Probe: p, Allowed: res.Status.Allowed, OK: res.Status.Allowed == p.Want, Reason: res.Status.Reason}
		rep.Passed = rep.Passed && r.OK
		rep.Probes = append(rep.Probes, r)
	}
	decl := declared(l)
	seen := map[string]bool{}
	for _, ns := range append([]string{"kube-system"}, l.Agent.Namespaces...) {
		rr, err := cs.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authzv1.SelfSubjectRulesReview{Spec: authzv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
		if err != nil {
			return rep, fmt.Errorf("listing rules in %s: %w", ns, err)
		}
		inAgentNS := ns != "kube-system"
		for _, rule := range rr.Status.ResourceRules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						ok := decl[grant{g, res, v}] && (inAgentNS || res == "selfsubjectaccessreviews" || res == "selfsubjectrulesreviews" || res == "selfsubjectreviews" || res == "nodes")
						if g == "" && res == "nodes" && (v == "get" || v == "list" || v == "watch") {
							ok = true
						}
						if !ok {
							full := res
							if g != "" {
								full += "." + g
							}
							key := fmt.Sprintf("%s %s in %s", v, full, ns)
							if !seen[key] {
								seen[key] = true
								rep.Undeclared = append(rep.Undeclared, key)
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(rep.Undeclared)
	if len(rep.Undeclared) > 0 {
		rep.Passed = false
	}
	return rep, nil
}
