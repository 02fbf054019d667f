package serve

import (
	"testing"

	"github.com/prometheus/alertmanager/template"
)

// Which alerts become targets, and as what: a failure names a pod; lab's
// predictive alerts name a container (memory, cpu) or a claim (pvc, as
// "pvc/NAME"); a node's prediction, a resolved alert and one with no pod
// are ignored. A prediction and a failure of one pod dedupe apart.
func TestTargetsOfPredictiveAlerts(t *testing.T) {
	alert := func(labels map[string]string) template.Alert { return template.Alert{Status: "firing", Labels: labels} }
	m := &Message{Data: &template.Data{Alerts: template.Alerts{
		alert(map[string]string{"alertname": "LabContainerRestarted", "namespace": "shop", "pod": "cart-0", "container": "app"}),
		alert(map[string]string{"alertname": "LabMemorySaturationPredicted", "namespace": "shop", "pod": "cart-0", "container": "app", "lab_prediction": "memory"}),
		alert(map[string]string{"alertname": "LabVolumeFullPredicted", "namespace": "shop", "persistentvolumeclaim": "data-db-0", "lab_prediction": "pvc"}),
		alert(map[string]string{"alertname": "LabNodeMemoryPredicted", "node": "worker-2", "lab_prediction": "node-memory"}),
		alert(map[string]string{"alertname": "LabMemorySaturationPredicted", "namespace": "shop", "pod": "x", "lab_prediction": "gpu"}),
		{Status: "resolved", Labels: map[string]string{"alertname": "LabContainerRestarted", "namespace": "shop", "pod": "cart-0"}},
	}}}
	got, ignored := Targets(m)
	if ignored != 3 || len(got) != 3 {
		t.Fatalf("targets %+v, ignored %d", got, ignored)
	}
	if got[0].Prediction != "" || got[0].Container != "" {
		t.Errorf("a failure alert is no prediction: %+v", got[0])
	}
	if got[1].Prediction != "memory" || got[1].Container != "app" || got[1].Pod != "cart-0" {
		t.Errorf("memory prediction: %+v", got[1])
	}
	if got[2].Prediction != "pvc" || got[2].Pod != "pvc/data-db-0" {
		t.Errorf("pvc prediction: %+v", got[2])
	}
	if got[0].key() == got[1].key() {
		t.Errorf("a prediction and a failure of one pod share the dedupe key %q", got[0].key())
	}
}
