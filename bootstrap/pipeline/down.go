package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
)

// Down is `lab down`: delete the lab's cluster and everything lab put on the
// host for it; with All, every lab on the host (OlderThan: only those
// created longer ago). Deleting what is already gone succeeds.
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
	for _, m := range labs {
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
	return nil
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
