//go:build cgo && linux

package nvidia

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNVMLShimAgainstFakeLibrary builds a stand-in libnvidia-ml.so.1 with gcc
// and runs this test binary again with it on LD_LIBRARY_PATH (dlopen reads
// the path at process start), so the dlopen/dlsym shim is exercised end to
// end: argument shapes, struct layout, a function the driver lacks.
func TestNVMLShimAgainstFakeLibrary(t *testing.T) {
	if os.Getenv("LAB_NVML_CHILD") == "1" {
		info, err := NVML().Inspect()
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewEncoder(os.Stdout).Encode(info)
		return
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc to build the fake NVML library")
	}
	dir := t.TempDir()
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libnvidia-ml.so.1"), "testdata/fakenvml.c").CombinedOutput(); err != nil {
		t.Fatalf("building the fake library: %v\n%s", err, out)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNVMLShimAgainstFakeLibrary$")
	cmd.Env = append(os.Environ(), "LAB_NVML_CHILD=1", "LD_LIBRARY_PATH="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var info Info
	// The child prints the JSON line before `PASS`: decode the first value.
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&info); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	if info.DriverVersion != "580.95.05" || info.CUDAVersion != "13.0" || info.NVMLVersion != "13.580.95.05" {
		t.Errorf("versions: %+v", info)
	}
	if len(info.GPUs) != 2 {
		t.Fatalf("GPUs: %+v", info.GPUs)
	}
	h, r := info.GPUs[0], info.GPUs[1]
	if h.Name != "NVIDIA H100 80GB HBM3" || h.UUID != "GPU-0" || h.MemoryTotalBytes != 85520809984 || h.MemoryFreeBytes != 85520809984/2 || h.ComputeCapability != "9.0" {
		t.Errorf("GPU 0: %+v", h)
	}
	if r.Name != "NVIDIA GeForce RTX 4090" || r.ComputeCapability != "8.9" || r.MIGEnabled || r.MIGPending {
		t.Errorf("GPU 1 (no MIG function in this driver: MIG off): %+v", r)
	}
	if got := info.LargestVRAM(); got != 85520809984 {
		t.Errorf("largest VRAM %d", got)
	}
}

// TestNVMLOnRealGPU runs on a host with an NVIDIA driver (skips elsewhere):
// what the shim reads must be a plausible GPU.
func TestNVMLOnRealGPU(t *testing.T) {
	info, err := NVML().Inspect()
	if errors.Is(err, ErrNoDriver) {
		t.Skip("no NVIDIA driver on this host")
	}
	if err != nil {
		t.Fatalf("driver present but NVML failed: %v", err)
	}
	t.Logf("driver %s, CUDA %s, NVML %s", info.DriverVersion, info.CUDAVersion, info.NVMLVersion)
	if info.DriverVersion == "" || info.CUDAVersion == "" || len(info.GPUs) == 0 {
		t.Fatalf("implausible: %+v", info)
	}
	for _, g := range info.GPUs {
		t.Logf("GPU %d: %s %s, %d MiB (%d MiB free), compute %s, MIG %v", g.Index, g.Name, g.UUID, g.MemoryTotalBytes>>20, g.MemoryFreeBytes>>20, g.ComputeCapability, g.MIGEnabled)
		if !strings.HasPrefix(g.UUID, "GPU-") || g.Name == "" || g.MemoryTotalBytes < 1<<30 || g.MemoryFreeBytes > g.MemoryTotalBytes || g.ComputeCapability == "" {
			t.Errorf("implausible GPU: %+v", g)
		}
	}
	fit := FitModel(info.LargestVRAM())
	t.Logf("model that fits %d GiB: %s", info.LargestVRAM()>>30, fit.Name)
}
