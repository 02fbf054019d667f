package agent

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/agent/analyze"
	"lab.dev/lab/agent/collect"
	"lab.dev/lab/agent/predict"
	"lab.dev/lab/agent/report"
)

// PredictionReport is the report a predictive alert carries: the prediction
// as the primary finding with its series as evidence, then what a diagnosis
// of the pod finds now (when the target is a pod that exists). The model is
// not asked: the prediction is arithmetic on the series, and the rules'
// view of the pod is what an operator needs beside it.
func PredictionReport(ctx context.Context, cs kubernetes.Interface, p *predict.Prediction, o Options) (*report.Report, error) {
	var r *report.Report
	if p.Target.Pod != "" && cs != nil {
		o.NoLLM = true
		if d, err := Diagnose(ctx, cs, p.Target.Namespace, p.Target.Pod, o); err == nil {
			r = d
		}
	}
	if r == nil {
		r = &report.Report{TraceID: NewTraceID(), Namespace: p.Target.Namespace, Pod: p.Target.Pod, Time: time.Now().UTC(),
			Model: report.ModelPart{Mode: "human-operator", Reason: "a prediction; no pod to diagnose"}}
	}
	r.Findings = append([]analyze.Finding{PredictionFinding(p)}, r.Findings...)
	r.Evidence = append(r.Evidence, collect.Evidence{ID: p.Evidence.ID, Kind: "metric", Summary: p.Evidence.Summary})
	return r, nil
}

// PredictionFinding states a prediction the way a detector states a failure.
func PredictionFinding(p *predict.Prediction) analyze.Finding {
	sev := analyze.Warning
	if p.In < 30*time.Minute {
		sev = analyze.Critical
	}
	what := map[predict.Kind]string{predict.Memory: "its memory limit (OOM kill)", predict.CPU: "its CPU limit (throttling)",
		predict.Disk: "the volume's capacity (writes fail)", predict.NodeMem: "the node's allocatable memory (evictions)",
		predict.Restarts: "its next restart"}[p.Kind]
	f := analyze.Finding{Detector: "saturation-prediction", Category: "SaturationPredicted", Severity: sev, Container: p.Target.Container,
		Cause: fmt.Sprintf("%s is predicted to reach %s in %s (95 %% band %s–%s, at %s): %s",
			p.Target, what, predict.Duration(p.In), predict.Duration(p.Earliest), predict.Duration(p.Latest), p.At.Format(time.RFC3339), p.Evidence.Summary),
		Evidence: []string{p.Evidence.ID}}
	switch p.Kind {
	case predict.Memory:
		f.Runbook = []string{"compare the working set with the limit: raise the limit in git if the growth is load, or take a heap profile if it is a leak",
			"check the last deploy: a leak that started with a release is rolled back, not given more memory"}
	case predict.CPU:
		f.Runbook = []string{"raise the CPU limit or scale out before throttling adds latency", "look for a hot loop or a load increase in the same window"}
	case predict.Disk:
		f.Runbook = []string{"expand the PVC (allowVolumeExpansion) or clean up what fills it", "check retention/compaction settings of what writes there"}
	case predict.NodeMem:
		f.Runbook = []string{"move or limit the pods that grow on the node before the kubelet evicts", "add a node or lower requests that overcommit it"}
	case predict.Restarts:
		f.Runbook = []string{"diagnose the pod (lab diagnose): the restarts are the failure, not the prediction"}
	}
	return f
}
