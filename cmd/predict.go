package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/ui"
)

func newPredict(g *globals) *cobra.Command {
	o := action.Predict{Config: &g.action}
	c := command("predict [-n NS | -A]", "Warn before a container, PVC or node runs out: memory, CPU, disk and restarts trends from Prometheus", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	c.Long = "Reads each container's memory working set and CPU usage against its limits, each PVC's used bytes against\n" +
		"its capacity, each node's memory against its allocatable and restart counters over --window, fits a robust\n" +
		"trend (Theil–Sen with a 95 % band; garbage-collection sawtooth judged by its peaks) and prints what reaches\n" +
		"its limit within --horizon, soonest first, with the series as evidence. Flat, noisy and sawtooth series raise\n" +
		"nothing. Prometheus: --prometheus URL, else the lab's (kube-prometheus-stack) through the API server."
	f := c.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "", "predict for this namespace's containers and PVCs")
	f.BoolVarP(&o.All, "all-namespaces", "A", false, "every namespace, and the nodes")
	f.DurationVar(&o.Horizon, "horizon", 2*time.Hour, "report what runs out within this time")
	f.DurationVar(&o.Window, "window", 2*time.Hour, "history each trend is fitted on")
	f.StringVar(&o.Prometheus, "prometheus", "", "Prometheus URL (default: the lab's, through the API server's service proxy)")
	f.StringVar(&o.At, "at", "", "predict as of this time (RFC 3339), e.g. what the trend said before an incident; default now")
	outputFlag(c, &o.Output, ui.Text, "", ui.Text, ui.JSON)
	return c
}
