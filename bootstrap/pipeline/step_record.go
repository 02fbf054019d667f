package pipeline

import (
	"context"
	"os"
	"path/filepath"
)

// record keeps the applied lab.yaml (and the model it resolved to) in
// ConfigMap lab-system/lab-spec and on the host, for the next up's diff,
// `lab status` and `lab diagnose`.
var recordStep = Step{Name: "record",
	Inspect: func(ctx context.Context, c *Context) (bool, string, error) {
		cs, err := c.client()
		if err != nil {
			return false, "", err
		}
		d, err := recorded(ctx, cs)
		if err != nil {
			return false, "", err
		}
		got := d["lab.json"]
		host, herr := os.ReadFile(filepath.Join(c.Dir, appliedFile))
		hostModel, _ := AppliedModel(c.Dir)
		abs, _ := filepath.Abs(c.Dir)
		ok := got == specJSON(c.Lab) && herr == nil && string(host) == got && d["model"] == c.Model && hostModel == c.Model && d[recordDir] == abs
		return ok, "applied spec already recorded", nil
	},
	Apply: func(ctx context.Context, c *Context) (string, error) {
		cs, err := c.client()
		if err != nil {
			return "", err
		}
		return "ConfigMap " + SpecNamespace + "/" + SpecConfigMap, recordSpec(ctx, cs, c.Dir, c.Lab, c.Model)
	}}
