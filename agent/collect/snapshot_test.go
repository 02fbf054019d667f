package collect

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The snapshot's bundle reads owners, their events and the pod's events
// from the lists, as the live collection reads them with GETs.
func TestSnapshotBundleFollowsOwners(t *testing.T) {
	yes := true
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "d1"}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "r1",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: "d1", Controller: &yes}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1-x", Namespace: "shop", UID: "p1",
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1", UID: "r1", Controller: &yes}}}}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "data"}}
	evRS := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "shop"}, Reason: "FailedCreate",
		InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "shop", Name: "web-1", UID: "r1"}}
	evPod := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: "shop"}, Reason: "BackOff",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-1-x", UID: "p1"}}
	cs := fake.NewSimpleClientset(dep, rs, pod, other, evRS, evPod)
	ctx := context.Background()
	all, err := NewSnapshot(ctx, cs, "")
	if err != nil || len(all.Pods) != 2 {
		t.Fatalf("all namespaces: %d pods, %v", len(all.Pods), err)
	}
	s, err := NewSnapshot(ctx, cs, "shop")
	if err != nil || len(s.Pods) != 1 {
		t.Fatalf("namespace shop: %+v, %v", s, err)
	}
	b := s.Bundle(ctx, cs, &s.Pods[0], Options{})
	if len(b.Owners) != 2 || b.Owners[0].Kind != "ReplicaSet" || b.Owners[1].Kind != "Deployment" {
		t.Errorf("owners %+v", b.Owners)
	}
	reasons := map[string]bool{}
	for _, e := range b.Events {
		reasons[e.Reason] = true
	}
	if !reasons["FailedCreate"] || !reasons["BackOff"] || len(b.Events) != 2 {
		t.Errorf("events %v", reasons)
	}
}
