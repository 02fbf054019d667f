package kwok

import "testing"

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
