//go:build integration

package integration

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"lab.dev/lab/test/harness"
)

// The API server runs API Priority and Fairness: a FlowSchema pointing at an
// existing priority level is reported Dangling=False by its controller.
func TestFlowSchemaNotDangling(t *testing.T) {
	ctx := testCtx(t)
	fc := cluster.Client.FlowcontrolV1()
	pl := &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "harness-agent"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: ptr(int32(5)),
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
					Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 8, HandSize: 2, QueueLengthLimit: 20}},
			},
		},
	}
	if _, err := fc.PriorityLevelConfigurations().Create(ctx, pl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fs := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "harness-agent"},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "harness-agent"},
			MatchingPrecedence:         1000,
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindServiceAccount,
					ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Namespace: "lab-agent", Name: "lab-agent"}}},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"*"}, Resources: []string{"*"}, Namespaces: []string{"*"}}},
			}},
		},
	}
	if _, err := fc.FlowSchemas().Create(ctx, fs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The APF config controller is eventually consistent: right after both
	// objects are created it may still report Dangling=True.
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		got, err := fc.FlowSchemas().Get(ctx, "harness-agent", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got.Status.Conditions {
			if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
				if c.Status == flowcontrolv1.ConditionFalse {
					t.Logf("FlowSchema harness-agent Dangling=%s (%s)", c.Status, c.Reason)
					return
				}
				last = string(c.Status) + ": " + c.Message
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not Dangling=False after 30s; last: %s", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A Deployment's pod is driven by kwok into CrashLoopBackOff with last state
// OOMKilled, and its previous logs come back through the API server.
func TestCrashLoopOOMKilledWithPreviousLogs(t *testing.T) {
	ctx := testCtx(t)
	s, err := harness.LoadScenario("../../manifests/scenarios/crashloop-oom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cluster.Apply(ctx, s, "harness-oom")
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 {
		t.Fatalf("%d pods", len(pods))
	}
	p := pods[0]
	if len(p.OwnerReferences) == 0 || p.OwnerReferences[0].Kind != "ReplicaSet" {
		t.Errorf("pod not created by the Deployment's ReplicaSet: %+v", p.OwnerReferences)
	}
	if p.Spec.NodeName == "" {
		t.Error("pod not scheduled by kube-scheduler")
	}
	cs := p.Status.ContainerStatuses[0]
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" {
		t.Errorf("state: %+v", cs.State)
	}
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.Reason != "OOMKilled" || cs.LastTerminationState.Terminated.ExitCode != 137 {
		t.Errorf("last state: %+v", cs.LastTerminationState)
	}
	if cs.RestartCount != 7 {
		t.Errorf("restartCount %d", cs.RestartCount)
	}
	read := func(previous bool) string {
		rc, err := cluster.Client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "app", Previous: previous}).Stream(ctx)
		if err != nil {
			t.Fatalf("logs previous=%v: %v", previous, err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	if prev := read(true); !strings.Contains(prev, "heap=247MiB") {
		t.Errorf("previous logs: %q", prev)
	}
	if cur := read(false); !strings.Contains(cur, "ledger starting") || strings.Contains(cur, "heap=247MiB") {
		t.Errorf("current logs: %q", cur)
	}
	evs, err := cluster.Client.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
	if err != nil || len(evs.Items) < 2 {
		t.Errorf("events: %v %d", err, len(evs.Items))
	}
}

// A real `ollama serve` answers /api/chat with a JSON-schema `format`; the
// grammar-constrained output parses and fits the schema.
func TestOllamaChatJSONSchema(t *testing.T) {
	o := sharedOllama(t)
	ctx := testCtx(t)
	schema := json.RawMessage(`{"type":"object","properties":{"healthy":{"type":"boolean"},"severity":{"type":"string","enum":["low","high"]}},"required":["healthy","severity"]}`)
	stream := false
	var resp api.ChatResponse
	err := o.Client.Chat(ctx, &api.ChatRequest{
		Model:    o.Model,
		Messages: []api.Message{{Role: "user", Content: "Is the pod healthy? Answer in JSON."}},
		Format:   schema,
		Stream:   &stream,
		Options:  map[string]any{"seed": 1, "num_predict": 128},
	}, func(r api.ChatResponse) error { resp = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Healthy  *bool  `json:"healthy"`
		Severity string `json:"severity"`
	}
	if err := json.Unmarshal([]byte(resp.Message.Content), &got); err != nil {
		t.Fatalf("not JSON: %v: %q", err, resp.Message.Content)
	}
	if got.Healthy == nil || (got.Severity != "low" && got.Severity != "high") {
		t.Errorf("does not fit the schema: %q", resp.Message.Content)
	}
	t.Logf("ollama answered %q in %s (%d prompt tokens, %d generated)", resp.Message.Content, resp.TotalDuration, resp.PromptEvalCount, resp.EvalCount)
}

func ptr[T any](v T) *T { return &v }
