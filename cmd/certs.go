package cmd

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks/certs"
)

func certsDir(g *globals) (string, error) {
	l, err := g.loadLab()
	if err != nil {
		return "", err
	}
	return filepath.Join(state.LabDir(l.Metadata.Name), "certs"), nil
}

func newCerts(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "certs", Short: "Linkerd identity certificates: the lab's own trust anchor and issuer"}
	var output string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the trust anchor's and the issuer's expiry (creates them if the lab has none yet)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			dir, err := certsDir(g)
			if err != nil {
				return err
			}
			set, err := certs.Ensure(dir)
			if err != nil {
				return err
			}
			st := set.Statuses(time.Now())
			if output == "json" {
				return json.NewEncoder(g.ui.Out).Encode(st)
			}
			for _, s := range st {
				m := ui.MarkOK
				if s.Warn {
					m = ui.MarkWarn
				}
				fmt.Fprintf(g.ui.Out, "%s %-12s %s expires %s (%d days)\n", g.ui.Mark(m), s.Name, s.Subject, s.NotAfter.Format("2006-01-02"), int(s.Remaining.Hours()/24))
			}
			fmt.Fprintf(g.ui.Out, "files: %s (the anchor key never leaves this folder)\n", dir)
			return nil
		},
	}
	status.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Issue a new Linkerd issuer under the same trust anchor; `lab up` rolls it out",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			dir, err := certsDir(g)
			if err != nil {
				return err
			}
			if _, err := certs.Ensure(dir); err != nil {
				return err
			}
			if err := certs.Rotate(dir); err != nil {
				return err
			}
			set, err := certs.Load(dir)
			if err != nil {
				return err
			}
			g.ui.Progress("%s new issuer valid until %s; run `lab up` to roll it out to Linkerd", g.ui.Mark(ui.MarkOK), set.Issuer.NotAfter.Format("2006-01-02"))
			return nil
		},
	}
	c.AddCommand(status, rotate)
	return c
}
