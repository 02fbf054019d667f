package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
)

func newDown(g *globals) *cobra.Command {
	var all, keepCerts bool
	var olderThan time.Duration
	c := &cobra.Command{
		Use:   "down",
		Short: "Delete the lab's cluster and everything lab put on the host (idempotent); --all for every lab",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := context.Background()
			if all {
				labs, err := state.ListLabs()
				if err != nil {
					return err
				}
				removed := 0
				for _, m := range labs {
					if olderThan > 0 && time.Since(m.Created) < olderThan {
						g.ui.Debug(1, "keeping %s: created %s", m.Name, m.Created.Format(time.RFC3339))
						continue
					}
					l := config.Default()
					l.Metadata.Name, l.Cluster.Provider = m.Name, m.Provider
					if err := down(ctx, g, l, keepCerts); err != nil {
						return fmt.Errorf("lab %s: %w", m.Name, err)
					}
					removed++
				}
				g.ui.Progress("removed %d of %d lab(s)", removed, len(labs))
				return nil
			}
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			return down(ctx, g, l, keepCerts)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "remove every lab on this host (nightly CI teardown)")
	c.Flags().DurationVar(&olderThan, "older-than", 0, "with --all: only labs created longer ago than this, e.g. 12h")
	c.Flags().BoolVar(&keepCerts, "keep-certs", false, "keep the lab's certificates (Linkerd trust anchor) on the host")
	return c
}

func down(ctx context.Context, g *globals, l *config.Lab, keepCerts bool) error {
	dir := state.LabDir(l.Metadata.Name)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		g.ui.Progress("lab %s: nothing to remove", l.Metadata.Name)
		return nil
	}
	p, err := cluster.New(l, dir)
	if err != nil {
		return err
	}
	if err := p.Delete(ctx); err != nil {
		return fmt.Errorf("deleting the %s cluster: %w", p.Name(), err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if keepCerts && e.Name() == "certs" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if !keepCerts {
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	g.ui.Progress("lab %s: removed (%s)", l.Metadata.Name, p.Name())
	return nil
}
