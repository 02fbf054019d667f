// Package nvidia owns everything lab knows about NVIDIA GPUs: a small
// interface over NVML that returns plain data (GPUs, VRAM, driver and CUDA
// versions, MIG mode), a fake for tests, and the logic that decides whether a
// GPU suits the lab and which Ollama model fits its memory.
//
// Nothing here panics without a GPU: with no driver, Inspect returns
// ErrNoDriver; in a binary built without cgo it returns ErrNotBuilt.
package nvidia

import (
	"errors"
	"fmt"
)

// GiB is 2^30 bytes.
const GiB = uint64(1) << 30

var (
	// ErrNoDriver means NVML could not be loaded: no NVIDIA driver on this host.
	ErrNoDriver = errors.New("NVML library not found (no NVIDIA driver on this host)")
	// ErrNotBuilt means this lab binary was built without cgo, so without NVML.
	ErrNotBuilt = errors.New("this lab binary was built without NVML (CGO_ENABLED=0)")
)

// GPU is one physical device as NVML reports it.
type GPU struct {
	Index             int    `json:"index"`
	Name              string `json:"name"`
	UUID              string `json:"uuid"`
	MemoryTotalBytes  uint64 `json:"memoryTotalBytes"`
	MemoryFreeBytes   uint64 `json:"memoryFreeBytes"`
	ComputeCapability string `json:"computeCapability,omitempty"` // "9.0"
	MIGEnabled        bool   `json:"migEnabled"`
	MIGPending        bool   `json:"migPending,omitempty"` // MIG mode changes on next reset
}

// Info is what the host's driver reports.
type Info struct {
	DriverVersion string `json:"driverVersion"`
	CUDAVersion   string `json:"cudaVersion"` // highest CUDA version the driver supports, "12.8"
	NVMLVersion   string `json:"nvmlVersion,omitempty"`
	GPUs          []GPU  `json:"gpus"`
}

// Inspector reads the GPUs of the host. NVML() is the real one; Fake is for tests.
type Inspector interface {
	Inspect() (Info, error)
}

// Fake is an Inspector returning fixed data, for tests of everything GPU-dependent.
type Fake struct {
	Info Info
	Err  error
}

// Inspect returns the fake's data.
func (f Fake) Inspect() (Info, error) { return f.Info, f.Err }

// TotalVRAM is the memory of the largest GPU: a model is served from one GPU.
func (i Info) LargestVRAM() uint64 {
	var m uint64
	for _, g := range i.GPUs {
		if g.MemoryTotalBytes > m {
			m = g.MemoryTotalBytes
		}
	}
	return m
}

// cudaVersion renders NVML's integer CUDA driver version (12080) as "12.8".
func cudaVersion(v int) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
}
