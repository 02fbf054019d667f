package pipeline

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"time"

	"lab.dev/lab/bootstrap/doctor"
)

// Meta labels a lab on the host: what `lab down --all --older-than` reads.
type Meta struct {
	Name     string    `json:"name"`
	Provider string    `json:"provider"`
	Created  time.Time `json:"created"`
	Config   string    `json:"config,omitempty"` // lab.yaml it was made from
}

// LabsDir holds one folder per lab.
func LabsDir() string { return filepath.Join(doctor.StateDir(), "labs") }

// LabDir is the state folder of the lab called name.
func LabDir(name string) string { return filepath.Join(LabsDir(), name) }

// EnsureMeta creates dir and its meta.json unless present.
func EnsureMeta(dir string, m Meta) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, "meta.json")
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return os.WriteFile(p, b, 0o600)
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
