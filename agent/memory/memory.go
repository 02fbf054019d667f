// Package memory is the agent's incident memory: every diagnosis leaves a
// fingerprint, so a failure that comes back is recognised ("seen 4 times
// since …, last on cart (shop)"). Fingerprints are namespace-independent —
// category, owner kind, container, the decisive log line's template, exit
// code — and built from redacted text only. The store is a bounded JSON file
// beside the lab's state (the oldest incidents dropped), written atomically,
// so it survives `lab up`, `lab down` and the agent's restarts.
package memory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"lab.dev/lab/agent/digest"
	"lab.dev/lab/agent/redact"
	"lab.dev/lab/agent/report"
	"lab.dev/lab/core/state"
)

// Key is what makes two failures the same one.
type Key struct {
	// Namespace: a failure is the same one only within one namespace, so
	// what one namespace's pods wrote (a log line, a cause) never steers
	// the diagnosis of another's.
	Namespace string `json:"namespace"`
	Category  string `json:"category"`
	OwnerKind string `json:"ownerKind,omitempty"`
	Container string `json:"container,omitempty"`
	Template  string `json:"template,omitempty"` // the decisive log line, values as <*>, secrets redacted
	ExitCode  *int32 `json:"exitCode,omitempty"`
}

// Incident is one fingerprint and what the agent saw of it.
type Incident struct {
	Fingerprint string `json:"fingerprint"`
	Key         Key    `json:"key"`
	report.History
}

// Store is the memory file.
type Store struct {
	Path string
	Max  int // incidents kept (default 500)
	mu   sync.Mutex
}

// Open returns the store at path (it need not exist yet).
func Open(path string, max int) *Store {
	if max <= 0 {
		max = 500
	}
	return &Store{Path: path, Max: max}
}

// Fingerprint is r's key and its hash, or ok false when r has no finding.
func Fingerprint(r *report.Report) (Key, string, bool) {
	p := r.Primary()
	if p == nil {
		return Key{}, "", false
	}
	k := Key{Namespace: r.Namespace, Category: p.Category, Container: p.Container}
	if len(r.Owners) > 0 {
		k.OwnerKind = r.Owners[len(r.Owners)-1].Kind
	}
	if b := r.Source; b != nil {
		for _, id := range p.Evidence {
			if line, ok := logLine(r, id); ok {
				red, _ := redact.String(line)
				k.Template = digest.Template(red)
				break
			}
		}
		for _, s := range append(append(b.Pod.Status.InitContainerStatuses[:0:0], b.Pod.Status.InitContainerStatuses...), b.Pod.Status.ContainerStatuses...) {
			if s.Name != p.Container {
				continue
			}
			if t := s.LastTerminationState.Terminated; t != nil {
				k.ExitCode = &t.ExitCode
			} else if t := s.State.Terminated; t != nil {
				k.ExitCode = &t.ExitCode
			}
		}
	}
	j, _ := json.Marshal(k)
	sum := sha256.Sum256(j)
	return k, hex.EncodeToString(sum[:8]), true
}

// logLine is the text of a cited log line (log:app:previous#L12).
func logLine(r *report.Report, id string) (string, bool) {
	if !strings.HasPrefix(id, "log:") {
		return "", false
	}
	base, line, ok := strings.Cut(id, "#L")
	var n int
	if !ok || func() error { _, err := fmt.Sscanf(line, "%d", &n); return err }() != nil {
		return "", false
	}
	parts := strings.Split(base, ":")
	if len(parts) != 3 {
		return "", false
	}
	for _, l := range r.Source.Logs {
		if l.Container != parts[1] {
			continue
		}
		text := l.Current
		if parts[2] == "previous" {
			text = l.Previous
		}
		lines := strings.Split(text, "\n")
		if n >= 1 && n <= len(lines) {
			return lines[n-1], true
		}
	}
	return "", false
}

// Lookup is what is known of r's fingerprint (nil: never seen).
func (s *Store) Lookup(r *report.Report) (*report.History, error) {
	_, fp, ok := Fingerprint(r)
	if !ok {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.load()
	for _, inc := range all {
		if inc.Fingerprint == fp {
			h := inc.History
			return &h, err
		}
	}
	return nil, err
}

// Record remembers r and returns what was known of its fingerprint before
// (nil the first time).
func (s *Store) Record(r *report.Report) (*report.History, error) {
	key, fp, ok := Fingerprint(r)
	if !ok {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.load()
	if err != nil {
		return nil, err
	}
	var prev *report.History
	i := sort.Search(len(all), func(i int) bool { return all[i].Fingerprint >= fp })
	if i < len(all) && all[i].Fingerprint == fp {
		h := all[i].History
		prev = &h
	} else {
		all = append(all[:i], append([]Incident{{Fingerprint: fp, Key: key, History: report.History{Fingerprint: fp, First: r.Time}}}, all[i:]...)...)
	}
	inc := &all[i]
	inc.Count++
	inc.Last, inc.LastNamespace, inc.LastPod, inc.LastTraceID = r.Time, r.Namespace, r.Pod, r.TraceID
	inc.LastCause = clip(r.RootCause(), 300)
	if len(r.Owners) > 0 {
		o := r.Owners[len(r.Owners)-1]
		inc.LastWorkload = o.Kind + "/" + o.Name
	}
	if len(all) > s.Max { // drop the oldest
		sort.SliceStable(all, func(a, b int) bool { return all[a].Last.After(all[b].Last) })
		all = all[:s.Max]
		sort.Slice(all, func(a, b int) bool { return all[a].Fingerprint < all[b].Fingerprint })
	}
	return prev, s.save(all)
}

// List returns the incidents, most recent first.
func (s *Store) List() ([]Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.load()
	sort.SliceStable(all, func(a, b int) bool { return all[a].Last.After(all[b].Last) })
	return all, err
}

// lock takes the memory's lock file (PATH.lock, flock'd) for a
// read-modify-write, so two processes recording at once (two `lab
// diagnose`, a diagnose beside `lab agent serve`) do not lose an update.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.Path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

type file struct {
	Version   int        `json:"version"`
	Incidents []Incident `json:"incidents"`
}

func (s *Store) load() ([]Incident, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w (move it aside to start a new memory)", s.Path, err)
	}
	sort.Slice(f.Incidents, func(a, b int) bool { return f.Incidents[a].Fingerprint < f.Incidents[b].Fingerprint })
	return f.Incidents, nil
}

func (s *Store) save(all []Incident) error {
	b, err := json.MarshalIndent(file{Version: 1, Incidents: all}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return err
	}
	return state.WriteFile(s.Path, b, 0o600)
}

// LabPath is where a lab's incidents are kept: beside the labs, not in the
// lab's folder, so they outlive `lab down` as well as `lab up`.
func LabPath(lab string) string { return filepath.Join(state.Home(), "incidents", lab+".json") }

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
