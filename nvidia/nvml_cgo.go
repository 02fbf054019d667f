//go:build cgo && linux

package nvidia

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

type nvmlInspector struct{}

// NVML returns the Inspector backed by the host's NVIDIA driver.
func NVML() Inspector { return nvmlInspector{} }

// Inspect loads NVML, reads every device and shuts NVML down again. After a
// failed nvml.Init no other nvml function is called: the library is not loaded
// and calling into it kills the process.
func (nvmlInspector) Inspect() (Info, error) {
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			return Info{}, ErrNoDriver
		}
		return Info{}, fmt.Errorf("initialising NVML: %s", nvml.ErrorString(ret))
	}
	defer nvml.Shutdown()

	var info Info
	var ret nvml.Return
	if info.DriverVersion, ret = nvml.SystemGetDriverVersion(); ret != nvml.SUCCESS {
		return info, fmt.Errorf("reading driver version: %s", nvml.ErrorString(ret))
	}
	if v, ret := nvml.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		info.CUDAVersion = cudaVersion(v)
	}
	if v, ret := nvml.SystemGetNVMLVersion(); ret == nvml.SUCCESS {
		info.NVMLVersion = v
	}
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return info, fmt.Errorf("counting GPUs: %s", nvml.ErrorString(ret))
	}
	for i := 0; i < n; i++ {
		d, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return info, fmt.Errorf("opening GPU %d: %s", i, nvml.ErrorString(ret))
		}
		g := GPU{Index: i}
		g.Name, _ = d.GetName()
		g.UUID, _ = d.GetUUID()
		if mem, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			g.MemoryTotalBytes, g.MemoryFreeBytes = mem.Total, mem.Free
		}
		if major, minor, ret := d.GetCudaComputeCapability(); ret == nvml.SUCCESS {
			g.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
		}
		// GetMigMode answers NOT_SUPPORTED on cards without MIG: that is "off".
		if cur, pending, ret := d.GetMigMode(); ret == nvml.SUCCESS {
			g.MIGEnabled = cur == nvml.DEVICE_MIG_ENABLE
			g.MIGPending = pending != cur
		}
		info.GPUs = append(info.GPUs, g)
	}
	return info, nil
}
