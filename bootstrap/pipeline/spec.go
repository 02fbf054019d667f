package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/kube"
	"lab.dev/lab/core/state"
)

// ErrSpecChanged is returned when lab.yaml changed the cluster in a way that
// needs --force.
var ErrSpecChanged = errors.New("the cluster spec changed; re-run with --force to apply it")

// Spec records where the applied lab.yaml is kept in the cluster.
const (
	SpecNamespace = "lab-system"
	SpecConfigMap = "lab-spec"
	appliedFile   = "applied.json"
	modelFile     = "applied-model"
)

// Change is one field whose value differs between two specs.
type Change struct {
	Path string `json:"path"`
	From string `json:"from"`
	To   string `json:"to"`
}

func (c Change) String() string { return fmt.Sprintf("%s: %s → %s", c.Path, c.From, c.To) }

// Diff compares two labs field by field (flattened JSON paths), sorted.
func Diff(old, new *config.Lab) []Change {
	a, b := flatten(old), flatten(new)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		if a[k] != b[k] {
			from, to := a[k], b[k]
			if from == "" {
				from = "(unset)"
			}
			if to == "" {
				to = "(unset)"
			}
			out = append(out, Change{Path: k, From: from, To: to})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func flatten(l *config.Lab) map[string]string {
	out := map[string]string{}
	if l == nil {
		return out
	}
	b := config.Encode(l)
	var v any
	_ = json.Unmarshal(b, &v)
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x)
			}
		case []any:
			for i, x := range t {
				walk(fmt.Sprintf("%s[%d]", prefix, i), x)
			}
		default:
			js, _ := json.Marshal(t)
			out[prefix] = string(js)
		}
	}
	walk("", v)
	return out
}

// ClusterChanges are the changes under cluster.* — the ones that alter or
// recreate the cluster and need --force.
func ClusterChanges(changes []Change) []Change {
	var out []Change
	for _, c := range changes {
		if strings.HasPrefix(c.Path, "cluster.") {
			out = append(out, c)
		}
	}
	return out
}

// NeedsRecreate reports whether changes can only be applied by a new
// cluster. kind and k3d clusters are recreated for any change of their nodes.
func NeedsRecreate(caps config.Capabilities, changes []Change) bool {
	if caps.RecreateOnChange && len(changes) > 0 {
		return true
	}
	for _, c := range changes {
		for _, p := range []string{"cluster.provider", "cluster.kubernetesVersion", "cluster.nodeImage", "cluster.kwok.binDir"} {
			if c.Path == p {
				return true
			}
		}
	}
	return false
}

// ReadApplied reads the spec the last successful `lab up` applied (host copy).
func ReadApplied(dir string) (*config.Lab, error) {
	b, err := os.ReadFile(filepath.Join(dir, appliedFile))
	if err != nil {
		return nil, err
	}
	return config.Decode(b)
}

func specJSON(l *config.Lab) string { return string(config.Encode(l)) }

// AppliedModel is the Ollama model the last successful `lab up` resolved
// (stacks.ollama.model, or the one `auto` chose for the GPU).
func AppliedModel(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, modelFile))
	return strings.TrimSpace(string(b)), err
}

// recordSpec writes the applied spec and model to the cluster (ConfigMap)
// and the host.
func recordSpec(ctx context.Context, cs kubernetes.Interface, dir string, l *config.Lab, model string) error {
	js := specJSON(l)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SpecNamespace, Labels: kube.Managed(nil)}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: SpecConfigMap, Namespace: SpecNamespace, Labels: kube.Managed(nil)},
		Data:       recordData(dir, js, model),
	}
	cmc := cs.CoreV1().ConfigMaps(SpecNamespace)
	if cur, err := cmc.Get(ctx, SpecConfigMap, metav1.GetOptions{}); err == nil {
		cm.ResourceVersion = cur.ResourceVersion
		_, err = cmc.Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if apierrors.IsNotFound(err) {
		if _, err := cmc.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return err
		}
	} else {
		return err
	}
	if err := state.WriteFile(filepath.Join(dir, modelFile), []byte(model+"\n"), 0o600); err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(dir, appliedFile), []byte(js), 0o600)
}

// recordData is what lab-spec holds: the applied spec, the model, when,
// and where the lab's state folder is (host and path): what `lab down
// --all` reads to find a lab's cluster whose state folder is gone.
func recordData(dir, js, model string) map[string]string {
	d := map[string]string{"lab.json": js, "model": model, "appliedAt": time.Now().UTC().Format(time.RFC3339)}
	if abs, err := filepath.Abs(dir); err == nil {
		d[recordDir] = abs
	}
	if h, err := os.Hostname(); err == nil {
		d[recordHost] = h
	}
	return d
}

// The keys of lab-spec that say where the lab's state folder is.
const recordDir, recordHost = "stateDir", "host"

// recordedSpec reads the spec and model stored in the cluster ("" when none).
func recordedSpec(ctx context.Context, cs kubernetes.Interface) (spec, model string, err error) {
	d, err := recorded(ctx, cs)
	return d["lab.json"], d["model"], err
}

// recorded is what lab-spec holds (nil when the cluster has none).
func recorded(ctx context.Context, cs kubernetes.Interface) (map[string]string, error) {
	cm, err := cs.CoreV1().ConfigMaps(SpecNamespace).Get(ctx, SpecConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return cm.Data, nil
}
