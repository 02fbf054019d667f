//go:build integration

package integration

import (
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// `lab up` killed (SIGKILL) at random instants across its whole run, not only
// at step boundaries: each time the next `lab up` must converge to a healthy
// lab and `lab down` must leave no process, file or port behind. The seed
// and every instant are logged; replay with LAB_KILL_SEED=<seed> (and
// LAB_KILLS=<n>, default 20), or exact instants with LAB_KILL_AT=3.1s,0.4s.
func TestUpKilledAtRandomInstants(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LAB_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	kills := 20
	if s := os.Getenv("LAB_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d (replay: LAB_KILL_SEED=%d)", seed, seed)

	e := newLabEnv(t, "rkill", 1)
	labDir := filepath.Join(e.home, "labs", "rkill")
	// How long a whole up takes here: the instants are drawn across it.
	start := time.Now()
	if code, _, errOut := e.run("up"); code != 0 {
		t.Fatalf("up: %s", errOut)
	}
	whole := time.Since(start)
	e.checkDown(t, labDir, "after the first up")
	t.Logf("a whole up takes %s; killing at random instants in [0, %s)", whole.Round(time.Millisecond), (whole * 11 / 10).Round(time.Millisecond))

	var fixed []time.Duration
	for _, f := range strings.FieldsFunc(os.Getenv("LAB_KILL_AT"), func(r rune) bool { return r == ',' }) {
		d, err := time.ParseDuration(f)
		if err != nil {
			t.Fatalf("LAB_KILL_AT: %v", err)
		}
		fixed = append(fixed, d)
	}
	if len(fixed) > 0 {
		kills = len(fixed)
	}
	for i := 0; i < kills; i++ {
		at := time.Duration(rng.Int64N(int64(whole * 11 / 10)))
		if len(fixed) > 0 {
			at = fixed[i]
		}
		what := "kill " + strconv.Itoa(i+1) + " at " + at.Round(time.Millisecond).String() + " (seed " + strconv.FormatUint(seed, 10) + ")"
		c := e.cmd("up")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		_ = c.Process.Kill()
		_ = c.Wait()
		code, _, errOut := e.run("up")
		if code != 0 {
			t.Fatalf("%s: the next up failed:\n%s", what, errOut)
		}
		if code, st := e.status(); code != 0 || st["healthy"] != true {
			t.Fatalf("%s: not healthy after the next up: %v", what, st)
		}
		e.checkDown(t, labDir, what)
	}
}

// checkDown runs `lab down` and checks nothing of the lab is left: no state
// folder, no process started from it, no port it listened on.
func (e *labEnv) checkDown(t *testing.T, labDir, what string) {
	t.Helper()
	var st struct{ Ports map[string]int }
	if b, err := os.ReadFile(filepath.Join(labDir, "kwok", "state.json")); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	if code, _, errOut := e.run("down"); code != 0 {
		t.Fatalf("%s: down: %s", what, errOut)
	}
	if _, err := os.Stat(labDir); !os.IsNotExist(err) {
		t.Fatalf("%s: down left %s", what, labDir)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := labProcs(labDir, "")
		var busy []int
		for _, p := range st.Ports {
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
				busy = append(busy, p)
			} else {
				l.Close()
			}
		}
		if len(left) == 0 && len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after down, processes %v and ports %v are still the lab's", what, left, busy)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
