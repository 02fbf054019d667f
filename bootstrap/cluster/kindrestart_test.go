package cluster

import (
	"testing"
	"time"
)

// A node counts as settling only when it was restarted (not freshly
// created), recently, and after lab last saw the cluster steady.
func TestNodeSettling(t *testing.T) {
	now := time.Now()
	created := now.Add(-time.Hour)
	for _, c := range []struct {
		name    string
		n       node
		settled time.Time
		want    bool
	}{
		{"restarted just now", node{running: true, created: created, startedAt: now.Add(-10 * time.Second)}, time.Time{}, true},
		{"freshly created", node{running: true, created: now.Add(-20 * time.Second), startedAt: now.Add(-19 * time.Second)}, time.Time{}, false},
		{"restarted long ago", node{running: true, created: created, startedAt: now.Add(-10 * time.Minute)}, time.Time{}, false},
		{"restarted, then seen steady", node{running: true, created: created, startedAt: now.Add(-30 * time.Second)}, now.Add(-5 * time.Second), false},
		{"stopped", node{created: created, startedAt: now.Add(-10 * time.Second)}, time.Time{}, false},
	} {
		if got := c.n.settling(c.settled); got != c.want {
			t.Errorf("%s: settling %v, want %v", c.name, got, c.want)
		}
	}
}
