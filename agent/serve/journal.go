package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/template"

	"lab.dev/lab/core/state"
)

// The journal is the agent's durable intake. An alerted pod is written to
// it (one small file, fsync'd, renamed into place, the folder fsync'd:
// core/state.WriteFile)
// before the webhook answers 2xx; the worker that reports it marks it done
// (a done marker, then the entry removed). A server that starts replays
// what was accepted and not reported, so neither a kill -9 nor a
// rescheduled pod loses an alert Alertmanager was told was received.
//
//	DIR/pending/ID.json   accepted, not yet reported (with its attempts)
//	DIR/done/ID           reported or given up (the outcome inside); kept a
//	                      day, at most keepDone, so a late duplicate
//	                      delivery of the same alert is recognised
//	DIR/bad/              entries that could not be read, kept for a person
//
// Its size is bounded (capacity pending entries): when full, the webhook
// answers 503 with Retry-After and Alertmanager retries; nothing is
// accepted that cannot be kept.

// ErrFull is what Add returns when capacity alerts already wait.
var ErrFull = errors.New("the alert journal is full")

// Entry is one accepted alert in the journal.
type Entry struct {
	Target
	Attempts int `json:"attempts"` // diagnoses started (a crash counts)
}

// Journal is the durable intake; Dir "" keeps it in memory only (tests, and
// a server whose operator chose no durability).
type Journal struct {
	dir      string
	capacity int
	keepDone int
	keepFor  time.Duration

	mu       sync.Mutex
	pending  map[string]*Entry // accepted, not yet done (nil while being written)
	done     map[string]time.Time
	unreadab int // entries found unreadable when opened (moved to bad/)
}

// OpenJournal opens (creating) the journal in dir with room for capacity
// pending alerts. What a previous server left pending is kept — even beyond
// capacity, nothing accepted is dropped — and is returned by Pending.
func OpenJournal(dir string, capacity int) (*Journal, error) {
	if capacity <= 0 {
		capacity = DefaultOptions().Queue
	}
	j := &Journal{dir: dir, capacity: capacity, keepDone: 10000, keepFor: 24 * time.Hour,
		pending: map[string]*Entry{}, done: map[string]time.Time{}}
	if dir == "" {
		return j, nil
	}
	for _, sub := range []string{"pending", "done", "bad"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("alert journal: %w", err)
		}
	}
	des, err := os.ReadDir(filepath.Join(dir, "done"))
	if err != nil {
		return nil, fmt.Errorf("alert journal: %w", err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			os.Remove(filepath.Join(dir, "done", de.Name())) // a write a kill interrupted
			continue
		}
		if fi, err := de.Info(); err == nil {
			j.done[de.Name()] = fi.ModTime()
		}
	}
	des, err = os.ReadDir(filepath.Join(dir, "pending"))
	if err != nil {
		return nil, fmt.Errorf("alert journal: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(dir, "pending", name)
		if strings.HasPrefix(name, ".") {
			os.Remove(path) // never renamed into place: never answered 2xx
			continue
		}
		id := strings.TrimSuffix(name, ".json")
		if _, done := j.done[id]; done { // killed between the marker and the removal
			os.Remove(path)
			continue
		}
		var e Entry
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &e)
		}
		if err != nil || e.ID != id || !validID(id) {
			j.unreadab++
			os.Rename(path, filepath.Join(dir, "bad", name))
			continue
		}
		j.pending[id] = &e
	}
	j.prune(time.Now())
	return j, nil
}

// Dir is where the journal lives ("" in memory).
func (j *Journal) Dir() string { return j.dir }

// Pending returns the accepted alerts not yet done, oldest first.
func (j *Journal) Pending() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Entry, 0, len(j.pending))
	for _, e := range j.pending {
		if e != nil {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Received.Before(out[b].Received) })
	return out
}

// Add journals t (t.ID set by the caller) and reports whether it was new:
// false with no error for an alert pending or done already (a duplicate
// delivery), ErrFull when capacity alerts wait.
func (j *Journal) Add(t Target) (bool, error) {
	j.mu.Lock()
	if _, ok := j.pending[t.ID]; ok {
		j.mu.Unlock()
		return false, nil
	}
	if _, ok := j.done[t.ID]; ok {
		j.mu.Unlock()
		return false, nil
	}
	if len(j.pending) >= j.capacity {
		j.mu.Unlock()
		return false, ErrFull
	}
	j.pending[t.ID] = nil // reserved: written outside the lock
	j.mu.Unlock()
	e := &Entry{Target: t}
	if err := j.write(e); err != nil {
		j.mu.Lock()
		delete(j.pending, t.ID)
		j.mu.Unlock()
		return false, fmt.Errorf("alert journal: %w", err)
	}
	j.mu.Lock()
	j.pending[t.ID] = e
	j.mu.Unlock()
	return true, nil
}

// Begin counts one more attempt at the entry, durably, before its
// diagnosis starts (so an alert whose diagnosis crashes the agent is given
// up after a few restarts instead of crashing it forever), and returns the
// attempts made with this one.
func (j *Journal) Begin(id string) (int, error) {
	return j.attempt(id, +1)
}

// Release takes back the attempt Begin counted, for a diagnosis stopped by
// a shutdown rather than failed.
func (j *Journal) Release(id string) error {
	_, err := j.attempt(id, -1)
	return err
}

func (j *Journal) attempt(id string, d int) (int, error) {
	j.mu.Lock()
	e, ok := j.pending[id]
	if !ok || e == nil {
		j.mu.Unlock()
		return 0, fmt.Errorf("alert journal: %s is not pending", id)
	}
	c := *e
	c.Attempts = max(0, c.Attempts+d)
	e.Attempts = c.Attempts
	j.mu.Unlock()
	return c.Attempts, j.write(&c)
}

// Done marks the entry reported (or given up: outcome says which) and
// removes it from the pending set.
func (j *Journal) Done(id, outcome string) error {
	now := time.Now()
	if j.dir != "" {
		if err := state.WriteFile(filepath.Join(j.dir, "done", id), []byte(outcome+"\n"), 0o600); err != nil {
			return fmt.Errorf("alert journal: %w", err)
		}
		if err := os.Remove(filepath.Join(j.dir, "pending", id+".json")); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("alert journal: %w", err)
		}
		state.SyncDir(filepath.Join(j.dir, "pending"))
	}
	j.mu.Lock()
	delete(j.pending, id)
	j.done[id] = now
	prune := len(j.done) > j.keepDone+j.keepDone/10
	j.mu.Unlock()
	if prune {
		j.prune(now)
	}
	return nil
}

// JournalStats is what the journal holds now.
type JournalStats struct {
	Pending    int       // accepted, not yet reported (queued and in flight)
	Oldest     time.Time // when the oldest pending alert was accepted (zero: none)
	Done       int       // done markers kept
	Unreadable int       // entries found unreadable when opened (in bad/)
}

// Stats returns what the journal holds now.
func (j *Journal) Stats() JournalStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := JournalStats{Done: len(j.done), Unreadable: j.unreadab}
	for _, e := range j.pending {
		s.Pending++
		if e != nil && (s.Oldest.IsZero() || e.Received.Before(s.Oldest)) {
			s.Oldest = e.Received
		}
	}
	return s
}

// prune forgets done markers older than keepFor, and the oldest beyond keepDone.
func (j *Journal) prune(now time.Time) {
	j.mu.Lock()
	type d struct {
		id string
		at time.Time
	}
	all := make([]d, 0, len(j.done))
	for id, at := range j.done {
		all = append(all, d{id, at})
	}
	slices.SortFunc(all, func(a, b d) int { return a.at.Compare(b.at) })
	var drop []string
	for i, x := range all {
		if now.Sub(x.at) > j.keepFor || len(all)-i > j.keepDone {
			drop = append(drop, x.id)
			delete(j.done, x.id)
		}
	}
	j.mu.Unlock()
	if j.dir != "" {
		for _, id := range drop {
			os.Remove(filepath.Join(j.dir, "done", id))
		}
	}
}

func (j *Journal) write(e *Entry) error {
	if j.dir == "" {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(j.dir, "pending", e.ID+".json"), b, 0o600)
}

// AlertID names one delivery-independent alert on one pod: the same alert
// delivered twice (Alertmanager's retries, its HA peers each notifying)
// has the same ID; the same pod alerting again later (a new startsAt) a new
// one. Alertmanager's fingerprint identifies the label set; a sender
// without one gets the labels hashed instead.
func AlertID(a template.Alert, t Target) string {
	h := sha256.New()
	fp := a.Fingerprint
	if fp == "" {
		keys := a.Labels.SortedPairs()
		for _, p := range keys {
			fp += p.Name + "=" + p.Value + "\x00"
		}
	}
	for _, s := range []string{t.Namespace, t.Pod, t.Alert, fp, a.StartsAt.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
