package kube

import (
	"fmt"
	"testing"
)

func TestPodTemplatePath(t *testing.T) {
	for kind, want := range map[string]string{
		"Pod": "[] true", "Deployment": "[spec template] true", "ReplicationController": "[spec template] true",
		"Job": "[spec template] true", "CronJob": "[spec jobTemplate spec template] true",
		"Service": "[] false", "ClusterPolicy": "[] false",
	} {
		p, ok := PodTemplatePath(kind)
		if got := fmt.Sprint(p, " ", ok); got != want {
			t.Errorf("%s: %s, want %s", kind, got, want)
		}
	}
}
