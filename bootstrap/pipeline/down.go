package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
)

// Down is `lab down`: delete the lab's cluster and everything lab put on the
// host for it; with All, every lab of this state home, then every kind
// cluster lab made whose state folder is gone (orphans: a CI job's home
// wiped before its teardown), OlderThan: only those created longer ago.
// Deleting what is already gone succeeds.
type Down struct {
	Lab       *config.Lab // ignored with All
	All       bool
	OlderThan time.Duration
	KeepCerts bool // keep the Linkerd trust anchor on the host
	Log       ui.Logger
}

// Run removes the lab (or labs).
func (d *Down) Run(ctx context.Context) error {
	log := ui.Or(d.Log)
	if !d.All {
		return d.one(ctx, d.Lab)
	}
	labs, err := state.ListLabs()
	if err != nil {
		return err
	}
	removed := 0
	known := map[string]bool{}
	for _, m := range labs {
		known[m.Name] = true
		if d.OlderThan > 0 && time.Since(m.Created) < d.OlderThan {
			log.Debug(1, "keeping %s: created %s", m.Name, m.Created.Format(time.RFC3339))
			continue
		}
		l := config.Default()
		l.Metadata.Name, l.Cluster.Provider = m.Name, m.Provider
		if err := d.one(ctx, l); err != nil {
			return fmt.Errorf("lab %s: %w", m.Name, err)
		}
		removed++
	}
	log.Progress("removed %d of %d lab(s)", removed, len(labs))
	orphans, err := d.orphans(ctx, known)
	if orphans > 0 {
		log.Progress("removed %d orphaned kind cluster(s)", orphans)
	}
	return err
}

// orphans deletes the kind clusters lab made whose state folder is gone,
// found by the ConfigMap lab-system/lab-spec each lab's cluster carries
// (it names the host and the folder). Kept, and said: a cluster without
// it (not lab's), one whose folder exists (another state home's lab), one
// made on another host, one recorded before lab-spec named its folder,
// one younger than OlderThan, one whose API server does not answer.
func (d *Down) orphans(ctx context.Context, known map[string]bool) (int, error) {
	log := ui.Or(d.Log)
	names, err := cluster.KindClusters()
	if err != nil { // no engine answers: no kind cluster to find
		log.Debug(1, "not looking for orphaned kind clusters: %v", err)
		return 0, nil
	}
	host, _ := os.Hostname()
	removed := 0
	for _, name := range names {
		if known[name] {
			continue
		}
		rc, err := cluster.KindRESTConfig(name)
		if err != nil {
			log.Progress("kind cluster %s: kept (its kubeconfig cannot be read: %v)", name, err)
			continue
		}
		rc.Timeout = 10 * time.Second
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return removed, err
		}
		cm, err := cs.CoreV1().ConfigMaps(SpecNamespace).Get(ctx, SpecConfigMap, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
			log.Debug(1, "kind cluster %s: not a lab's (no %s/%s)", name, SpecNamespace, SpecConfigMap)
			continue
		case err != nil:
			log.Progress("kind cluster %s: kept (its API server does not answer: %v)", name, err)
			continue
		case cm.Labels[kube.ManagedByLabel] != kube.ManagedBy:
			log.Debug(1, "kind cluster %s: not a lab's (%s/%s is not managed by lab)", name, SpecNamespace, SpecConfigMap)
			continue
		}
		dir, on := cm.Data[recordDir], cm.Data[recordHost]
		switch _, serr := os.Stat(dir); {
		case dir == "":
			log.Progress("kind cluster %s: a lab's, kept (recorded before lab named its state folder; remove it with `kind delete cluster --name %s`)", name, name)
			continue
		case on != "" && on != host:
			log.Progress("kind cluster %s: a lab's made on host %s, kept", name, on)
			continue
		case serr == nil || !os.IsNotExist(serr):
			log.Debug(1, "kind cluster %s: kept, its state folder %s is there (lab down --all with that state home removes it)", name, dir)
			continue
		case d.OlderThan > 0 && time.Since(cm.CreationTimestamp.Time) < d.OlderThan:
			log.Debug(1, "kind cluster %s: orphaned, kept: created %s", name, cm.CreationTimestamp.Time.Format(time.RFC3339))
			continue
		}
		if err := cluster.DeleteKind(ctx, name, ""); err != nil {
			return removed, fmt.Errorf("deleting the orphaned kind cluster %s: %w", name, err)
		}
		log.Progress("lab %s: removed its orphaned kind cluster (state folder %s gone)", name, dir)
		removed++
	}
	return removed, nil
}

func (d *Down) one(ctx context.Context, l *config.Lab) error {
	log := ui.Or(d.Log)
	dir := state.LabDir(l.Metadata.Name)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		log.Progress("lab %s: nothing to remove", l.Metadata.Name)
		return nil
	}
	p, err := cluster.New(l, dir)
	if err != nil {
		return err
	}
	stopGitServer(dir) // the local GitOps repository's server, if lab started one
	if err := p.Delete(ctx); err != nil {
		return fmt.Errorf("deleting the %s cluster: %w", p.Name(), err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if d.KeepCerts && e.Name() == "certs" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if !d.KeepCerts {
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	log.Progress("lab %s: removed (%s)", l.Metadata.Name, p.Name())
	return nil
}
