package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newCerts(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "certs", Short: "Linkerd identity certificates: the lab's own trust anchor and issuer"}
	o := action.Certs{Config: &g.action}
	status := command("status", "Show the trust anchor's and the issuer's expiry (creates them if the lab has none yet)", cobra.NoArgs, func([]string) error { return g.run(o.Status) })
	outputFlag(status, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	rotate := command("rotate", "Issue a new Linkerd issuer under the same trust anchor; `lab up` rolls it out", cobra.NoArgs, func([]string) error { return g.run(o.Rotate) })
	c.AddCommand(status, rotate)
	return c
}
