package deploy

import (
	"context"
	"fmt"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/core/config"
)

// Ready reports whether the agent `lab up` deploys is in place, for lab
// status: its ServiceAccount exists and, with APF on, its FlowSchema is in
// effect (not dangling).
func Ready(ctx context.Context, cs kubernetes.Interface, l *config.Lab) (bool, string) {
	ns := l.Agent.Namespace
	if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, ServiceAccount, metav1.GetOptions{}); err != nil {
		return false, fmt.Sprintf("ServiceAccount %s/%s: %v (lab up, or lab agent apply)", ns, ServiceAccount, err)
	}
	if !l.Agent.APF.Enabled {
		return true, fmt.Sprintf("ServiceAccount %s/%s (APF off)", ns, ServiceAccount)
	}
	dangling, msg, err := flowSchemaDangling(ctx, cs)
	if err != nil {
		return false, fmt.Sprintf("FlowSchema %s: %v (lab up, or lab agent apf)", PriorityLevel, err)
	}
	if dangling == string(flowcontrolv1.ConditionTrue) {
		return false, fmt.Sprintf("FlowSchema %s is dangling: %s", PriorityLevel, msg)
	}
	return true, fmt.Sprintf("ServiceAccount %s/%s, FlowSchema %s in effect", ns, ServiceAccount, PriorityLevel)
}
