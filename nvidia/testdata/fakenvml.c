/* A stand-in for libnvidia-ml.so.1 with two GPUs, written for lab's tests
 * from NVML's documented signatures: it checks that lab calls each function
 * with the argument shapes the real library expects. No MIG function, as in
 * an old driver: lab must leave MIG off instead of failing. */
#include <string.h>
typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
static int inited;
static int devs[2];
nvmlReturn_t nvmlInit_v2(void) { inited++; return 0; }
nvmlReturn_t nvmlShutdown(void) { inited--; return 0; }
const char *nvmlErrorString(nvmlReturn_t r) { return r == 999 ? "Unknown Error" : "fake error"; }
nvmlReturn_t nvmlSystemGetDriverVersion(char *b, unsigned int n) { if (!inited) return 1; strncpy(b, "580.95.05", n); return 0; }
nvmlReturn_t nvmlSystemGetNVMLVersion(char *b, unsigned int n) { strncpy(b, "13.580.95.05", n); return 0; }
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { *v = 13000; return 0; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) { *n = 2; return 0; }
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) { if (i > 1) return 2; *d = &devs[i]; return 0; }
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *b, unsigned int n) { strncpy(b, d == &devs[0] ? "NVIDIA H100 80GB HBM3" : "NVIDIA GeForce RTX 4090", n); return 0; }
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *b, unsigned int n) { strncpy(b, d == &devs[0] ? "GPU-0" : "GPU-1", n); return 0; }
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
	m->total = d == &devs[0] ? 85520809984ULL : 25757220864ULL; m->free = m->total / 2; m->used = m->total - m->free; return 0;
}
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *a, int *b) { *a = d == &devs[0] ? 9 : 8; *b = d == &devs[0] ? 0 : 9; return 0; }
