package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newDown(g *globals) *cobra.Command {
	o := action.Down{Config: &g.action}
	c := command("down", "Delete the lab's cluster and everything lab put on the host (idempotent); --all for every lab", cobra.NoArgs, func([]string) error {
		if o.All { // every lab on the host: no lab.yaml needed
			return g.bare(o.Run)
		}
		return g.run(o.Run)
	})
	c.Flags().BoolVar(&o.All, "all", false, "remove every lab of this state home, and every kind cluster lab made whose state folder is gone (nightly CI teardown)")
	c.Flags().DurationVar(&o.OlderThan, "older-than", 0, "with --all: only labs created longer ago than this, e.g. 12h")
	c.Flags().BoolVar(&o.KeepCerts, "keep-certs", false, "keep the lab's certificates (Linkerd trust anchor) on the host")
	return c
}
