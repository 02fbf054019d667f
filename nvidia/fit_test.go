package nvidia

import (
	"errors"
	"testing"
)

// Memory totals as NVML reports them on these cards.
var (
	rtx3060 = GPU{Name: "NVIDIA GeForce RTX 3060", MemoryTotalBytes: 12288 << 20, ComputeCapability: "8.6"}
	rtx4090 = GPU{Name: "NVIDIA GeForce RTX 4090", MemoryTotalBytes: 24564 << 20, ComputeCapability: "8.9"}
	h100    = GPU{Name: "NVIDIA H100 80GB HBM3", MemoryTotalBytes: 81559 << 20, ComputeCapability: "9.0"}
	gtx1650 = GPU{Name: "NVIDIA GeForce GTX 1650", MemoryTotalBytes: 4096 << 20, ComputeCapability: "7.5"}
	p100    = GPU{Name: "Tesla P100-PCIE-16GB", MemoryTotalBytes: 16280 << 20, ComputeCapability: "6.0"}
	a4000   = GPU{Name: "NVIDIA RTX A4000", MemoryTotalBytes: 16376 << 20, ComputeCapability: "8.6"}
	h100mig = GPU{Name: "NVIDIA H100 80GB HBM3", MemoryTotalBytes: 81559 << 20, ComputeCapability: "9.0", MIGEnabled: true}
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		gpu      GPU
		family   string
		suitable bool
		model    string
	}{
		{rtx3060, "consumer-rtx", true, "llama3:8b"},
		{rtx4090, "consumer-rtx", true, "llama3:8b"},
		{h100, "datacenter", true, "llama3:8b"},
		{h100mig, "datacenter", true, "llama3:8b"},
		{gtx1650, "other", false, "phi3:mini"},
		{p100, "datacenter", false, "llama3:8b"},
		{a4000, "workstation", true, "llama3:8b"},
	} {
		t.Run(tc.gpu.Name, func(t *testing.T) {
			c := Classify(tc.gpu)
			if c.Family != tc.family || c.Suitable != tc.suitable || c.Model != tc.model {
				t.Errorf("got %+v, want family %s suitable %v model %s", c, tc.family, tc.suitable, tc.model)
			}
			if c.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestFitModel(t *testing.T) {
	for _, tc := range []struct {
		vram uint64
		want string
	}{
		{0, "phi3:mini"},
		{8 * GiB, "phi3:mini"},
		{11 * GiB, "phi3:mini"},
		{11*GiB + GiB/2, "llama3:8b"}, // a "12 GB" card reporting a little less
		{12 * GiB, "llama3:8b"},
		{80 * GiB, "llama3:8b"},
	} {
		if got := FitModel(tc.vram).Name; got != tc.want {
			t.Errorf("FitModel(%d GiB) = %s, want %s", tc.vram/GiB, got, tc.want)
		}
	}
}

func TestLargestVRAMAndCUDA(t *testing.T) {
	info := Info{GPUs: []GPU{rtx3060, rtx4090}}
	if info.LargestVRAM() != rtx4090.MemoryTotalBytes {
		t.Error("LargestVRAM did not pick the 4090")
	}
	if (Info{}).LargestVRAM() != 0 {
		t.Error("no GPU must mean 0")
	}
	for in, want := range map[int]string{12080: "12.8", 13000: "13.0", 11040: "11.4", 0: ""} {
		if got := cudaVersion(in); got != want {
			t.Errorf("cudaVersion(%d) = %q, want %q", in, got, want)
		}
	}
}

// On this machine (no NVIDIA driver, or a CGO_ENABLED=0 build) the real
// inspector must return a sentinel error, never panic or kill the process.
func TestNVMLWithoutGPU(t *testing.T) {
	info, err := NVML().Inspect()
	if err == nil {
		t.Skipf("a GPU is present: %+v (this test covers hosts without one)", info)
	}
	if !errors.Is(err, ErrNoDriver) && !errors.Is(err, ErrNotBuilt) {
		t.Logf("NVML answered a non-sentinel error (driver present but broken?): %v", err)
	}
}
