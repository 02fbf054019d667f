package deploy

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PriorityLevel is the agent's APF priority level name (and FlowSchema name).
const PriorityLevel = "lab-agent"

// APFStatus is what the API server reports about the agent's priority level.
type APFStatus struct {
	FlowSchema       string             `json:"flowSchema"`
	Dangling         string             `json:"dangling"` // the FlowSchema's Dangling condition
	NominalSeats     float64            `json:"nominalLimitSeats"`
	CurrentSeats     float64            `json:"currentLimitSeats"`
	ExecutingSeats   float64            `json:"executingSeats"`
	InQueue          float64            `json:"inQueueRequests"`
	Dispatched       float64            `json:"dispatchedTotal"`
	Rejected         float64            `json:"rejectedTotal"`
	RejectedByReason map[string]float64 `json:"rejectedByReason,omitempty"`
}

// ReadAPF reads the FlowSchema's condition and the apiserver_flowcontrol_*
// metrics of the agent's priority level from the API server's /metrics.
func ReadAPF(ctx context.Context, cs kubernetes.Interface) (APFStatus, error) {
	st := APFStatus{FlowSchema: PriorityLevel, Dangling: "missing"}
	if dangling, _, err := flowSchemaDangling(ctx, cs); err == nil && dangling != "" {
		st.Dangling = dangling
	}
	lvl, err := ReadLevel(ctx, cs, PriorityLevel)
	lvl.FlowSchema, lvl.Dangling = st.FlowSchema, st.Dangling
	return lvl, err
}

// flowSchemaDangling reads the agent FlowSchema's Dangling condition: its
// status ("True", "False", or "" before the API server set it) and message.
func flowSchemaDangling(ctx context.Context, cs kubernetes.Interface) (string, string, error) {
	fs, err := cs.FlowcontrolV1().FlowSchemas().Get(ctx, PriorityLevel, metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	for _, c := range fs.Status.Conditions {
		if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
			return string(c.Status), c.Message, nil
		}
	}
	return "", "", nil
}

// ReadLevel reads the apiserver_flowcontrol_* metrics of one priority level
// (lab's or a built-in one such as workload-low) from the API server's /metrics.
func ReadLevel(ctx context.Context, cs kubernetes.Interface, level string) (APFStatus, error) {
	st := APFStatus{RejectedByReason: map[string]float64{}}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return st, fmt.Errorf("reading the API server's /metrics: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_flowcontrol_") || !strings.Contains(line, `priority_level="`+level+`"`) {
			continue
		}
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch name {
		case "apiserver_flowcontrol_nominal_limit_seats":
			st.NominalSeats = value
		case "apiserver_flowcontrol_current_limit_seats":
			st.CurrentSeats = value
		case "apiserver_flowcontrol_current_executing_seats":
			st.ExecutingSeats += value
		case "apiserver_flowcontrol_current_inqueue_requests":
			st.InQueue += value
		case "apiserver_flowcontrol_dispatched_requests_total":
			st.Dispatched += value
		case "apiserver_flowcontrol_rejected_requests_total":
			st.Rejected += value
			st.RejectedByReason[labels["reason"]] += value
		}
	}
	return st, sc.Err()
}

// parseSample splits `name{a="b",c="d"} 12` (Prometheus text format).
func parseSample(line string) (string, map[string]string, float64, bool) {
	open, close := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || close < open {
		return "", nil, 0, false
	}
	labels := map[string]string{}
	for _, kv := range strings.Split(line[open+1:close], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			labels[k] = strings.Trim(v, `"`)
		}
	}
	f := strings.Fields(line[close+1:])
	if len(f) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return line[:open], labels, v, err == nil
}
