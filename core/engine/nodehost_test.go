package engine

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCapBnd(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		line string
		has  bool
	}{
		{"CapBnd:\t000001ffffffffff", true},  // every capability
		{"CapBnd:\t000001fffeffffff", false}, // this project's machines: bit 24 cleared
	} {
		p := filepath.Join(dir, "status")
		os.WriteFile(p, []byte("Name:\tx\n"+c.line+"\nCapAmb:\t0\n"), 0o644)
		bnd, ok := capBnd(p)
		if !ok || (bnd&(1<<capSysResource) != 0) != c.has {
			t.Errorf("%s: %x %v, want CAP_SYS_RESOURCE=%v", c.line, bnd, ok, c.has)
		}
	}
	if _, ok := capBnd(filepath.Join(dir, "missing")); ok {
		t.Error("a missing file read as a bounding set")
	}
	h := ReadNodeHost() // this host: whatever it is, no panic
	t.Logf("this host: %+v", h)
}
