/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/gpu: the NVML path against a fake libnvidia-ml
 * built from fake_nvml.c (2 GPUs, one in MIG mode, XID events), the
 * no-GPU path (a library that does not exist: init fails with BM_ENOTSUP
 * and "no NVIDIA GPU found"), and AMD cards from tests/fixtures/gpu/amd.
 */
#include "plugintest.h"
#include "gpu.c"

#define GIB (1024.0 * 1024 * 1024)

struct fixture {
	struct gpu_conf conf;
	void *state;
};

static void conf_open(struct fixture *f, const char *library, const char *sys_sub)
{
	pt_fixture_begin(f, gpu_options);
	pt_set_fixture(&f->conf.sys_root, "gpu", sys_sub);
	pt_set_str(&f->conf.library, library);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&gpu_ops, gpu_options, f->state, &f->conf);
}

#define A100 "gpu=0,name=Fake A100,uuid=GPU-aaaaaaaa-0000-0000-0000-000000000000,vendor=nvidia"
#define H100 "gpu=1,name=Fake H100,uuid=GPU-bbbbbbbb-0000-0000-0000-000000000001,vendor=nvidia"
#define A100_R(r) "gpu=0,name=Fake A100,reason=" r ",uuid=GPU-aaaaaaaa-0000-0000-0000-000000000000,vendor=nvidia"
#define H100_R(r) "gpu=1,name=Fake H100,reason=" r ",uuid=GPU-bbbbbbbb-0000-0000-0000-000000000001,vendor=nvidia"
#define MIG(i, u) "gpu=1,mig=" i ",name=Fake H100 MIG 1g.10gb,uuid=MIG-cccccccc-0000-0000-0000-00000000000" u ",vendor=nvidia"

static void test_no_library(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	conf_open(&f, "libnvidia-ml-does-not-exist.so.1", "no-such-sys");
	assert_int_equal(gpu_init(fakehost_ctx(), &f.conf, &f.state, &err), BM_ENOTSUP);
	assert_int_equal(err.code, BM_ENOTSUP);
	assert_non_null(strstr(err.msg, "no NVIDIA GPU found"));
	assert_non_null(strstr(err.msg, "libnvidia-ml-does-not-exist.so.1"));
	assert_non_null(strstr(err.msg, "no AMD GPU"));
	/* the host logs the init failure: the plugin itself logs nothing */
	assert_string_equal(fakehost_last_log(BM_LOG_INFO), "");
	f.state = NULL;
	fixture_close(&f);
}

static void test_nvml_without_devices(void **unused)
{
	struct fixture f;
	void *dl = dlopen(FAKE_NVML, RTLD_NOW | RTLD_LOCAL); /* keeps its counters alive */
	assert_non_null(dl);
	int (*inits)(void) = (int (*)(void))dlsym(dl, "fake_nvml_inits");
	setenv("FAKE_NVML_DEVICES", "0", 1);
	conf_open(&f, FAKE_NVML, "no-such-sys");
	pt_init_err(&gpu_ops, &f.conf, BM_ENOTSUP, "no NVIDIA GPU found (NVML sees no device)",
		    NULL);
	assert_int_equal(inits(), 0); /* nvmlShutdown was called */
	unsetenv("FAKE_NVML_DEVICES");
	fixture_close(&f);
	dlclose(dl);
}

static void test_fake_nvml(void **unused)
{
	struct fixture f;
	void *dl = dlopen(FAKE_NVML, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(dl);
	int (*inits)(void) = (int (*)(void))dlsym(dl, "fake_nvml_inits");
	conf_open(&f, FAKE_NVML, "no-such-sys");
	f.state = pt_init(&gpu_ops, &f.conf);
	assert_int_equal(inits(), 1);
	pt_collect_ok(&gpu_ops, f.state, 1700000000000);

	assert_true(fakehost_value("bearmon_gpu_utilization_ratio", A100) == 0.42);
	assert_true(fakehost_value("bearmon_gpu_memory_utilization_ratio", A100) == 0.17);
	assert_true(fakehost_value("bearmon_gpu_memory_used_bytes", A100) == 10.0 * GIB);
	assert_true(fakehost_value("bearmon_gpu_memory_total_bytes", A100) == 40.0 * GIB);
	assert_true(fakehost_value("bearmon_gpu_temperature_celsius", A100) == 55);
	assert_true(fakehost_value("bearmon_gpu_power_watts", A100) == 123.456);
	assert_true(fakehost_value("bearmon_gpu_clock_hertz", "clock=graphics," A100) == 1410e6);
	assert_true(fakehost_value("bearmon_gpu_clock_hertz", "clock=sm," A100) == 1395e6);
	assert_true(fakehost_value("bearmon_gpu_clock_hertz", "clock=memory," A100) == 1215e6);
	assert_true(fakehost_value("bearmon_gpu_throttle_reasons", A100_R("gpu_idle")) == 1);
	assert_true(fakehost_value("bearmon_gpu_throttle_reasons", A100_R("sw_power_cap")) == 1);
	assert_true(fakehost_value("bearmon_gpu_throttle_reasons", A100_R("hw_slowdown")) == 0);
	assert_int_equal(fakehost_count("bearmon_gpu_throttle_reasons"), 18);
	assert_true(fakehost_value("bearmon_gpu_ecc_errors_total", "gpu=0,name=Fake A100,type=corrected,uuid=GPU-aaaaaaaa-0000-0000-0000-000000000000,vendor=nvidia") == 3);
	assert_true(fakehost_value("bearmon_gpu_ecc_errors_total", "gpu=0,name=Fake A100,type=uncorrected,uuid=GPU-aaaaaaaa-0000-0000-0000-000000000000,vendor=nvidia") == 0);
	assert_int_equal(fakehost_count("bearmon_gpu_ecc_errors_total"), 2); /* not on GPU 1 */
	assert_true(fakehost_value("bearmon_gpu_process_memory_bytes", "gpu=0,name=Fake A100,pid=1234,uuid=GPU-aaaaaaaa-0000-0000-0000-000000000000,vendor=nvidia") == 1.0 * GIB);
	assert_true(fakehost_value("bearmon_gpu_process_memory_bytes", "gpu=0,name=Fake A100,pid=5678,uuid=GPU-aaaaaaaa-0000-0000-0000-000000000000,vendor=nvidia") == 2.0 * GIB);
	assert_int_equal(fakehost_count("bearmon_gpu_process_memory_bytes"), 2); /* 9999: unknown */

	assert_true(fakehost_value("bearmon_gpu_utilization_ratio", H100) == 1.0);
	assert_true(fakehost_value("bearmon_gpu_throttle_reasons", H100_R("hw_thermal_slowdown")) == 1);
	/* MIG devices: extra entries with a mig label, memory only */
	assert_true(fakehost_value("bearmon_gpu_memory_used_bytes", MIG("0", "0")) == 1.0 * GIB);
	assert_true(fakehost_value("bearmon_gpu_memory_used_bytes", MIG("2", "2")) == 3.0 * GIB);
	assert_true(fakehost_value("bearmon_gpu_memory_total_bytes", MIG("2", "2")) == 10.0 * GIB);
	assert_int_equal(fakehost_count("bearmon_gpu_memory_used_bytes"), 4);
	assert_int_equal(fakehost_count("bearmon_gpu_utilization_ratio"), 2);
	/* XID events from the 0 ms wait */
	assert_true(fakehost_value("bearmon_gpu_xid_errors_total", H100 ",xid=79") == 1);
	assert_true(fakehost_value("bearmon_gpu_xid_errors_total", A100 ",xid=13") == 2);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "XID 13"));

	assert_int_equal(fakehost_meta("bearmon_gpu_ecc_errors_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("bearmon_gpu_xid_errors_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("bearmon_gpu_power_watts")->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("bearmon_gpu_clock_hertz")->unit, "hertz");
	assert_int_equal(fakehost_unsorted(), 0);

	/* a second round: XID totals stay (no new events), same series */
	size_t n1 = fakehost_n_samples();
	pt_collect_ok(&gpu_ops, f.state, 1700000001000);
	assert_int_equal(fakehost_n_samples(), 2 * n1);
	assert_true(fakehost_value("bearmon_gpu_xid_errors_total", A100 ",xid=13") == 2);

	pt_fini(&gpu_ops, f.state);
	f.state = NULL;
	assert_int_equal(inits(), 0); /* nvmlShutdown in fini */
	fixture_close(&f);
	dlclose(dl);
}

static void test_filter(void **unused)
{
	struct fixture f;
	conf_open(&f, FAKE_NVML, "no-such-sys");
	f.conf.processes = false;
	pt_set_list(&f.conf.exclude, "1", NULL);
	f.state = pt_init(&gpu_ops, &f.conf);
	pt_collect_ok(&gpu_ops, f.state, 1700000000000);
	assert_int_equal(fakehost_count("bearmon_gpu_memory_used_bytes"), 1);
	assert_int_equal(fakehost_count("bearmon_gpu_process_memory_bytes"), 0);
	fixture_close(&f);

	conf_open(&f, FAKE_NVML, "no-such-sys");
	pt_set_list(&f.conf.include, "(", NULL);
	pt_init_err(&gpu_ops, &f.conf, BM_EINVAL, "bad pattern", NULL);
	fixture_close(&f);
}

static void test_amd(void **unused)
{
	struct fixture f;
	conf_open(&f, "libnvidia-ml-does-not-exist.so.1", "amd/sys");
	f.state = pt_init(&gpu_ops, &f.conf);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "no NVIDIA GPU found"));
	pt_collect_ok(&gpu_ops, f.state, 1700000000000);
#define CARD0 "gpu=0,name=AMD Radeon RX 6800,uuid=5bd5d2c1e8d0c6b4,vendor=amd"
	assert_true(fakehost_value("bearmon_gpu_utilization_ratio", CARD0) == 0.37);
	assert_true(fakehost_value("bearmon_gpu_memory_utilization_ratio", CARD0) == 0.12);
	assert_true(fakehost_value("bearmon_gpu_memory_used_bytes", CARD0) == 2147483648.0);
	assert_true(fakehost_value("bearmon_gpu_memory_total_bytes", CARD0) == 17163091968.0);
	assert_true(fakehost_value("bearmon_gpu_temperature_celsius", CARD0) == 54);
	assert_true(fakehost_value("bearmon_gpu_power_watts", CARD0) == 45.123);
	/* card2: busy percent only, a garbage vram file is skipped */
	assert_true(fakehost_value("bearmon_gpu_utilization_ratio", "gpu=2,name=card2,vendor=amd") == 0.05);
	assert_int_equal(fakehost_count("bearmon_gpu_memory_used_bytes"), 1);
	/* card1 (not amdgpu) and card0-DP-1 (a connector) are not GPUs */
	assert_int_equal(fakehost_count("bearmon_gpu_utilization_ratio"), 2);
	assert_int_equal(fakehost_unsorted(), 0);
	fixture_close(&f);
}

/* A card that vanishes after init: its series go, the collection goes on. */
static void test_amd_vanishes(void **unused)
{
	struct fixture f;
	conf_open(&f, "libnvidia-ml-does-not-exist.so.1", "amd/sys");
	f.conf.nvidia = false;
	f.state = pt_init(&gpu_ops, &f.conf);
	struct gpu *g = f.state;
	snprintf(g->amd[1].dir, sizeof(g->amd[1].dir), "%s/gone", f.conf.sys_root);
	pt_collect_ok(&gpu_ops, f.state, 1700000000000);
	assert_int_equal(fakehost_count("bearmon_gpu_utilization_ratio"), 1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "no longer readable"));
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_library),
		cmocka_unit_test(test_nvml_without_devices),
		cmocka_unit_test(test_fake_nvml),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_amd),
		cmocka_unit_test(test_amd_vanishes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
