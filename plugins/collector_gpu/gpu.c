/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/gpu: NVIDIA GPUs through NVML, dlopen()ed at run time (no
 * build-time dependency; see nvml_min.h), with MIG devices as extra entries
 * and XID errors from an NVML event set; AMD GPUs through amdgpu's sysfs
 * files. Metric names follow dcgm-exporter's fields in Prometheus style.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/procfs.h"
#include "../common/publish.h"
#include "nvml_min.h"

#define GPU_MAX_DEVICES 64 /* physical NVIDIA GPUs or AMD cards we follow */
#define GPU_MAX_MIG     16 /* MIG devices per GPU looked at */
#define GPU_MAX_XIDS    64 /* distinct (gpu, xid) pairs counted */
#define GPU_MAX_EVENTS  256 /* events drained per collection */

struct gpu_conf {
	char *library;  /* NVML shared library */
	char *sys_root; /* sysfs mount point (AMD) */
	bool nvidia, amd, processes;
	struct bm_strlist include, exclude; /* on the gpu label */
};

static const struct bm_option gpu_options[] = {
	BM_OPTION("library", BM_OPT_STRING, "libnvidia-ml.so.1", struct gpu_conf, library,
		  "NVML shared library to dlopen (name or path)"),
	BM_OPTION("sys_root", BM_OPT_STRING, "/sys", struct gpu_conf, sys_root,
		  "sysfs mount point, for AMD GPUs under class/drm"),
	BM_OPTION("nvidia", BM_OPT_BOOL, "true", struct gpu_conf, nvidia,
		  "collect NVIDIA GPUs through NVML"),
	BM_OPTION("amd", BM_OPT_BOOL, "true", struct gpu_conf, amd,
		  "collect AMD GPUs through amdgpu sysfs files"),
	BM_OPTION("processes", BM_OPT_BOOL, "true", struct gpu_conf, processes,
		  "publish GPU memory per compute process (NVIDIA)"),
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, struct gpu_conf, include,
		  "regexes on the gpu label (index); only matching GPUs are collected"),
	BM_OPTION("exclude", BM_OPT_STRING_LIST, NULL, struct gpu_conf, exclude,
		  "regexes on the gpu label (index); matching GPUs are skipped"),
	BM_OPTION_END,
};

/* Every NVML entry point we use; NULL when the library lacks it. */
struct nvml {
	void *dl;
	nvmlInit_v2_fn Init;
	nvmlShutdown_fn Shutdown;
	nvmlErrorString_fn ErrorString;
	nvmlDeviceGetCount_v2_fn GetCount;
	nvmlDeviceGetHandleByIndex_v2_fn GetHandleByIndex;
	nvmlDeviceGetName_fn GetName;
	nvmlDeviceGetUUID_fn GetUUID;
	nvmlDeviceGetUtilizationRates_fn GetUtilizationRates;
	nvmlDeviceGetMemoryInfo_fn GetMemoryInfo;
	nvmlDeviceGetTemperature_fn GetTemperature;
	nvmlDeviceGetPowerUsage_fn GetPowerUsage;
	nvmlDeviceGetClockInfo_fn GetClockInfo;
	nvmlDeviceGetCurrentClocksThrottleReasons_fn GetThrottleReasons;
	nvmlDeviceGetTotalEccErrors_fn GetTotalEccErrors;
	nvmlDeviceGetComputeRunningProcesses_v3_fn GetComputeRunningProcesses;
	nvmlDeviceGetMigMode_fn GetMigMode;
	nvmlDeviceGetMaxMigDeviceCount_fn GetMaxMigDeviceCount;
	nvmlDeviceGetMigDeviceHandleByIndex_fn GetMigDeviceHandleByIndex;
	nvmlEventSetCreate_fn EventSetCreate;
	nvmlDeviceRegisterEvents_fn RegisterEvents;
	nvmlEventSetWait_v2_fn EventSetWait;
	nvmlEventSetFree_fn EventSetFree;
	nvmlEventSet_t events; /* XID events of every GPU; NULL when unsupported */
	bool initialised;
};

/* One followed device: an NVIDIA GPU or an AMD card. */
struct gpu_dev {
	nvmlDevice_t h;       /* NVIDIA */
	char gpu[16];         /* label: NVML index or card number */
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	char dir[PATH_MAX - 64];   /* AMD: SYS/class/drm/cardN/device */
	char hwmon[PATH_MAX - 64]; /* AMD: its hwmon directory, "" when none */
};

struct xid_count {
	size_t dev; /* index into nv[] */
	unsigned long long xid;
	double count;
};

struct gpu {
	struct bm_ctx *ctx;
	const struct gpu_conf *conf;
	struct bm_filter filter;
	struct nvml nv;
	struct gpu_dev nvd[GPU_MAX_DEVICES];
	size_t n_nv;
	struct gpu_dev amd[GPU_MAX_DEVICES];
	size_t n_amd;
	struct xid_count xids[GPU_MAX_XIDS];
	size_t n_xids;
	nvmlProcessInfo_v3_t *procs;
	unsigned procs_cap;
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
	char buf[256];
	char path[PATH_MAX];
	bool amd_gone_logged;
};

static const char *nv_err(const struct gpu *g, nvmlReturn_t rc)
{
	static char unknown[32];
	if (g->nv.ErrorString) {
		const char *s = g->nv.ErrorString(rc);
		if (s)
			return s;
	}
	snprintf(unknown, sizeof(unknown), "NVML error %d", rc);
	return unknown;
}

/* --- NVML: load, init, enumerate ---------------------------------------- */

static void nvml_close(struct gpu *g)
{
	struct nvml *nv = &g->nv;
	if (nv->events && nv->EventSetFree)
		nv->EventSetFree(nv->events);
	if (nv->initialised && nv->Shutdown)
		nv->Shutdown();
	if (nv->dl)
		dlclose(nv->dl);
	memset(nv, 0, sizeof(*nv));
	g->n_nv = 0;
}

#define SYM(field, sym) (*(void **)&nv->field = dlsym(nv->dl, sym))

/* Fills g->nvd. Returns the number of GPUs; 0 with why filled when there
 * is no usable NVIDIA GPU (the library is then closed again). */
static size_t nvml_open(struct gpu *g, char *why, size_t why_len)
{
	struct nvml *nv = &g->nv;
	const char *lib = g->conf->library;
	nv->dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!nv->dl) {
		const char *e = dlerror();
		snprintf(why, why_len, "cannot load %s: %s", lib, e ? e : "unknown error");
		return 0;
	}
	SYM(Init, "nvmlInit_v2");
	SYM(Shutdown, "nvmlShutdown");
	SYM(GetCount, "nvmlDeviceGetCount_v2");
	SYM(GetHandleByIndex, "nvmlDeviceGetHandleByIndex_v2");
	if (!nv->Init || !nv->Shutdown || !nv->GetCount || !nv->GetHandleByIndex) {
		snprintf(why, why_len, "%s lacks nvmlInit_v2, nvmlShutdown or the device calls",
			 lib);
		nvml_close(g);
		return 0;
	}
	/* optional: a missing one is "not supported" */
	SYM(ErrorString, "nvmlErrorString");
	SYM(GetName, "nvmlDeviceGetName");
	SYM(GetUUID, "nvmlDeviceGetUUID");
	SYM(GetUtilizationRates, "nvmlDeviceGetUtilizationRates");
	SYM(GetMemoryInfo, "nvmlDeviceGetMemoryInfo");
	SYM(GetTemperature, "nvmlDeviceGetTemperature");
	SYM(GetPowerUsage, "nvmlDeviceGetPowerUsage");
	SYM(GetClockInfo, "nvmlDeviceGetClockInfo");
	SYM(GetThrottleReasons, "nvmlDeviceGetCurrentClocksThrottleReasons");
	SYM(GetTotalEccErrors, "nvmlDeviceGetTotalEccErrors");
	SYM(GetComputeRunningProcesses, "nvmlDeviceGetComputeRunningProcesses_v3");
	SYM(GetMigMode, "nvmlDeviceGetMigMode");
	SYM(GetMaxMigDeviceCount, "nvmlDeviceGetMaxMigDeviceCount");
	SYM(GetMigDeviceHandleByIndex, "nvmlDeviceGetMigDeviceHandleByIndex");
	SYM(EventSetCreate, "nvmlEventSetCreate");
	SYM(RegisterEvents, "nvmlDeviceRegisterEvents");
	SYM(EventSetWait, "nvmlEventSetWait_v2");
	SYM(EventSetFree, "nvmlEventSetFree");

	nvmlReturn_t rc = nv->Init();
	if (rc != NVML_SUCCESS) {
		snprintf(why, why_len, "nvmlInit_v2: %s", nv_err(g, rc));
		nvml_close(g);
		return 0;
	}
	nv->initialised = true;
	unsigned count = 0;
	rc = nv->GetCount(&count);
	if (rc != NVML_SUCCESS || count == 0) {
		snprintf(why, why_len, "%s", rc ? nv_err(g, rc) : "NVML sees no device");
		nvml_close(g);
		return 0;
	}
	if (nv->EventSetCreate && nv->RegisterEvents && nv->EventSetWait &&
	    nv->EventSetCreate(&nv->events) != NVML_SUCCESS)
		nv->events = NULL;
	for (unsigned i = 0; i < count && g->n_nv < GPU_MAX_DEVICES; i++) {
		struct gpu_dev *d = &g->nvd[g->n_nv];
		memset(d, 0, sizeof(*d));
		snprintf(d->gpu, sizeof(d->gpu), "%u", i);
		if (!bm_filter_match(&g->filter, d->gpu))
			continue;
		rc = nv->GetHandleByIndex(i, &d->h);
		if (rc != NVML_SUCCESS) {
			bm_log_warn(g->ctx, "NVIDIA GPU %u: %s; skipped", i, nv_err(g, rc));
			continue;
		}
		if (!nv->GetName || nv->GetName(d->h, d->name, sizeof(d->name)) != NVML_SUCCESS)
			d->name[0] = '\0';
		if (!nv->GetUUID || nv->GetUUID(d->h, d->uuid, sizeof(d->uuid)) != NVML_SUCCESS)
			d->uuid[0] = '\0';
		if (nv->events) {
			rc = nv->RegisterEvents(d->h, nvmlEventTypeXidCriticalError, nv->events);
			if (rc != NVML_SUCCESS)
				bm_log_info(g->ctx, "NVIDIA GPU %u: no XID events: %s", i, nv_err(g, rc));
		}
		g->n_nv++;
	}
	if (!g->n_nv) {
		snprintf(why, why_len, "no NVML device passes the include/exclude filter");
		nvml_close(g);
	}
	return g->n_nv;
}

/* --- AMD: sysfs -------------------------------------------------------- */

/* path into g->buf; false when missing or unreadable. */
static bool read_small(struct gpu *g, const char *path)
{
	return pf_read_at(AT_FDCWD, path, g->buf, sizeof(g->buf)) >= 0;
}

/* dir/file holding one number. */
static bool read_u64(struct gpu *g, const char *dir, const char *file, uint64_t *v)
{
	return pf_path(g->path, sizeof(g->path), dir, file) && pf_read_u64_at(AT_FDCWD, g->path, v);
}

static int card_entry(const struct dirent *e)
{
	const char *s = e->d_name;
	if (strncmp(s, "card", 4) != 0 || !s[4])
		return 0;
	for (s += 4; *s; s++)
		if (*s < '0' || *s > '9')
			return 0; /* card0-DP-1 and the like are connectors */
	return 1;
}

static void amd_scan(struct gpu *g)
{
	struct dirent **ents = NULL;
	char drm[PATH_MAX];
	snprintf(drm, sizeof(drm), "%s/class/drm", g->conf->sys_root);
	int n = scandir(drm, &ents, card_entry, versionsort);
	for (int i = 0; i < n; i++) {
		struct gpu_dev *d = &g->amd[g->n_amd];
		uint64_t v;
		if (g->n_amd == GPU_MAX_DEVICES)
			goto next;
		memset(d, 0, sizeof(*d));
		snprintf(d->gpu, sizeof(d->gpu), "%s", ents[i]->d_name + 4);
		snprintf(d->dir, sizeof(d->dir), "%.3950s/%.32s/device", drm, ents[i]->d_name);
		if (!bm_filter_match(&g->filter, d->gpu))
			goto next;
		if (!read_u64(g, d->dir, "gpu_busy_percent", &v) &&
		    !read_u64(g, d->dir, "mem_info_vram_total", &v))
			goto next; /* not amdgpu */
		snprintf(g->path, sizeof(g->path), "%s/product_name", d->dir);
		if (read_small(g, g->path) && g->buf[0] && g->buf[0] != '\n') {
			g->buf[strcspn(g->buf, "\n")] = '\0';
			snprintf(d->name, sizeof(d->name), "%.95s", g->buf);
		} else {
			snprintf(d->name, sizeof(d->name), "%.32s", ents[i]->d_name);
		}
		snprintf(g->path, sizeof(g->path), "%s/unique_id", d->dir);
		if (read_small(g, g->path)) {
			g->buf[strcspn(g->buf, "\n")] = '\0';
			snprintf(d->uuid, sizeof(d->uuid), "%.95s", g->buf);
		}
		/* the first hwmonN below device/hwmon */
		char hw[PATH_MAX];
		snprintf(hw, sizeof(hw), "%s/hwmon", d->dir);
		DIR *dh = opendir(hw);
		for (struct dirent *e; dh && (e = readdir(dh));)
			if (strncmp(e->d_name, "hwmon", 5) == 0) {
				snprintf(d->hwmon, sizeof(d->hwmon), "%.3990s/%.32s", hw, e->d_name);
				break;
			}
		if (dh)
			closedir(dh);
		g->n_amd++;
next:
		free(ents[i]);
	}
	free(ents);
}

/* --- lifecycle ------------------------------------------------------------ */

static void gpu_fini(void *state)
{
	struct gpu *g = state;
	nvml_close(g);
	bm_filter_free(&g->filter);
	bm_batch_free(&g->batch);
	pub_families_free(&g->families);
	free(g->procs);
	free(g);
}

static int gpu_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct gpu_conf *c = conf;
	char why[512] = "disabled by the nvidia option";
	struct gpu *g = calloc(1, sizeof(*g));
	if (!g)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	g->ctx = ctx;
	g->conf = c;
	int rc = bm_filter_init(&g->filter, &c->include, &c->exclude, err);
	if (rc) {
		free(g);
		return rc;
	}
	if (c->sys_root && strlen(c->sys_root) > 3000) {
		gpu_fini(g);
		return bm_err_set(err, BM_EINVAL, "sys_root too long");
	}
	if (c->nvidia) {
		if (!c->library || !*c->library) {
			gpu_fini(g);
			return bm_err_set(err, BM_EINVAL, "library must not be empty");
		}
		nvml_open(g, why, sizeof(why));
	}
	if (c->amd && c->sys_root)
		amd_scan(g);
	if (!g->n_nv && !g->n_amd) {
		rc = bm_err_set(err, BM_ENOTSUP, "no NVIDIA GPU found (%.200s), and no AMD GPU under %.200s/class/drm",
				why, c->sys_root ? c->sys_root : "");
		gpu_fini(g);
		return rc;
	}
	if (!g->n_nv && c->nvidia)
		bm_log_info(ctx, "no NVIDIA GPU found (%s); %zu AMD GPU%s", why, g->n_amd,
			    g->n_amd == 1 ? "" : "s");
	else
		bm_log_info(ctx, "%zu NVIDIA GPU%s, %zu AMD GPU%s%s", g->n_nv, g->n_nv == 1 ? "" : "s",
			    g->n_amd, g->n_amd == 1 ? "" : "s",
			    g->n_nv && !g->nv.events ? "; XID events not supported" : "");
	*state = g;
	return 0;
}

/* --- collection ------------------------------------------------------------- */

/* The identity labels of one entry (plus room for two more). */
static size_t dev_labels(struct bm_label *l, const char *vendor, const struct gpu_dev *d,
			 const char *mig)
{
	size_t n = 0;
	l[n++] = (struct bm_label){"vendor", vendor};
	l[n++] = (struct bm_label){"gpu", d->gpu};
	if (d->uuid[0])
		l[n++] = (struct bm_label){"uuid", d->uuid};
	if (d->name[0])
		l[n++] = (struct bm_label){"name", d->name};
	if (mig)
		l[n++] = (struct bm_label){"mig", mig};
	return n;
}

/* Add name{base, k=v} = v; k NULL for none. */
static int add(struct gpu *g, const char *name, double v, struct bm_label *l, size_t n,
	       const char *k, const char *kv)
{
	if (k)
		l[n++] = (struct bm_label){k, kv};
	return bm_batch_add(&g->batch, name, v, l, n);
}

static const struct {
	const char *name;
	enum bm_metric_type type;
	const char *unit, *help;
} families[] = {
	{"bearmon_gpu_utilization_ratio", BM_METRIC_GAUGE, "ratio", "fraction of the last sample period a kernel ran (DCGM_FI_DEV_GPU_UTIL / 100)"},
	{"bearmon_gpu_memory_utilization_ratio", BM_METRIC_GAUGE, "ratio", "fraction of the last sample period device memory was read or written (DCGM_FI_DEV_MEM_COPY_UTIL / 100)"},
	{"bearmon_gpu_memory_used_bytes", BM_METRIC_GAUGE, "bytes", "device memory in use (DCGM_FI_DEV_FB_USED)"},
	{"bearmon_gpu_memory_total_bytes", BM_METRIC_GAUGE, "bytes", "device memory size (DCGM_FI_DEV_FB_FREE + DCGM_FI_DEV_FB_USED)"},
	{"bearmon_gpu_temperature_celsius", BM_METRIC_GAUGE, "celsius", "GPU die temperature (DCGM_FI_DEV_GPU_TEMP)"},
	{"bearmon_gpu_power_watts", BM_METRIC_GAUGE, "watts", "power draw (DCGM_FI_DEV_POWER_USAGE)"},
	{"bearmon_gpu_clock_hertz", BM_METRIC_GAUGE, "hertz", "current clock by domain (DCGM_FI_DEV_SM_CLOCK, DCGM_FI_DEV_MEM_CLOCK)"},
	{"bearmon_gpu_throttle_reasons", BM_METRIC_GAUGE, NULL, "1 when this clock throttle reason is active (DCGM_FI_DEV_CLOCK_THROTTLE_REASONS, one series per bit)"},
	{"bearmon_gpu_ecc_errors_total", BM_METRIC_COUNTER, NULL, "volatile ECC errors since the driver loaded (DCGM_FI_DEV_ECC_SBE_VOL_TOTAL, DCGM_FI_DEV_ECC_DBE_VOL_TOTAL)"},
	{"bearmon_gpu_xid_errors_total", BM_METRIC_COUNTER, NULL, "XID critical errors seen since bearmond started (DCGM_FI_DEV_XID_ERRORS)"},
	{"bearmon_gpu_process_memory_bytes", BM_METRIC_GAUGE, "bytes", "device memory used by a compute process"},
};

static const struct {
	unsigned long long bit;
	const char *reason;
} throttle_bits[] = {
	{nvmlClocksThrottleReasonGpuIdle, "gpu_idle"},
	{nvmlClocksThrottleReasonApplicationsClocksSetting, "applications_clocks_setting"},
	{nvmlClocksThrottleReasonSwPowerCap, "sw_power_cap"},
	{nvmlClocksThrottleReasonHwSlowdown, "hw_slowdown"},
	{nvmlClocksThrottleReasonSyncBoost, "sync_boost"},
	{nvmlClocksThrottleReasonSwThermalSlowdown, "sw_thermal_slowdown"},
	{nvmlClocksThrottleReasonHwThermalSlowdown, "hw_thermal_slowdown"},
	{nvmlClocksThrottleReasonHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
	{nvmlClocksThrottleReasonDisplayClockSetting, "display_clock_setting"},
};

/* Everything NVML answers for one handle (a GPU or a MIG device); what a
 * device does not support is left out. */
static int nvml_device(struct gpu *g, nvmlDevice_t h, struct bm_label *l, size_t n)
{
	const struct nvml *nv = &g->nv;
	int rc = 0;
	nvmlUtilization_t u;
	nvmlMemory_t m;
	unsigned v;
	unsigned long long r;
	if (nv->GetUtilizationRates && nv->GetUtilizationRates(h, &u) == NVML_SUCCESS) {
		rc = add(g, "bearmon_gpu_utilization_ratio", u.gpu / 100.0, l, n, NULL, NULL);
		if (!rc)
			rc = add(g, "bearmon_gpu_memory_utilization_ratio", u.memory / 100.0, l, n,
				 NULL, NULL);
	}
	if (!rc && nv->GetMemoryInfo && nv->GetMemoryInfo(h, &m) == NVML_SUCCESS) {
		rc = add(g, "bearmon_gpu_memory_used_bytes", (double)m.used, l, n, NULL, NULL);
		if (!rc)
			rc = add(g, "bearmon_gpu_memory_total_bytes", (double)m.total, l, n, NULL,
				 NULL);
	}
	if (!rc && nv->GetTemperature &&
	    nv->GetTemperature(h, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS)
		rc = add(g, "bearmon_gpu_temperature_celsius", v, l, n, NULL, NULL);
	if (!rc && nv->GetPowerUsage && nv->GetPowerUsage(h, &v) == NVML_SUCCESS)
		rc = add(g, "bearmon_gpu_power_watts", v / 1000.0, l, n, NULL, NULL);
	static const struct {
		int type;
		const char *name;
	} clocks[] = {{NVML_CLOCK_GRAPHICS, "graphics"}, {NVML_CLOCK_SM, "sm"}, {NVML_CLOCK_MEM, "memory"}};
	for (size_t i = 0; !rc && nv->GetClockInfo && i < 3; i++)
		if (nv->GetClockInfo(h, clocks[i].type, &v) == NVML_SUCCESS)
			rc = add(g, "bearmon_gpu_clock_hertz", v * 1e6, l, n, "clock", clocks[i].name);
	if (!rc && nv->GetThrottleReasons && nv->GetThrottleReasons(h, &r) == NVML_SUCCESS)
		for (size_t i = 0; !rc && i < sizeof(throttle_bits) / sizeof(throttle_bits[0]); i++)
			rc = add(g, "bearmon_gpu_throttle_reasons", (r & throttle_bits[i].bit) ? 1 : 0,
				 l, n, "reason", throttle_bits[i].reason);
	if (!rc && nv->GetTotalEccErrors) {
		if (nv->GetTotalEccErrors(h, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC, &r) ==
		    NVML_SUCCESS)
			rc = add(g, "bearmon_gpu_ecc_errors_total", (double)r, l, n, "type", "corrected");
		if (!rc && nv->GetTotalEccErrors(h, NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
						 NVML_VOLATILE_ECC, &r) == NVML_SUCCESS)
			rc = add(g, "bearmon_gpu_ecc_errors_total", (double)r, l, n, "type", "uncorrected");
	}
	return rc;
}

static int nvml_processes(struct gpu *g, nvmlDevice_t h, struct bm_label *l, size_t n)
{
	const struct nvml *nv = &g->nv;
	unsigned count;
	nvmlReturn_t r;
	if (!nv->GetComputeRunningProcesses)
		return 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		count = g->procs_cap;
		r = nv->GetComputeRunningProcesses(h, &count, g->procs);
		if (r != NVML_ERROR_INSUFFICIENT_SIZE)
			break;
		unsigned cap = count + 16;
		nvmlProcessInfo_v3_t *p = realloc(g->procs, cap * sizeof(*p));
		if (!p)
			return BM_ENOMEM;
		g->procs = p;
		g->procs_cap = cap;
	}
	if (r != NVML_SUCCESS)
		return 0;
	for (unsigned i = 0; i < count && i < g->procs_cap; i++) {
		char pid[16];
		if (g->procs[i].usedGpuMemory == NVML_VALUE_NOT_AVAILABLE)
			continue;
		snprintf(pid, sizeof(pid), "%u", g->procs[i].pid);
		int rc = add(g, "bearmon_gpu_process_memory_bytes", (double)g->procs[i].usedGpuMemory,
			     l, n, "pid", pid);
		if (rc)
			return rc;
	}
	return 0;
}

static int nvml_migs(struct gpu *g, const struct gpu_dev *parent)
{
	const struct nvml *nv = &g->nv;
	unsigned cur = 0, pending = 0, max = 0;
	if (!nv->GetMigMode || !nv->GetMaxMigDeviceCount || !nv->GetMigDeviceHandleByIndex ||
	    nv->GetMigMode(parent->h, &cur, &pending) != NVML_SUCCESS ||
	    cur != NVML_DEVICE_MIG_ENABLE ||
	    nv->GetMaxMigDeviceCount(parent->h, &max) != NVML_SUCCESS)
		return 0;
	for (unsigned i = 0; i < max && i < GPU_MAX_MIG; i++) {
		struct gpu_dev d;
		struct bm_label l[8];
		char mig[16];
		memset(&d, 0, sizeof(d));
		if (nv->GetMigDeviceHandleByIndex(parent->h, i, &d.h) != NVML_SUCCESS)
			continue; /* an empty slot: NVML_ERROR_NOT_FOUND */
		memcpy(d.gpu, parent->gpu, sizeof(d.gpu));
		if (!nv->GetName || nv->GetName(d.h, d.name, sizeof(d.name)) != NVML_SUCCESS)
			memcpy(d.name, parent->name, sizeof(d.name));
		if (!nv->GetUUID || nv->GetUUID(d.h, d.uuid, sizeof(d.uuid)) != NVML_SUCCESS)
			d.uuid[0] = '\0';
		snprintf(mig, sizeof(mig), "%u", i);
		int rc = nvml_device(g, d.h, l, dev_labels(l, "nvidia", &d, mig));
		if (rc)
			return rc;
	}
	return 0;
}

/* Drain the XID events that arrived since the last collection (0 ms wait). */
static void nvml_xids(struct gpu *g)
{
	const struct nvml *nv = &g->nv;
	if (!nv->events)
		return;
	for (int i = 0; i < GPU_MAX_EVENTS; i++) {
		nvmlEventData_t e;
		memset(&e, 0, sizeof(e));
		nvmlReturn_t r = nv->EventSetWait(nv->events, &e, 0);
		if (r != NVML_SUCCESS) {
			if (r != NVML_ERROR_TIMEOUT)
				bm_log_debug(g->ctx, "nvmlEventSetWait_v2: %s", nv_err(g, r));
			return;
		}
		if (!(e.eventType & nvmlEventTypeXidCriticalError))
			continue;
		size_t dev = g->n_nv;
		for (size_t k = 0; k < g->n_nv; k++)
			if (g->nvd[k].h == e.device)
				dev = k;
		if (dev == g->n_nv) /* not one of our GPUs' handles: published as gpu="unknown" */
			dev = SIZE_MAX;
		bm_log_warn(g->ctx, "NVIDIA GPU %s: XID %llu", dev == SIZE_MAX ? "unknown" : g->nvd[dev].gpu,
			    e.eventData);
		size_t k = 0;
		while (k < g->n_xids && (g->xids[k].dev != dev || g->xids[k].xid != e.eventData))
			k++;
		if (k == g->n_xids) {
			if (g->n_xids == GPU_MAX_XIDS)
				continue;
			g->xids[g->n_xids++] = (struct xid_count){dev, e.eventData, 0};
		}
		g->xids[k].count++;
	}
}

static int amd_device(struct gpu *g, const struct gpu_dev *d)
{
	struct bm_label l[8];
	size_t n = dev_labels(l, "amd", d, NULL);
	uint64_t v;
	int rc = 0;
	bool any = false;
	if (read_u64(g, d->dir, "gpu_busy_percent", &v)) {
		any = true;
		rc = add(g, "bearmon_gpu_utilization_ratio", (double)v / 100.0, l, n, NULL, NULL);
	}
	if (!rc && read_u64(g, d->dir, "mem_busy_percent", &v))
		rc = add(g, "bearmon_gpu_memory_utilization_ratio", (double)v / 100.0, l, n, NULL, NULL);
	if (!rc && read_u64(g, d->dir, "mem_info_vram_used", &v)) {
		any = true;
		rc = add(g, "bearmon_gpu_memory_used_bytes", (double)v, l, n, NULL, NULL);
	}
	if (!rc && read_u64(g, d->dir, "mem_info_vram_total", &v))
		rc = add(g, "bearmon_gpu_memory_total_bytes", (double)v, l, n, NULL, NULL);
	if (!rc && d->hwmon[0] && read_u64(g, d->hwmon, "temp1_input", &v))
		rc = add(g, "bearmon_gpu_temperature_celsius", (double)v / 1000.0, l, n, NULL, NULL);
	if (!rc && d->hwmon[0] && read_u64(g, d->hwmon, "power1_average", &v))
		rc = add(g, "bearmon_gpu_power_watts", (double)v / 1e6, l, n, NULL, NULL);
	if (!rc && !any)
		pf_log_once(g->ctx, &g->amd_gone_logged, BM_LOG_INFO,
			    "AMD GPU card%s: %s no longer readable", d->gpu, d->dir);
	return rc;
}

static int gpu_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct gpu *g = state;
	struct bm_batch *b = &g->batch;
	int rc = 0;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	for (size_t i = 0; !rc && i < sizeof(families) / sizeof(families[0]); i++)
		rc = bm_batch_family(b, families[i].name, families[i].type, families[i].unit,
				     families[i].help);
	for (size_t i = 0; !rc && i < g->n_nv; i++) {
		struct bm_label l[8];
		size_t n = dev_labels(l, "nvidia", &g->nvd[i], NULL);
		rc = nvml_device(g, g->nvd[i].h, l, n);
		if (!rc && g->conf->processes)
			rc = nvml_processes(g, g->nvd[i].h, l, n);
		if (!rc)
			rc = nvml_migs(g, &g->nvd[i]);
	}
	if (!rc && g->n_nv)
		nvml_xids(g);
	for (size_t i = 0; !rc && i < g->n_xids; i++) {
		struct bm_label l[8];
		char xid[24];
		snprintf(xid, sizeof(xid), "%llu", g->xids[i].xid);
		static const struct gpu_dev unknown = {.gpu = "unknown"};
		size_t dev = g->xids[i].dev;
		size_t n = dev_labels(l, "nvidia", dev == SIZE_MAX ? &unknown : &g->nvd[dev], NULL);
		rc = add(g, "bearmon_gpu_xid_errors_total", g->xids[i].count, l, n, "xid", xid);
	}
	for (size_t i = 0; !rc && i < g->n_amd; i++)
		rc = amd_device(g, &g->amd[i]);
	if (rc)
		return bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
	return publish_batch_once(g->ctx, b, 0, err, &g->families);
}

static const struct bm_plugin_ops gpu_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = gpu_init,
	.fini = gpu_fini,
	.collect = gpu_collect,
};

BM_PLUGIN_DEFINE(collector, gpu, BM_KIND_COLLECTOR,
		 .version = "1.0.0",
		 .license = "Apache-2.0",
		 .description = "NVIDIA GPUs through NVML (loaded at run time, MIG, XID) and AMD GPUs through sysfs",
		 .origin = "bearmon plugins/collector_gpu",
		 .options = gpu_options,
		 .config_size = sizeof(struct gpu_conf),
		 .ops = &gpu_ops);
