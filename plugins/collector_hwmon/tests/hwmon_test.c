/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/hwmon against the fake host and the hand-made
 * sysfs tree tests/fixtures/hwmon/sys (six chips, two thermal zones, three
 * RAPL zones), an empty host, a chip that vanishes, a RAPL wrap and reset,
 * an unreadable energy_uj and the chip filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "config_schema.h"
#include "fakehost.h"
#include "hwmon.c"

struct fixture {
	struct hw_conf conf;
	void *state;
	char tmp[64]; /* a copy of the fixture when the test changes files */
};

#define assert_value(name, labels, want)                                                           \
	do {                                                                                       \
		double got_ = fakehost_value((name), (labels));                                    \
		double want_ = (want);                                                             \
		if (!(fabs(got_ - want_) <= 1e-9 * fmax(1.0, fabs(want_))))                        \
			fail_msg("%s{%s} = %.17g, want %.17g", (name), (labels), got_, want_);     \
	} while (0)

static void set_root(struct fixture *f, const char *root)
{
	free(f->conf.sys_root);
	f->conf.sys_root = strdup(root);
}

/* sub: "sys" or "empty/sys" under tests/fixtures/hwmon; copy: work on a
 * copy in /tmp that the test may change. */
static void fixture_open(struct fixture *f, const char *sub, bool copy)
{
	struct cfg_errs errs = {0};
	char root[PATH_MAX];
	const char *src = getenv("BM_SOURCE_DIR");
	assert_non_null(src);
	bm__host_api = fakehost_api();
	memset(f, 0, sizeof(*f));
	assert_int_equal(schema_defaults(hw_options, &f->conf, "test", &errs), 0);
	cfg_errs_free(&errs);
	assert_string_equal(f->conf.sys_root, "/sys");
	assert_true(f->conf.thermal_zones);
	assert_true(f->conf.rapl);
	assert_int_equal(f->conf.rescan_ms, 60000);
	snprintf(root, sizeof(root), "%s/tests/fixtures/hwmon/%s", src, sub);
	if (copy) {
		char cmd[PATH_MAX + 128];
		snprintf(f->tmp, sizeof(f->tmp), "/tmp/bm-hwmon-test-XXXXXX");
		assert_non_null(mkdtemp(f->tmp));
		snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s/sys'", root, f->tmp);
		assert_int_equal(system(cmd), 0);
		snprintf(root, sizeof(root), "%s/sys", f->tmp);
	}
	set_root(f, root);
	struct bm_err err = {0};
	assert_int_equal(hw_init(fakehost_ctx(), &f->conf, &f->state, &err), 0);
}

static void fixture_close(struct fixture *f)
{
	hw_fini(f->state);
	schema_release(hw_options, &f->conf);
	fakehost_reset();
	if (f->tmp[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
		assert_int_equal(system(cmd), 0);
	}
	hw_openat = hw_sys_openat;
}

static void write_file(const struct fixture *f, const char *rel, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/sys/%s", f->tmp, rel);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
}

#define CORE "chip=platform_coretemp_0"
#define NVME "chip=nvme_nvme0"
#define SIO  "chip=platform_nct6775_656"
#define GPU  "chip=pci0000:00_0000:00:01_0"

static void check_hwmon(void)
{
	assert_value("bearmon_hwmon_chips", "", 6);
	/* chip names: one per chip with a name file (hwmon5 has none) */
	assert_int_equal(fakehost_count("node_hwmon_chip_names"), 5);
	assert_value("node_hwmon_chip_names", "chip=acpitz,chip_name=acpitz", 1);
	assert_value("node_hwmon_chip_names", CORE ",chip_name=coretemp", 1);
	assert_value("node_hwmon_chip_names", NVME ",chip_name=nvme", 1);
	assert_value("node_hwmon_chip_names", SIO ",chip_name=nct6775", 1);
	assert_value("node_hwmon_chip_names", GPU ",chip_name=amdgpu", 1);
	/* labels, kept as the driver writes them */
	assert_int_equal(fakehost_count("node_hwmon_sensor_label"), 6);
	assert_value("node_hwmon_sensor_label", CORE ",label=Package id 0,sensor=temp1", 1);
	assert_value("node_hwmon_sensor_label", CORE ",label=Core 0,sensor=temp2", 1);
	assert_value("node_hwmon_sensor_label", NVME ",label=Composite,sensor=temp1", 1);
	assert_value("node_hwmon_sensor_label", SIO ",label=Vcore,sensor=in0", 1);
	assert_value("node_hwmon_sensor_label", GPU ",label=vddgfx,sensor=in0", 1);
	assert_value("node_hwmon_sensor_label", GPU ",label=edge,sensor=temp1", 1);
	/* temperatures (millidegrees) */
	assert_int_equal(fakehost_count("node_hwmon_temp_celsius"), 7);
	assert_value("node_hwmon_temp_celsius", "chip=acpitz,sensor=temp1", 27.8);
	assert_value("node_hwmon_temp_celsius", CORE ",sensor=temp1", 45);
	assert_value("node_hwmon_temp_celsius", CORE ",sensor=temp2", 43);
	assert_value("node_hwmon_temp_celsius", NVME ",sensor=temp1", 38.85);
	assert_value("node_hwmon_temp_celsius", GPU ",sensor=temp1", 52);
	assert_value("node_hwmon_temp_celsius", "chip=hwmon5,sensor=temp1", 30);
	assert_true(isnan(
	    fakehost_value("node_hwmon_temp_celsius", "chip=hwmon5,sensor=temp2"))); /* garbage */
	/* a bare temp3 next to temp3_input: node_exporter's naming */
	assert_value("node_hwmon_temp_celsius", "chip=hwmon5,sensor=temp3", 31);
	assert_value("node_hwmon_temp_input_celsius", "chip=hwmon5,sensor=temp3", 32);
	assert_int_equal(fakehost_count("node_hwmon_temp_input_celsius"), 1);
	assert_int_equal(fakehost_count("node_hwmon_temp_max_celsius"), 3);
	assert_value("node_hwmon_temp_max_celsius", CORE ",sensor=temp1", 84);
	assert_value("node_hwmon_temp_max_celsius", NVME ",sensor=temp1", 81.85);
	assert_int_equal(fakehost_count("node_hwmon_temp_crit_celsius"), 4);
	assert_value("node_hwmon_temp_crit_celsius", "chip=acpitz,sensor=temp1", 119);
	assert_value("node_hwmon_temp_crit_celsius", CORE ",sensor=temp2", 100);
	assert_value("node_hwmon_temp_crit_celsius", NVME ",sensor=temp1", 84.85);
	assert_value("node_hwmon_temp_min_celsius", NVME ",sensor=temp1", -273.15);
	assert_value("node_hwmon_temp_crit_alarm_celsius", CORE ",sensor=temp1",
		     0); /* sic, as node_exporter */
	assert_value("node_hwmon_temp_alarm", NVME ",sensor=temp1", 0);
	/* fan, voltages (mV), pwm */
	assert_value("node_hwmon_fan_rpm", SIO ",sensor=fan1", 1200);
	assert_value("node_hwmon_fan_min_rpm", SIO ",sensor=fan1", 300);
	assert_value("node_hwmon_fan_alarm", SIO ",sensor=fan1", 0);
	assert_int_equal(fakehost_count("node_hwmon_in_volts"), 3);
	assert_value("node_hwmon_in_volts", SIO ",sensor=in0", 1.032);
	assert_value("node_hwmon_in_volts", SIO ",sensor=in1", 1.8); /* in the device directory */
	assert_value("node_hwmon_in_volts", GPU ",sensor=in0", 1.1);
	assert_value("node_hwmon_in_min_volts", SIO ",sensor=in0", 0.8);
	assert_value("node_hwmon_pwm", SIO ",sensor=pwm1", 128);
	assert_value("node_hwmon_pwm_enable", SIO ",sensor=pwm1", 2);
	/* power (µW), current (mA), energy (µJ) */
	assert_value("node_hwmon_power_average_watt", GPU ",sensor=power1", 35);
	assert_value("node_hwmon_power_cap_watt", GPU ",sensor=power1", 150);
	assert_value("node_hwmon_curr_amps", GPU ",sensor=curr1", 2.5);
	assert_value("node_hwmon_energy_joule_total", GPU ",sensor=energy1", 123.456789);
	assert_int_equal(fakehost_meta("node_hwmon_energy_joule_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_meta("node_hwmon_temp_celsius")->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("node_hwmon_temp_celsius")->unit, "celsius");
	assert_string_equal(fakehost_meta("node_hwmon_power_average_watt")->unit, "watt");
	assert_string_equal(fakehost_meta("node_hwmon_fan_rpm")->unit, "rpm");
	assert_int_equal(fakehost_meta("node_hwmon_chip_names")->type, BM_METRIC_GAUGE);
}

static char lbuf[PATH_MAX + 64];
static const char *rapl_labels(const struct fixture *f, const char *index, const char *dir)
{
	snprintf(lbuf, sizeof(lbuf), "index=%s,path=%s/class/powercap/%s", index, f->conf.sys_root,
		 dir);
	return lbuf;
}

static void test_recorded(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	fixture_open(&f, "sys", false);
	assert_int_equal(hw_collect(f.state, 1700000000000, &err), 0);
	check_hwmon();
	assert_int_equal(fakehost_count("node_thermal_zone_temp"), 2);
	assert_value("node_thermal_zone_temp", "type=x86_pkg_temp,zone=0", 45);
	assert_value("node_thermal_zone_temp", "type=acpitz,zone=1", 27.8);
	assert_string_equal(fakehost_meta("node_thermal_zone_temp")->unit, "celsius");
	/* RAPL: package-0 is "package" index 0; core and dram without a
	 * number are indexed by earlier uses of the name; the control type
	 * directory "intel-rapl" has no name and is no zone */
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     262143.0);
	assert_value("node_rapl_core_joules_total", rapl_labels(&f, "0", "intel-rapl:0:0"), 1.5);
	assert_value("node_rapl_dram_joules_total", rapl_labels(&f, "0", "intel-rapl:0:1"), 7.0);
	assert_int_equal(fakehost_meta("node_rapl_package_joules_total")->type, BM_METRIC_COUNTER);
	assert_int_equal(fakehost_unsorted(), 0);
	assert_int_equal(fakehost_sample(0)->ts_ms, 1700000000000);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	size_t n = fakehost_n_samples();
	/* chips, names, labels, temp, temp_input, max, crit, min, crit_alarm, alarm */
	assert_int_equal(
	    n, 1 + 5 + 6 + 7 + 1 + 3 + 4 + 1 + 2 + 1 +
		   /* fan 3, in 3, in_min, pwm 2, power 2, curr, energy, thermal 2, rapl 3 */
		   3 + 3 + 1 + 2 + 2 + 1 + 1 + 2 + 3);
	/* a second collection (cached layout) publishes the same */
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 1700000001000, &err), 0);
	check_hwmon();
	assert_int_equal(fakehost_n_samples(), n);
	fixture_close(&f);
}

/* What this VM has: nothing. One gauge, one info line, once. */
static void test_empty_host(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	fixture_open(&f, "empty/sys", false);
	assert_int_equal(hw_collect(f.state, 1000, &err), 0);
	assert_int_equal(fakehost_n_samples(), 1);
	assert_value("bearmon_hwmon_chips", "", 0);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO),
			       "no hwmon chips, thermal zones or RAPL zones under"));
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 2000, &err), 0);
	assert_int_equal(fakehost_n_samples(), 1);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	fixture_close(&f);
	/* a root that does not exist at all is the same */
	fixture_open(&f, "does-not-exist", false);
	assert_int_equal(hw_collect(f.state, 1000, &err), 0);
	assert_value("bearmon_hwmon_chips", "", 0);
	fixture_close(&f);
}

/* RAPL energy_uj wraps at max_energy_range_uj between two reads. */
static void test_rapl_wrap(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	const double max = 262143328850.0;
	fixture_open(&f, "sys", true);
	assert_int_equal(hw_collect(f.state, 1000, &err), 0);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     262143.0);
	/* 262143000000 -> 262143328850 (max) -> wrapped to 500000000 */
	write_file(&f, "class/powercap/intel-rapl:0/energy_uj", "500000000\n");
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 2000, &err), 0);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     (max + 500000000.0) / 1e6);
	assert_value("node_rapl_core_joules_total", rapl_labels(&f, "0", "intel-rapl:0:0"), 1.5);
	/* the unwrap state survives a rescan of the devices */
	write_file(&f, "class/powercap/intel-rapl:0/energy_uj", "900000000\n");
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 2000 + 60000, &err), 0);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     (max + 900000000.0) / 1e6);
	/* a second wrap */
	write_file(&f, "class/powercap/intel-rapl:0/energy_uj", "262000000000\n");
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 63000, &err), 0);
	write_file(&f, "class/powercap/intel-rapl:0/energy_uj", "100\n");
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 64000, &err), 0);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     (2 * max + 100.0) / 1e6);
	/* a small step back is no wrap: a reset, published as read */
	write_file(&f, "class/powercap/intel-rapl:0:0/energy_uj", "1000000\n");
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 65000, &err), 0);
	assert_value("node_rapl_core_joules_total", rapl_labels(&f, "0", "intel-rapl:0:0"), 1.0);
	fixture_close(&f);
}

static int eacces_openat(int dirfd, const char *path, int flags)
{
	if (strcmp(path, "energy_uj") == 0) {
		errno = EACCES;
		return -1;
	}
	return openat(dirfd, path, flags);
}

/* Unprivileged on Linux >= 5.10: energy_uj is 0400 root. */
static void test_rapl_eacces(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	fixture_open(&f, "sys", false);
	hw_openat = eacces_openat;
	assert_int_equal(hw_collect(f.state, 1000, &err), 0);
	assert_int_equal(fakehost_count("node_rapl_package_joules_total"), 0);
	assert_int_equal(fakehost_count("node_rapl_core_joules_total"), 0);
	assert_int_equal(fakehost_count("node_hwmon_temp_celsius"), 7);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO),
			       "energy_uj: Permission denied (root only since Linux 5.10)"));
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 2000, &err), 0);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), ""); /* said once */
	fixture_close(&f);
}

/* The NVMe drive is removed between two reads, then a rescan forgets it. */
static void test_chip_vanishes(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	char cmd[PATH_MAX];
	fixture_open(&f, "sys", true);
	assert_int_equal(hw_collect(f.state, 1000, &err), 0);
	assert_value("node_hwmon_temp_celsius", NVME ",sensor=temp1", 38.85);
	snprintf(cmd, sizeof(cmd),
		 "rm -rf '%s/sys/devices/pci0000:00/0000:00:1d.0' '%s/sys/class/hwmon/hwmon2'",
		 f.tmp, f.tmp);
	assert_int_equal(system(cmd), 0);
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 2000, &err), 0);
	assert_true(isnan(fakehost_value("node_hwmon_temp_celsius", NVME ",sensor=temp1")));
	assert_value("node_hwmon_temp_celsius", CORE ",sensor=temp1", 45);
	assert_true(((struct hw *)f.state)->rescan);
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 3000, &err), 0);
	assert_value("bearmon_hwmon_chips", "", 5);
	assert_int_equal(fakehost_count("node_hwmon_chip_names"), 4);
	assert_false(((struct hw *)f.state)->rescan);
	/* a changed reading is seen without a rescan */
	write_file(&f, "class/hwmon/hwmon1/temp1_input", "61000\n");
	fakehost_reset();
	assert_int_equal(hw_collect(f.state, 4000, &err), 0);
	assert_value("node_hwmon_temp_celsius", CORE ",sensor=temp1", 61);
	fixture_close(&f);
}

static void test_filters(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	char *inc[] = {"platform_.*"};
	char *exc[] = {".*nct6775.*"};
	fixture_open(&f, "sys", false);
	hw_fini(f.state);
	f.conf.chips_include = (struct bm_strlist){1, inc};
	f.conf.chips_exclude = (struct bm_strlist){1, exc};
	f.conf.thermal_zones = false;
	f.conf.rapl = false;
	assert_int_equal(hw_init(fakehost_ctx(), &f.conf, &f.state, &err), 0);
	assert_int_equal(hw_collect(f.state, 1000, &err), 0);
	assert_value("bearmon_hwmon_chips", "", 1);
	assert_int_equal(fakehost_count("node_hwmon_temp_celsius"), 2);
	assert_int_equal(fakehost_count("node_hwmon_fan_rpm"), 0);
	assert_int_equal(fakehost_count("node_thermal_zone_temp"), 0);
	assert_int_equal(fakehost_count("node_rapl_package_joules_total"), 0);
	hw_fini(f.state);
	f.conf.chips_include = (struct bm_strlist){0};
	f.conf.chips_exclude = (struct bm_strlist){1, (char *[]){"(unclosed"}};
	assert_int_equal(hw_init(fakehost_ctx(), &f.conf, &f.state, &err), BM_EINVAL);
	assert_non_null(strstr(err.msg, "chips_include/chips_exclude: "));
	f.conf.chips_exclude = (struct bm_strlist){0};
	assert_int_equal(hw_init(fakehost_ctx(), &f.conf, &f.state, &err), 0);
	fixture_close(&f);
}

/* File name and chip name rules of node_exporter. */
static void test_names(void **unused)
{
	char type[32];
	char sensor[32];
	const char *elem;
	char out[64];
	assert_true(
	    hw_explode("temp1_crit_alarm", type, sizeof(type), sensor, sizeof(sensor), &elem));
	assert_string_equal(type, "temp");
	assert_string_equal(sensor, "temp1");
	assert_string_equal(elem, "crit_alarm");
	assert_true(
	    hw_explode("update_interval", type, sizeof(type), sensor, sizeof(sensor), &elem));
	assert_string_equal(type, "update_interval");
	assert_string_equal(sensor, "update_interval0");
	assert_string_equal(elem, "");
	assert_true(hw_explode("pwm1", type, sizeof(type), sensor, sizeof(sensor), &elem));
	assert_string_equal(elem, "");
	assert_false(hw_explode("name", type, sizeof(type), sensor, sizeof(sensor), &elem));
	assert_false(hw_explode("uevent", type, sizeof(type), sensor, sizeof(sensor), &elem));
	assert_false(
	    hw_explode("d3cold_allowed", type, sizeof(type), sensor, sizeof(sensor), &elem));
	hw_clean("  Package id 0\n", 15, out, sizeof(out));
	assert_string_equal(out, "package_id_0");
	hw_clean("coretemp.0", 10, out, sizeof(out));
	assert_string_equal(out, "coretemp_0");
	hw_clean("0000:00:01.0", 12, out, sizeof(out));
	assert_string_equal(out, "0000:00:01_0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recorded),	  cmocka_unit_test(test_empty_host),
	    cmocka_unit_test(test_rapl_wrap),	  cmocka_unit_test(test_rapl_eacces),
	    cmocka_unit_test(test_chip_vanishes), cmocka_unit_test(test_filters),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
