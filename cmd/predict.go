package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"lab.dev/lab/agent/predict"
	"lab.dev/lab/core/config"
	"lab.dev/lab/stacks"
)

func newPredict(g *globals, kubeconfig *string) *cobra.Command {
	var o predict.Options
	var all bool
	var output, prom, at string
	c := &cobra.Command{
		Use:   "predict [-n NS | -A]",
		Short: "Warn before a container, PVC or node runs out: memory, CPU, disk and restarts trends from Prometheus",
		Long: "Reads each container's memory working set and CPU usage against its limits, each PVC's used bytes against\n" +
			"its capacity, each node's memory against its allocatable and restart counters over --window, fits a robust\n" +
			"trend (Theil–Sen with a 95 % band; garbage-collection sawtooth judged by its peaks) and prints what reaches\n" +
			"its limit within --horizon, soonest first, with the series as evidence. Flat, noisy and sawtooth series raise\n" +
			"nothing. Prometheus: --prometheus URL, else the lab's (kube-prometheus-stack) through the API server.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if all == (o.Namespace != "") {
				return errors.New("give -n NAMESPACE or -A (all namespaces)")
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output: want text or json, got %q", output)
			}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--at: want an RFC 3339 time such as 2026-11-28T14:00:00Z: %w", err)
				}
				o.End = t
			}
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			src, err := predictSource(g, l, *kubeconfig, prom)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := src.Run(ctx, o)
			if err != nil {
				return err
			}
			if output == "json" {
				e := json.NewEncoder(g.ui.Out)
				e.SetIndent("", "  ")
				return e.Encode(res)
			}
			predict.Text(g.ui.Out, res)
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "", "predict for this namespace's containers and PVCs")
	f.BoolVarP(&all, "all-namespaces", "A", false, "every namespace, and the nodes")
	f.DurationVar(&o.Horizon, "horizon", 2*time.Hour, "report what runs out within this time")
	f.DurationVar(&o.Window, "window", 2*time.Hour, "history each trend is fitted on")
	f.StringVar(&prom, "prometheus", "", "Prometheus URL (default: the lab's, through the API server's service proxy)")
	f.StringVar(&at, "at", "", "predict as of this time (RFC 3339), e.g. what the trend said before an incident; default now")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// predictSource is --prometheus, else the lab's Prometheus reached through
// the API server's service proxy with the user's credentials (no port-forward).
func predictSource(g *globals, l *config.Lab, kubeconfig, url string) (*predict.Prometheus, error) {
	if url != "" {
		return predict.NewPrometheus(url, nil)
	}
	if !l.Stacks.Prometheus.Enabled {
		return nil, errors.New("the lab has no Prometheus (stacks.prometheus.enabled is false): pass --prometheus URL")
	}
	cfg, err := diagnoseConfig(g, l, kubeconfig)
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper
	if rt, err = rest.TransportFor(cfg); err != nil {
		return nil, err
	}
	ns, svc, port := stacks.PrometheusService()
	return predict.NewPrometheus(fmt.Sprintf("%s/api/v1/namespaces/%s/services/%s:%d/proxy", strings.TrimSuffix(cfg.Host, "/"), ns, svc, port), rt)
}
