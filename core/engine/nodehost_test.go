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

func TestKubeletNeedsCgroupV1Override(t *testing.T) {
	v1, v2 := NodeHost{CgroupV1: true}, NodeHost{}
	for v, want := range map[string]bool{"v1.34.4": false, "v1.35.0": true, "v1.37.0": true, "bogus": false, "v2.40.0": false} {
		if got := v1.KubeletNeedsCgroupV1Override(v); got != want {
			t.Errorf("cgroup v1, %s: %v, want %v", v, got, want)
		}
		if v2.KubeletNeedsCgroupV1Override(v) {
			t.Errorf("cgroup v2, %s: override", v)
		}
	}
}
