package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newDoctor(g *globals) *cobra.Command {
	o := action.Doctor{Config: &g.action}
	c := command("doctor", "Check this host for the lab: resources, container engine, NVIDIA GPU (NVML), ports, inotify, chart repositories", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	c.Long = "Runs lab's preflight checks (the same ones `lab up` runs) and prints them; exit code 1 when a fatal check fails.\n" +
		"Marks: √ passed, ‼ warning, × failed, - not relevant for this lab."
	outputFlag(c, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	c.Flags().BoolVar(&o.Offline, "offline", false, "do not probe chart repositories (air-gapped host)")
	c.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Second, "timeout of each network probe")
	return c
}
