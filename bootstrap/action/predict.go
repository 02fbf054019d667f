package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"lab.dev/lab/agent/memory"
	"lab.dev/lab/agent/predict"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks"
)

// Predict is `lab agent predict`: saturation trends from Prometheus.
type Predict struct {
	*Config
	predict.Options
	All        bool
	Output     ui.Format
	Prometheus string // URL; default the lab's through the API server
	At         string // RFC 3339; default now
}

// Run predicts and prints, soonest first.
func (p *Predict) Run() error {
	if p.All == (p.Namespace != "") {
		return errors.New("give -n NAMESPACE or -A (all namespaces)")
	}
	if p.At != "" {
		t, err := time.Parse(time.RFC3339, p.At)
		if err != nil {
			return fmt.Errorf("--at: want an RFC 3339 time such as 2026-11-28T14:00:00Z: %w", err)
		}
		p.End = t
	}
	src, err := PredictSource(p.Config, p.Prometheus)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := src.Run(ctx, p.Options)
	if err != nil {
		return err
	}
	if p.Output == ui.JSON {
		return ui.Encode(p.UI.Out, p.Output, res)
	}
	predict.Text(p.UI.Out, res)
	return nil
}

// PredictSource is url, else the lab's Prometheus reached through the API
// server's service proxy with the user's credentials (no port-forward).
func PredictSource(c *Config, url string) (*predict.Prometheus, error) {
	if url != "" {
		return predict.NewPrometheus(url, nil)
	}
	if !c.Lab.Stacks.Prometheus.Enabled {
		return nil, errors.New("the lab has no Prometheus (stacks.prometheus.enabled is false): pass --prometheus URL")
	}
	cfg, err := c.RESTConfig()
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

// Incidents is `lab agent incidents`: the agent's incident memory.
type Incidents struct {
	*Config
	Output ui.Format
}

// Run lists the remembered incidents.
func (i *Incidents) Run() error {
	list, err := memory.Open(memory.LabPath(i.Lab.Metadata.Name), i.Lab.Agent.Incidents).List()
	if err != nil {
		return err
	}
	if i.Output == ui.JSON {
		if list == nil {
			list = []memory.Incident{}
		}
		return ui.Encode(i.UI.Out, i.Output, list)
	}
	if len(list) == 0 {
		fmt.Fprintf(i.UI.Out, "no incidents remembered for lab %s yet\n", i.Lab.Metadata.Name)
		return nil
	}
	return memory.Table(i.UI.Out, list)
}
