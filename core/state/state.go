// Package state owns where lab keeps a lab's host state — $LAB_HOME (else
// $XDG_STATE_HOME/lab, else ~/.local/state/lab), one folder per lab under
// labs/ — the meta.json that labels each lab for `lab down --all`, and the
// one way lab writes a state file: atomically, so a process killed at any
// instant leaves either the old file or the new one, never half of it.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Home is where lab keeps per-lab host state (kubeconfigs, journals,
// certificates).
func Home() string {
	if d := os.Getenv("LAB_HOME"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "lab")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		// No home: a per-user folder in the user's runtime dir or cache,
		// never a shared, guessable /tmp/lab another user could create first.
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			return filepath.Join(d, "lab")
		}
		if d, err := os.UserCacheDir(); err == nil {
			return filepath.Join(d, "lab", "state")
		}
		return filepath.Join(os.TempDir(), fmt.Sprintf("lab-%d", os.Getuid()))
	}
	return filepath.Join(home, ".local", "state", "lab")
}

// LabsDir holds one folder per lab.
func LabsDir() string { return filepath.Join(Home(), "labs") }

// LabDir is the state folder of the lab called name.
func LabDir(name string) string { return filepath.Join(LabsDir(), name) }

// Meta labels a lab on the host: what `lab down --all --older-than` reads.
type Meta struct {
	Name     string    `json:"name"`
	Provider string    `json:"provider"`
	Created  time.Time `json:"created"`
	Config   string    `json:"config,omitempty"` // lab.yaml it was made from
}

// HasMeta reports whether dir holds a lab's meta.json: whether lab has
// begun to make this lab from this state home.
func HasMeta(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	return err == nil && json.Valid(b)
}

// EnsureMeta creates dir and its meta.json unless present.
func EnsureMeta(dir string, m Meta) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, "meta.json")
	if b, err := os.ReadFile(p); err == nil && json.Valid(b) {
		return nil
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return WriteFile(p, b, 0o600)
}

// ListLabs reads every lab's meta.json, oldest first.
func ListLabs() ([]Meta, error) {
	entries, err := os.ReadDir(LabsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Meta
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(LabsDir(), e.Name(), "meta.json"))
		if err != nil {
			continue
		}
		var m Meta
		if json.Unmarshal(b, &m) == nil {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}
