package kwok

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"lab.dev/lab/core/kube"
	"lab.dev/lab/manifests"
)

// Scenario is a failure as data: the workload, the status kwok gives its pod
// (as the kubelet would report it), the events, the logs, and the finding a
// diagnosis must reach. Scenarios live as YAML files under manifests/scenarios.
type Scenario struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Objects     string          `json:"objects"`          // workload YAML; pods get the scenario label
	Status      json.RawMessage `json:"status,omitempty"` // PodStatus applied by kwok; ${NOW} and ${NOW-90s} are replaced
	Wait        string          `json:"wait,omitempty"`   // applied (default when status is set), unschedulable, running, none
	Events      []Event         `json:"events,omitempty"`
	Logs        []LogFiles      `json:"logs,omitempty"`
	Expect      Expect          `json:"expect"`
	dir         string
}

// Event is an event recorded for the scenario's pod, as the kubelet would.
type Event struct {
	Type    string `json:"type"` // Normal or Warning
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Count   int32  `json:"count,omitempty"`
	Source  string `json:"source,omitempty"` // component, default kubelet
	// About names the pod's owner the event is about (ReplicaSet, Deployment,
	// Job, StatefulSet), as controllers record quota and admission
	// rejections; empty: the pod itself.
	About string `json:"about,omitempty"`
}

// LogFiles gives a container's current and previous logs, inline or as files
// relative to the scenario file.
type LogFiles struct {
	Container    string `json:"container"`
	Current      string `json:"current,omitempty"`
	Previous     string `json:"previous,omitempty"`
	CurrentFile  string `json:"currentFile,omitempty"`
	PreviousFile string `json:"previousFile,omitempty"`
}

// Expect is the ground truth of a scenario.
type Expect struct {
	Category string   `json:"category"`           // e.g. OOMKilled, CrashLoopBackOff; empty: a healthy pod, no finding
	Cause    string   `json:"cause"`              // the cause in one line
	Evidence []string `json:"evidence,omitempty"` // what proves it (evidence ids or substrings)
	// Mentions are the decisive facts the root cause a user reads must
	// name, each matched case-insensitively; "a|b" accepts either wording.
	Mentions []string `json:"mentions,omitempty"`
}

// ScenarioLabel marks every pod of a scenario (value: scenario name).
const ScenarioLabel = "lab.dev/scenario"

// LoadScenario reads one scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseScenario(path, b)
	if err != nil {
		return nil, err
	}
	s.dir = filepath.Dir(path)
	return s, nil
}

// ParseScenario decodes a scenario strictly; name is for error messages.
func ParseScenario(name string, b []byte) (*Scenario, error) {
	var s Scenario
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if s.Name == "" || s.Objects == "" {
		return nil, fmt.Errorf("%s: name and objects are required", name)
	}
	return &s, nil
}

// Cited says whether evidence (a finding's evidence ids) cites every piece
// the scenario expects: an expected piece is an id or its prefix.
func (e Expect) Cited(evidence []string) bool {
	for _, want := range e.Evidence {
		if !slices.ContainsFunc(evidence, func(id string) bool { return strings.HasPrefix(id, want) }) {
			return false
		}
	}
	return true
}

// Judge scores a diagnosis against the ground truth, strictly: the primary
// finding's category must be the expected one and its cause must name every
// decisive fact (Mentions); a healthy pod (no expected category) must get no
// finding. It returns what is missing when the answer is wrong.
func (e Expect) Judge(category, cause string) (bool, string) {
	if e.Category == "" {
		if category != "" {
			return false, "a healthy pod got a " + category + " finding"
		}
		return true, ""
	}
	if category != e.Category {
		return false, fmt.Sprintf("category %q, want %q", category, e.Category)
	}
	low := strings.ToLower(cause)
	for _, m := range e.Mentions {
		ok := false
		for _, alt := range strings.Split(m, "|") {
			ok = ok || strings.Contains(low, strings.ToLower(alt))
		}
		if !ok {
			return false, fmt.Sprintf("the cause does not name %q", m)
		}
	}
	return true, ""
}

// ScenarioSets are the folders of embedded scenarios: the regression suite
// (written beside the detectors) and the held-out suite (written and frozen
// before the detectors were changed for it).
var ScenarioSets = []string{"scenarios", "scenarios/heldout"}

// EmbeddedScenarios returns the scenarios shipped in the binary, by name.
func EmbeddedScenarios() (map[string]*Scenario, error) {
	out := map[string]*Scenario{}
	for _, dir := range ScenarioSets {
		entries, err := fs.ReadDir(manifests.Scenarios, dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := manifests.Scenarios.ReadFile(dir + "/" + e.Name())
			if err != nil {
				return nil, err
			}
			s, err := ParseScenario("manifests/"+dir+"/"+e.Name(), b)
			if err != nil {
				return nil, err
			}
			if _, dup := out[s.Name]; dup {
				return nil, fmt.Errorf("manifests/%s/%s: a scenario named %s exists already", dir, e.Name(), s.Name)
			}
			out[s.Name] = s
		}
	}
	return out, nil
}

var nowRe = regexp.MustCompile(`\$\{NOW(-[0-9a-z.]+)?\}`)

// ExpandNow replaces ${NOW} and ${NOW-90s} in s with times relative to now.
func ExpandNow(s string, now time.Time) string {
	return nowRe.ReplaceAllStringFunc(s, func(m string) string {
		t := now
		if sub := nowRe.FindStringSubmatch(m)[1]; sub != "" {
			if d, err := time.ParseDuration(sub[1:]); err == nil {
				t = now.Add(-d)
			}
		}
		return t.UTC().Format(time.RFC3339)
	})
}

// Apply creates the scenario in namespace ns and waits until its pods reached
// the scenario's state; it returns the pods.
func (c *Cluster) Apply(ctx context.Context, s *Scenario, ns string) ([]corev1.Pod, error) {
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	objs, err := DecodeYAML([]byte(s.Objects))
	if err != nil {
		return nil, fmt.Errorf("scenario %s objects: %w", s.Name, err)
	}
	var status string
	if len(s.Status) > 0 {
		status = ExpandNow(string(s.Status), time.Now())
	}
	for _, o := range objs {
		o.SetNamespace(ns)
		markPods(o, s.Name, status)
	}
	var all []byte
	for _, o := range objs {
		b, _ := json.Marshal(o.Object)
		all = append(append(all, b...), []byte("\n---\n")...)
	}
	if err := c.CreateYAML(ctx, all); err != nil {
		return nil, err
	}
	pods, err := c.waitPods(ctx, s, ns, "created")
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		if err := c.scenarioLogsAndEvents(ctx, s, &p); err != nil {
			return nil, err
		}
	}
	wait := s.Wait
	if wait == "" {
		wait = "none"
		if status != "" {
			wait = "applied"
		}
	}
	return c.waitPods(ctx, s, ns, wait)
}

// desired is the part of the scenario status Apply waits for.
type desired struct {
	Phase             corev1.PodPhase `json:"phase"`
	ContainerStatuses []any           `json:"containerStatuses"`
}

// markPods labels the scenario's pods (directly or through pod templates) and
// gives them the status annotation kwok's lab-pod-scenario stage applies.
func markPods(o *unstructured.Unstructured, name, status string) {
	path, ok := kube.PodTemplatePath(o.GetKind())
	if !ok {
		return
	}
	meta := append(append([]string{}, path...), "metadata")
	labels, _, _ := unstructured.NestedStringMap(o.Object, append(meta, "labels")...)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ScenarioLabel] = name
	_ = unstructured.SetNestedStringMap(o.Object, labels, append(meta, "labels")...)
	if status != "" {
		ann, _, _ := unstructured.NestedStringMap(o.Object, append(meta, "annotations")...)
		if ann == nil {
			ann = map[string]string{}
		}
		ann["lab.dev/status"] = status
		_ = unstructured.SetNestedStringMap(o.Object, ann, append(meta, "annotations")...)
	}
}

func (c *Cluster) scenarioLogsAndEvents(ctx context.Context, s *Scenario, p *corev1.Pod) error {
	if len(s.Logs) > 0 {
		logs, err := s.ContainerLogs()
		if err != nil {
			return err
		}
		if err := c.SetLogs(ctx, p.Namespace, p.Name, logs); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	evs, err := s.EventsFor(ctx, c.Client, p, time.Now())
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if _, err := c.Client.CoreV1().Events(p.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// EventsFor is the scenario's events about pod p (or the owner an event is
// about, found through cs), as the kubelet or a controller records them.
func (s *Scenario) EventsFor(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod, now time.Time) ([]*corev1.Event, error) {
	var out []*corev1.Event
	for i, e := range s.Events {
		count := e.Count
		if count == 0 {
			count = 1
		}
		src := e.Source
		if src == "" {
			src = "kubelet"
		}
		about := corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID, APIVersion: "v1"}
		if e.About != "" {
			var err error
			if about, err = OwnerOf(ctx, cs, p, e.About); err != nil {
				return nil, fmt.Errorf("scenario %s event %d: %w", s.Name, i, err)
			}
		}
		out = append(out, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", p.Name, i), Namespace: p.Namespace},
			InvolvedObject: about,
			Type:           e.Type, Reason: e.Reason, Message: ExpandNow(e.Message, now), Count: count,
			Source:         corev1.EventSource{Component: src, Host: p.Spec.NodeName},
			FirstTimestamp: metav1.NewTime(now.Add(-time.Duration(count) * 30 * time.Second)), LastTimestamp: metav1.NewTime(now),
		})
	}
	return out, nil
}

// OwnerOf follows the pod's controller references up to the owner of kind.
func OwnerOf(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod, kind string) (corev1.ObjectReference, error) {
	var obj metav1.Object = p
	for depth := 0; depth < 4; depth++ {
		ref := metav1.GetControllerOf(obj)
		if ref == nil {
			break
		}
		if ref.Kind == kind {
			return corev1.ObjectReference{Kind: ref.Kind, APIVersion: ref.APIVersion, Namespace: p.Namespace, Name: ref.Name, UID: ref.UID}, nil
		}
		var err error
		switch ref.Kind {
		case "ReplicaSet":
			obj, err = cs.AppsV1().ReplicaSets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		case "Job":
			obj, err = cs.BatchV1().Jobs(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		default:
			err = fmt.Errorf("cannot follow %s %s", ref.Kind, ref.Name)
		}
		if err != nil {
			return corev1.ObjectReference{}, err
		}
	}
	return corev1.ObjectReference{}, fmt.Errorf("pod %s has no %s owner", p.Name, kind)
}

// ContainerLogs is every container's current and previous log, expanded.
func (s *Scenario) ContainerLogs() ([]ContainerLogs, error) {
	var logs []ContainerLogs
	for _, l := range s.Logs {
		cur, err := s.text(l.Current, l.CurrentFile)
		if err != nil {
			return nil, err
		}
		prev, err := s.text(l.Previous, l.PreviousFile)
		if err != nil {
			return nil, err
		}
		logs = append(logs, ContainerLogs{Container: l.Container, Current: cur, Previous: prev})
	}
	return logs, nil
}

// repeatRe marks a generated block in a log: a line of the form
// `{{repeat 50000 "INFO heartbeat seq=%d ok"}}` becomes 50,000 lines, %d
// numbered — noisy logs without committing megabytes.
var repeatRe = regexp.MustCompile(`^\{\{repeat (\d+) "(.*)"\}\}$`)

func (s *Scenario) text(inline, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(filepath.Join(s.dir, file))
		if err != nil {
			return "", err
		}
		inline = string(b)
	}
	if !strings.Contains(inline, "{{repeat ") {
		return inline, nil
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(inline, "\n") {
		m := repeatRe.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil {
			b.WriteString(line)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		for i := 0; i < n; i++ {
			if strings.Contains(m[2], "%d") {
				fmt.Fprintf(&b, m[2]+"\n", i)
			} else {
				b.WriteString(m[2] + "\n")
			}
		}
	}
	return b.String(), nil
}

func (c *Cluster) waitPods(ctx context.Context, s *Scenario, ns, state string) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := c.Proc("kwok").WaitFor(wctx, fmt.Sprintf("scenario %s pods %s", s.Name, state), func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: ScenarioLabel + "=" + s.Name})
		if err != nil || len(list.Items) == 0 {
			return false, err
		}
		pods = list.Items
		var want desired
		_ = json.Unmarshal(s.Status, &want)
		for _, p := range pods {
			if !podIn(&p, state, want) {
				return false, nil
			}
		}
		return true, nil
	})
	return pods, err
}

func podIn(p *corev1.Pod, state string, want desired) bool {
	switch state {
	case "created", "none":
		return true
	case "applied":
		return p.Annotations["lab.dev/status-applied"] == "true" &&
			(want.Phase == "" || p.Status.Phase == want.Phase) &&
			(len(want.ContainerStatuses) == 0 || len(p.Status.ContainerStatuses) > 0)
	case "running":
		return p.Status.Phase == corev1.PodRunning
	case "unschedulable":
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && strings.Contains(c.Reason, "Unschedulable") {
				return true
			}
		}
	}
	return false
}
