//go:build cgo && linux

package nvidia

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// NVML's C API as its public header (nvml.h) declares it: every function
// returns nvmlReturn_t (0 = NVML_SUCCESS); a device is an opaque pointer.
// Each function is looked up with dlsym when called, so nothing in this
// binary refers to an NVML symbol: it links and starts the same with or
// without a driver, whatever the linker's binding mode (Helm brings in Go's
// plugin package, which makes the Go linker pass -z now).
typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;

static void *lab_nvml;

static int lab_nvml_open(void) {
	if (!lab_nvml) lab_nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	return lab_nvml != NULL;
}

typedef nvmlReturn_t (*fn_void)(void);
typedef nvmlReturn_t (*fn_str)(char *, unsigned int);
typedef nvmlReturn_t (*fn_int)(int *);
typedef nvmlReturn_t (*fn_uint)(unsigned int *);
typedef nvmlReturn_t (*fn_handle)(unsigned int, nvmlDevice_t *);
typedef nvmlReturn_t (*fn_dev_str)(nvmlDevice_t, char *, unsigned int);
typedef nvmlReturn_t (*fn_dev_mem)(nvmlDevice_t, nvmlMemory_t *);
typedef nvmlReturn_t (*fn_dev_int2)(nvmlDevice_t, int *, int *);

// -1 says "this driver's NVML has no such function".
#define LAB_SYM(name, type) type f = (type)dlsym(lab_nvml, name); if (!f) return -1;

static int lab_call_void(const char *name) { LAB_SYM(name, fn_void) return f(); }
static int lab_call_str(const char *name, char *buf, unsigned int n) { LAB_SYM(name, fn_str) return f(buf, n); }
static int lab_call_int(const char *name, int *v) { LAB_SYM(name, fn_int) return f(v); }
static int lab_call_uint(const char *name, unsigned int *v) { LAB_SYM(name, fn_uint) return f(v); }
static int lab_device(unsigned int i, nvmlDevice_t *d) { LAB_SYM("nvmlDeviceGetHandleByIndex_v2", fn_handle) return f(i, d); }
static int lab_device_str(const char *name, nvmlDevice_t d, char *buf, unsigned int n) {
	LAB_SYM(name, fn_dev_str) return f(d, buf, n);
}
static int lab_device_memory(nvmlDevice_t d, nvmlMemory_t *m) { LAB_SYM("nvmlDeviceGetMemoryInfo", fn_dev_mem) return f(d, m); }
static int lab_device_int2(const char *name, nvmlDevice_t d, int *a, int *b) { LAB_SYM(name, fn_dev_int2) return f(d, a, b); }
static const char *lab_error_string(nvmlReturn_t r) {
	const char *(*f)(nvmlReturn_t) = (const char *(*)(nvmlReturn_t))dlsym(lab_nvml, "nvmlErrorString");
	return f ? f(r) : "unknown NVML error";
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// NVML return codes and enums used here (nvml.h).
const (
	nvmlSuccess    = 0
	nvmlMIGEnabled = 1
	noSymbol       = -1
)

type nvmlInspector struct{}

// NVML returns the Inspector backed by the host's NVIDIA driver.
func NVML() Inspector { return nvmlInspector{} }

// nvmlMu serialises Init…Shutdown: NVML is reference-counted per process,
// and one inspection at a time is all lab needs.
var nvmlMu sync.Mutex

// Inspect loads libnvidia-ml.so.1, reads every device and shuts NVML down
// again. Without the library it returns ErrNoDriver; a function that the
// installed driver lacks leaves its field empty.
func (nvmlInspector) Inspect() (Info, error) {
	nvmlMu.Lock()
	defer nvmlMu.Unlock()
	if C.lab_nvml_open() == 0 {
		return Info{}, ErrNoDriver
	}
	if ret := callVoid("nvmlInit_v2"); ret != nvmlSuccess {
		return Info{}, fmt.Errorf("initialising NVML: %s", errorString(ret))
	}
	defer callVoid("nvmlShutdown")

	var info Info
	var ret C.int
	if info.DriverVersion, ret = callString("nvmlSystemGetDriverVersion"); ret != nvmlSuccess {
		return info, fmt.Errorf("reading driver version: %s", errorString(ret))
	}
	var cuda C.int
	if callC("nvmlSystemGetCudaDriverVersion_v2", func(n *C.char) C.int { return C.lab_call_int(n, &cuda) }) == nvmlSuccess {
		info.CUDAVersion = cudaVersion(int(cuda))
	}
	info.NVMLVersion, _ = callString("nvmlSystemGetNVMLVersion")
	var n C.uint
	if ret := callC("nvmlDeviceGetCount_v2", func(name *C.char) C.int { return C.lab_call_uint(name, &n) }); ret != nvmlSuccess {
		return info, fmt.Errorf("counting GPUs: %s", errorString(ret))
	}
	for i := 0; i < int(n); i++ {
		var d C.nvmlDevice_t
		if ret := C.lab_device(C.uint(i), &d); ret != nvmlSuccess {
			return info, fmt.Errorf("opening GPU %d: %s", i, errorString(ret))
		}
		g := GPU{Index: i}
		g.Name, _ = deviceString("nvmlDeviceGetName", d)
		g.UUID, _ = deviceString("nvmlDeviceGetUUID", d)
		var mem C.nvmlMemory_t
		if C.lab_device_memory(d, &mem) == nvmlSuccess {
			g.MemoryTotalBytes, g.MemoryFreeBytes = uint64(mem.total), uint64(mem.free)
		}
		var major, minor C.int
		if deviceInts("nvmlDeviceGetCudaComputeCapability", d, &major, &minor) == nvmlSuccess {
			g.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
		}
		// GetMigMode answers NOT_SUPPORTED on cards without MIG: that is "off".
		var cur, pending C.int
		if deviceInts("nvmlDeviceGetMigMode", d, &cur, &pending) == nvmlSuccess {
			g.MIGEnabled = cur == nvmlMIGEnabled
			g.MIGPending = pending != cur
		}
		info.GPUs = append(info.GPUs, g)
	}
	return info, nil
}

// callC passes fn the C string of name and frees it afterwards.
func callC(name string, fn func(*C.char) C.int) C.int {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return fn(cs)
}

func callVoid(name string) C.int {
	return callC(name, func(n *C.char) C.int { return C.lab_call_void(n) })
}

// callString reads a string NVML writes into a buffer (driver and NVML
// versions: NVML_SYSTEM_*_VERSION_BUFFER_SIZE is 80).
func callString(name string) (string, C.int) {
	var buf [96]C.char
	ret := callC(name, func(n *C.char) C.int { return C.lab_call_str(n, &buf[0], C.uint(len(buf))) })
	if ret != nvmlSuccess {
		return "", ret
	}
	return C.GoString(&buf[0]), ret
}

// deviceString reads a device's name or UUID (NVML_DEVICE_NAME_V2_BUFFER_SIZE
// is 96, the UUID buffer 80).
func deviceString(name string, d C.nvmlDevice_t) (string, C.int) {
	var buf [128]C.char
	ret := callC(name, func(n *C.char) C.int { return C.lab_device_str(n, d, &buf[0], C.uint(len(buf))) })
	if ret != nvmlSuccess {
		return "", ret
	}
	return C.GoString(&buf[0]), ret
}

func deviceInts(name string, d C.nvmlDevice_t, a, b *C.int) C.int {
	return callC(name, func(n *C.char) C.int { return C.lab_device_int2(n, d, a, b) })
}

func errorString(ret C.int) string {
	if ret == noSymbol {
		return "the driver's NVML lacks this function"
	}
	return C.GoString(C.lab_error_string(C.nvmlReturn_t(ret)))
}
