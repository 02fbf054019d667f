package doctor

import (
	"bytes"
	"lab.dev/lab/core/golden"
	"path/filepath"
	"testing"

	"lab.dev/lab/core/ui"
)

func sampleReport() Report {
	oc := func(cat, desc, hint string, st Status, msg string) Outcome {
		return Outcome{Check: Check{Category: cat, Description: desc, Hint: hint}, Result: Result{Status: st, Message: msg}}
	}
	return Report{Outcomes: []Outcome{
		oc("host", "memory", "", OK, "23.4 GiB available, the lab needs about 6.0 GiB"),
		oc("host", "inotify limits", "sysctl -w fs.inotify.max_user_watches=524288", Warn, "max_user_watches 8192 < 524288"),
		oc("container engine", "Docker or Podman API", "start Docker (systemctl start docker)", Fail, "no container engine reachable"),
		oc("gpu", "NVIDIA GPU (NVML)", "", Skip, "no GPU workers requested"),
	}, Passed: false, Failures: 1, Warnings: 1}
}

// The doctor's one renderer, golden-tested with and without colour; lab up's
// failed preflight uses Failed, the same lines for the failed checks alone.
func TestWriteGolden(t *testing.T) {
	for _, c := range []struct {
		name  string
		color bool
	}{{"plain", false}, {"color", true}} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			u := &ui.UI{Color: c.color}
			Write(&b, u, sampleReport())
			b.WriteString("--- failed only\n")
			Failed(&b, u, sampleReport())
			golden.Check(t, filepath.Join("testdata", "report-"+c.name+".golden"), b.Bytes())
		})
	}
}
