// Package pipeline runs `lab up`: ordered steps sharing one Context, each
// inspecting what exists and acting only on the difference, with a journal
// on the host so an interrupted run (Ctrl-C, crash, failed step) says where
// it stopped and the next run converges from there.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"

	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/stacks"
)

// Context is what steps share.
type Context struct {
	Lab      *config.Lab
	Dir      string // the lab's state folder on the host
	Provider cluster.Provider
	UI       *ui.UI
	Force    bool
	Model    string // the Ollama model, resolved from VRAM by the caller ("" = by lab.yaml, CPU)
	Bundle   string // lab bundle archive: install charts from it, fetch nothing
	// BundleDigest: the bundle's pinned identity ("" : not pinned).
	BundleDigest string
	Client       kubernetes.Interface // set once the cluster is reachable
	Doctor       *doctor.Env          // the preflight's environment (Up sets it: DoctorEnv)

	bundle    *stacks.BundleManifest // the opened Bundle, once
	preflight *doctor.Report         // the preflight's report, once per run
}

// Step is one idempotent unit of `lab up`.
type Step struct {
	Name string
	// Inspect says whether the step has nothing to do, and why.
	Inspect func(ctx context.Context, c *Context) (done bool, why string, err error)
	// Apply acts on the difference and says what it did.
	Apply func(ctx context.Context, c *Context) (note string, err error)
}

// Journal is the record of the last run, in <state dir>/journal.json.
type Journal struct {
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Completed []string  `json:"completed"`
	Failed    string    `json:"failed,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// JournalPath is where the journal of the lab in dir lives.
func JournalPath(dir string) string { return filepath.Join(dir, "journal.json") }

// ReadJournal reads the last run's journal; a missing one is empty.
func ReadJournal(dir string) (Journal, error) {
	var j Journal
	b, err := os.ReadFile(JournalPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return j, err
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return j, fmt.Errorf("%s is unreadable (%v): remove it and run `lab up` again", JournalPath(dir), err)
	}
	return j, nil
}

func writeJournal(dir string, j Journal) error {
	b, _ := json.MarshalIndent(j, "", "  ")
	return state.WriteFile(JournalPath(dir), b, 0o600)
}

// Result sums up a run.
type Result struct {
	Changed    []string // steps that acted
	Skipped    []string // steps that had nothing to do
	Kubeconfig string   // the lab's kubeconfig, once up
}

// Run runs steps in order. A step whose Inspect says done is skipped with its
// reason; otherwise Apply runs. The journal is written after every step, so
// a run killed at any boundary leaves an accurate record.
func Run(ctx context.Context, c *Context, steps []Step) (Result, error) {
	var res Result
	prev, err := ReadJournal(c.Dir)
	if err != nil {
		return res, fmt.Errorf("reading journal: %w", err)
	}
	if prev.Finished.IsZero() && !prev.Started.IsZero() {
		where := "before its first step"
		if n := len(prev.Completed); n > 0 {
			where = "after step " + prev.Completed[n-1]
		}
		if prev.Failed != "" {
			where = "at step " + prev.Failed + ": " + prev.Error
		}
		c.UI.Progress("resuming: the last `lab up` (%s) stopped %s", prev.Started.Format(time.RFC3339), where)
	}
	j := Journal{Started: time.Now().UTC()}
	if err := writeJournal(c.Dir, j); err != nil {
		return res, err
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		done, why, err := s.Inspect(ctx, c)
		if err == nil && done {
			c.UI.Progress("%s %s: nothing to do (%s)", c.UI.Mark(ui.MarkOK), s.Name, why)
			res.Skipped = append(res.Skipped, s.Name)
		} else {
			if err != nil {
				c.UI.Debug(1, "%s: inspect failed, applying: %v", s.Name, err)
			} else if why != "" {
				c.UI.Debug(1, "%s: %s", s.Name, why)
			}
			err = c.UI.Step(s.Name, func() (string, error) { return s.Apply(ctx, c) })
			if err != nil {
				j.Failed, j.Error = s.Name, err.Error()
				_ = writeJournal(c.Dir, j)
				return res, fmt.Errorf("step %s: %w", s.Name, err)
			}
			res.Changed = append(res.Changed, s.Name)
		}
		j.Completed = append(j.Completed, s.Name)
		if err := writeJournal(c.Dir, j); err != nil {
			return res, err
		}
	}
	j.Finished = time.Now().UTC()
	return res, writeJournal(c.Dir, j)
}

// client is the lab's clientset, made once the cluster is reachable.
func (c *Context) client() (kubernetes.Interface, error) {
	if c.Client != nil {
		return c.Client, nil
	}
	cfg, err := c.Provider.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err == nil {
		c.Client = cs
	}
	return cs, err
}
