package stacks

import (
	"bytes"
	"fmt"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"lab.dev/lab/core/config"
	"lab.dev/lab/manifests"
)

// SaturationRules renders lab's PromQL saturation alerts (the Prometheus
// rule file manifests/prometheus/saturation-rules.yaml) with lab.yaml's
// agent.prediction: predict_linear's window, the horizon, how long a
// prediction holds before it fires, and the history a series needs first.
// A MinHistory of 0 drops the history guard.
func SaturationRules(p config.Prediction) ([]byte, error) {
	if p.Window <= 0 || p.Horizon <= 0 {
		return nil, fmt.Errorf("agent.prediction: window (%s) and horizon (%s) must be more than 0", p.Window, p.Horizon)
	}
	prom := func(d time.Duration) string { return model.Duration(d.Round(time.Second)).String() }
	data := map[string]any{"Window": prom(p.Window), "Horizon": prom(p.Horizon), "HorizonSeconds": int64(p.Horizon.Seconds()),
		"For": prom(p.For), "MinHistory": ""}
	if p.MinHistory > 0 {
		data["MinHistory"] = prom(p.MinHistory)
	}
	t, err := template.New("saturation-rules.yaml").Delims("<%", "%>").Option("missingkey=error").Parse(string(manifests.SaturationRules))
	if err != nil {
		return nil, fmt.Errorf("manifests/prometheus/saturation-rules.yaml: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("manifests/prometheus/saturation-rules.yaml: %w", err)
	}
	return b.Bytes(), nil
}
