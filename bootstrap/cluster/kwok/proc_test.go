package kwok

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Ports handed out together never collide (they used to be taken one by
// one, each closed before the next, and could repeat).
func TestFreePortsDistinct(t *testing.T) {
	for round := 0; round < 20; round++ {
		ports, err := FreePorts(6)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, p := range ports {
			if seen[p] || p == 0 {
				t.Fatalf("ports %v", ports)
			}
			seen[p] = true
		}
	}
}

// A component left by a killed run is adopted only when it runs with the
// flags this run would give it (the ports state.json records).
func TestRunsWith(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if !runsWith(cmd.Process.Pid, []string{"30"}) {
		t.Error("not matched on its own argument")
	}
	if runsWith(cmd.Process.Pid, []string{"30", "--listen=127.0.0.1:1"}) {
		t.Error("matched with a flag it was not given")
	}
	if runsWith(1<<30, nil) {
		t.Error("a process that does not exist matched")
	}
}

// After a reboot a recorded PID may be anyone's: StopState signals only a
// process that is still the lab's component (its command line names the
// lab's folder). Before, it killed whatever held the PID, and its group.
func TestStopStateLeavesUnrelatedProcesses(t *testing.T) {
	dir := t.TempDir()
	stranger := exec.Command("sleep", "30") // a process that reused the recorded PID
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer stranger.Process.Kill()
	// The lab's component: this test binary sleeping, with the lab's folder
	// in its command line (a shell would exec sleep and drop it).
	ours := exec.Command(os.Args[0], "-test.run=^TestHelperComponent$", "--", dir)
	ours.Env = append(os.Environ(), "LAB_HELPER_COMPONENT=1")
	if err := ours.Start(); err != nil {
		t.Fatal(err)
	}
	defer ours.Process.Kill()
	go ours.Wait()
	StopState(dir, State{PIDs: map[string]int{"etcd": stranger.Process.Pid, "kwok": ours.Process.Pid}}, time.Second)
	if !Alive(stranger.Process.Pid) {
		t.Fatal("an unrelated process holding a recorded PID was killed")
	}
	deadline := time.Now().Add(3 * time.Second)
	for Alive(ours.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if Alive(ours.Process.Pid) {
		t.Fatal("the lab's own component was not stopped")
	}
}

// TestHelperComponent is the stand-in component of
// TestStopStateLeavesUnrelatedProcesses (a process it starts); it does
// nothing in a normal run.
func TestHelperComponent(t *testing.T) {
	if os.Getenv("LAB_HELPER_COMPONENT") == "1" {
		time.Sleep(30 * time.Second)
	}
}
