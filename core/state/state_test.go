package state

import (
	"path/filepath"
	"testing"
)

// With no home folder, lab's state goes to a per-user folder, never the
// shared, guessable /tmp/lab another user could create first.
func TestHomeWithoutAHomeIsPerUser(t *testing.T) {
	t.Setenv("LAB_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	if got := Home(); got != filepath.Join(run, "lab") {
		t.Errorf("Home() = %s, want the runtime dir's", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "")
	if got := Home(); got == "/tmp/lab" || got == filepath.Join("/tmp", "lab") {
		t.Errorf("Home() = %s: shared and guessable", got)
	}
}
