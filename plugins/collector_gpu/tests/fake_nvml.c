/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake NVML shared library for collector/gpu's tests (real NVML needs an
 * NVIDIA GPU): two GPUs with fixed values, the second in MIG mode with two
 * MIG devices, compute processes on the first, and three XID events on the
 * first wait. FAKE_NVML_DEVICES=0 in the environment makes it see no GPU.
 */
#include <stdlib.h>
#include <string.h>

#include "../nvml_min.h"

#define EXPORT __attribute__((visibility("default")))

struct nvmlDevice_st {
	int index; /* GPU index, or the parent's for a MIG device */
	int mig;   /* -1 for a GPU */
};
struct nvmlEventSet_st {
	int waits;
};

static struct nvmlDevice_st gpus[2] = {{0, -1}, {1, -1}};
static struct nvmlDevice_st migs[2] = {{1, 0}, {1, 2}};
static struct nvmlEventSet_st the_set;
static int inits;

#define GIB (1024ULL * 1024 * 1024)

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
	inits++;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	inits--;
	return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t rc)
{
	return rc == NVML_ERROR_NOT_SUPPORTED ? "Not Supported" : "Fake Error";
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	const char *e = getenv("FAKE_NVML_DEVICES");
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	*count = e ? (unsigned)atoi(e) : 2;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *dev)
{
	if (index >= 2)
		return NVML_ERROR_INVALID_ARGUMENT;
	*dev = &gpus[index];
	return NVML_SUCCESS;
}

static void put(char *dst, unsigned len, const char *s)
{
	strncpy(dst, s, len);
	dst[len - 1] = '\0';
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length)
{
	put(name, length, d->mig >= 0 ? "Fake H100 MIG 1g.10gb" : d->index ? "Fake H100" : "Fake A100");
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length)
{
	static const char *const ids[] = {"GPU-aaaaaaaa-0000-0000-0000-000000000000",
					  "GPU-bbbbbbbb-0000-0000-0000-000000000001",
					  "MIG-cccccccc-0000-0000-0000-000000000000",
					  "MIG-cccccccc-0000-0000-0000-000000000002"};
	put(uuid, length, d->mig < 0 ? ids[d->index] : ids[2 + d->mig / 2]);
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
	if (d->mig >= 0)
		return NVML_ERROR_NOT_SUPPORTED;
	u->gpu = d->index ? 100 : 42;
	u->memory = d->index ? 50 : 17;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	m->total = d->mig >= 0 ? 10 * GIB : d->index ? 80 * GIB : 40 * GIB;
	m->used = d->mig >= 0 ? (unsigned long long)(d->mig + 1) * GIB : d->index ? 20 * GIB : 10 * GIB;
	m->free = m->total - m->used;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *c)
{
	if (d->mig >= 0 || sensor != NVML_TEMPERATURE_GPU)
		return NVML_ERROR_NOT_SUPPORTED;
	*c = d->index ? 71 : 55;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
	if (d->mig >= 0)
		return NVML_ERROR_NOT_SUPPORTED;
	*mw = d->index ? 350500 : 123456;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned int *mhz)
{
	static const unsigned clocks[3] = {1410, 1395, 1215};
	if (d->mig >= 0 || type < 0 || type > 2)
		return NVML_ERROR_NOT_SUPPORTED;
	*mhz = clocks[type];
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d,
							       unsigned long long *r)
{
	if (d->mig >= 0)
		return NVML_ERROR_NOT_SUPPORTED;
	*r = d->index ? nvmlClocksThrottleReasonHwThermalSlowdown
		      : nvmlClocksThrottleReasonGpuIdle | nvmlClocksThrottleReasonSwPowerCap;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type, int counter,
						unsigned long long *n)
{
	if (d->mig >= 0 || d->index == 1 || counter != NVML_VOLATILE_ECC)
		return NVML_ERROR_NOT_SUPPORTED;
	*n = type == NVML_MEMORY_ERROR_TYPE_CORRECTED ? 3 : 0;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
							     nvmlProcessInfo_v3_t *infos)
{
	static const nvmlProcessInfo_v3_t procs[3] = {
		{1234, 1 * GIB, 0xFFFFFFFFu, 0xFFFFFFFFu},
		{5678, 2 * GIB, 0xFFFFFFFFu, 0xFFFFFFFFu},
		{9999, NVML_VALUE_NOT_AVAILABLE, 0xFFFFFFFFu, 0xFFFFFFFFu},
	};
	unsigned n = d->index == 0 && d->mig < 0 ? 3 : 0;
	if (*count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	*count = n;
	if (n)
		memcpy(infos, procs, sizeof(procs));
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *cur, unsigned int *pending)
{
	if (d->mig >= 0)
		return NVML_ERROR_NOT_SUPPORTED;
	*cur = *pending = d->index ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *count)
{
	*count = d->index ? 7 : 0;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int index,
							 nvmlDevice_t *mig)
{
	if (d->index != 1 || (index != 0 && index != 2))
		return NVML_ERROR_NOT_FOUND;
	*mig = &migs[index / 2];
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
	the_set.waits = 0;
	*set = &the_set;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
					     nvmlEventSet_t set)
{
	return types == nvmlEventTypeXidCriticalError && set == &the_set ? NVML_SUCCESS
									 : NVML_ERROR_INVALID_ARGUMENT;
}

/* The first three waits return XID 79 on GPU 1 and XID 13 twice on GPU 0,
 * every later one times out. */
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
					unsigned int timeout_ms)
{
	if (timeout_ms != 0)
		return NVML_ERROR_INVALID_ARGUMENT; /* the plugin must never block */
	if (set->waits >= 3)
		return NVML_ERROR_TIMEOUT;
	int w = set->waits++;
	memset(data, 0, sizeof(*data));
	data->device = w == 0 ? &gpus[1] : &gpus[0];
	data->eventType = nvmlEventTypeXidCriticalError;
	data->eventData = w == 0 ? 79 : 13;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
	return set == &the_set ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

/* For the test: how many nvmlInit_v2 calls are not yet shut down. */
EXPORT int fake_nvml_inits(void)
{
	return inits;
}
