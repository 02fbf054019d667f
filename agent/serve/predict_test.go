package serve

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"lab.dev/lab/agent/predict"
	"lab.dev/lab/agent/report"
)

type countSink struct {
	mu  sync.Mutex
	got []string
}

func (c *countSink) Write(_ context.Context, t Target, _ *report.Report) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, t.Alert+" "+t.Namespace+"/"+t.Pod)
	return nil
}

func (c *countSink) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// One alert per incident while it stays predicted; a run that fails changes
// nothing; an incident that clears and comes back alerts again.
func TestPredictionsAlertOncePerIncident(t *testing.T) {
	leak := &predict.Prediction{Kind: predict.Memory, Target: predict.Target{Namespace: "shop", Pod: "cart-0", Container: "app"}}
	disk := &predict.Prediction{Kind: predict.Disk, Target: predict.Target{Namespace: "shop", PVC: "data"}}
	script := []func() (*predict.Result, error){
		func() (*predict.Result, error) { return &predict.Result{Predictions: []*predict.Prediction{leak}}, nil },
		func() (*predict.Result, error) {
			return &predict.Result{Predictions: []*predict.Prediction{leak, disk}}, nil
		},
		func() (*predict.Result, error) { return nil, errors.New("prometheus down") },
		func() (*predict.Result, error) {
			return &predict.Result{Predictions: []*predict.Prediction{leak, disk}}, nil
		},
		func() (*predict.Result, error) { return &predict.Result{Predictions: []*predict.Prediction{disk}}, nil }, // the leak cleared
		func() (*predict.Result, error) {
			return &predict.Result{Predictions: []*predict.Prediction{leak, disk}}, nil
		}, // and is back
	}
	sink := &countSink{}
	m := NewMetrics()
	s := New(Options{}, nil, m, sink)
	pr := &Predictor{Every: time.Hour, active: map[string]bool{},
		Explain: func(context.Context, *predict.Prediction) (*report.Report, error) { return &report.Report{}, nil }}
	for _, step := range script {
		pr.Run = func(context.Context) (*predict.Result, error) { return step() }
		s.predictOnce(context.Background(), pr)
	}
	want := []string{"SaturationPredicted/memory shop/cart-0", "SaturationPredicted/pvc shop/pvc/data", "SaturationPredicted/memory shop/cart-0"}
	if len(sink.got) != len(want) {
		t.Fatalf("alerts %v, want %v", sink.got, want)
	}
	for i := range want {
		if sink.got[i] != want[i] {
			t.Errorf("alert %d: %s, want %s", i, sink.got[i], want[i])
		}
	}
}
