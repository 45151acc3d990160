/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/hwmon against the fake host and the hand-made
 * sysfs tree tests/fixtures/hwmon/sys (six chips, two thermal zones, three
 * RAPL zones), an empty host, a chip that vanishes, a RAPL wrap and reset,
 * an unreadable energy_uj and the chip filters.
 */
#include "plugintest.h"
#include "hwmon.c"

struct fixture {
	struct hw_conf conf;
	void *state;
	char tmp[64]; /* a copy of the fixture when the test changes files */
};

/* sub: "sys" or "empty/sys" under tests/fixtures/hwmon; copy: work on a
 * copy in /tmp that the test may change. */
static void fixture_open(struct fixture *f, const char *sub, bool copy)
{
	char copy_root[sizeof(f->tmp) + 8];
	pt_fixture_begin(f, hw_options);
	assert_string_equal(f->conf.sys_root, "/sys");
	assert_true(f->conf.thermal_zones);
	assert_true(f->conf.rapl);
	assert_int_equal(f->conf.rescan_ms, 60000);
	if (copy) {
		pt_fixture_copy(f->tmp, sizeof(f->tmp), "bm-hwmon-test-", "hwmon", sub, "sys");
		snprintf(copy_root, sizeof(copy_root), "%s/sys", f->tmp);
		sub = copy_root;
	}
	pt_set_fixture(&f->conf.sys_root, "hwmon", sub);
	f->state = pt_init(&hw_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&hw_ops, hw_options, f->state, &f->conf);
	if (f->tmp[0])
		assert_int_equal(pt_rm_tree(f->tmp), 0);
	hw_openat = hw_sys_openat;
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
	assert_absent("node_hwmon_temp_celsius", "chip=hwmon5,sensor=temp2"); /* garbage */
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
}

/* The families' metadata, published with an instance's first batch. */
static void check_hwmon_meta(void)
{
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
	fixture_open(&f, "sys", false);
	pt_collect_ok(&hw_ops, f.state, 1700000000000);
	check_hwmon();
	check_hwmon_meta();
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
	/* a second collection (cached layout) publishes the same, without
	 * the metadata sent with the first */
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 1700000001000);
	check_hwmon();
	assert_null(fakehost_meta("node_hwmon_temp_celsius"));
	assert_int_equal(fakehost_n_samples(), n);
	fixture_close(&f);
}

/* What this VM has: nothing. One gauge, one info line, once. */
static void test_empty_host(void **unused)
{
	struct fixture f;
	fixture_open(&f, "empty/sys", false);
	pt_collect_ok(&hw_ops, f.state, 1000);
	assert_int_equal(fakehost_n_samples(), 1);
	assert_value("bearmon_hwmon_chips", "", 0);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO),
			       "no hwmon chips, thermal zones or RAPL zones under"));
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 2000);
	assert_int_equal(fakehost_n_samples(), 1);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), "");
	fixture_close(&f);
	/* a root that does not exist at all is the same */
	fixture_open(&f, "does-not-exist", false);
	pt_collect_ok(&hw_ops, f.state, 1000);
	assert_value("bearmon_hwmon_chips", "", 0);
	fixture_close(&f);
}

/* RAPL energy_uj wraps at max_energy_range_uj between two reads. */
static void test_rapl_wrap(void **unused)
{
	struct fixture f;
	const double max = 262143328850.0;
	fixture_open(&f, "sys", true);
	pt_collect_ok(&hw_ops, f.state, 1000);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     262143.0);
	/* 262143000000 -> 262143328850 (max) -> wrapped to 500000000 */
	pt_write_file(f.tmp, "sys/class/powercap/intel-rapl:0/energy_uj", "500000000\n");
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 2000);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     (max + 500000000.0) / 1e6);
	assert_value("node_rapl_core_joules_total", rapl_labels(&f, "0", "intel-rapl:0:0"), 1.5);
	/* the unwrap state survives a rescan of the devices */
	pt_write_file(f.tmp, "sys/class/powercap/intel-rapl:0/energy_uj", "900000000\n");
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 2000 + 60000);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     (max + 900000000.0) / 1e6);
	/* a second wrap */
	pt_write_file(f.tmp, "sys/class/powercap/intel-rapl:0/energy_uj", "262000000000\n");
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 63000);
	pt_write_file(f.tmp, "sys/class/powercap/intel-rapl:0/energy_uj", "100\n");
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 64000);
	assert_value("node_rapl_package_joules_total", rapl_labels(&f, "0", "intel-rapl:0"),
		     (2 * max + 100.0) / 1e6);
	/* a small step back is no wrap: a reset, published as read */
	pt_write_file(f.tmp, "sys/class/powercap/intel-rapl:0:0/energy_uj", "1000000\n");
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 65000);
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
	fixture_open(&f, "sys", false);
	hw_openat = eacces_openat;
	pt_collect_ok(&hw_ops, f.state, 1000);
	assert_int_equal(fakehost_count("node_rapl_package_joules_total"), 0);
	assert_int_equal(fakehost_count("node_rapl_core_joules_total"), 0);
	assert_int_equal(fakehost_count("node_hwmon_temp_celsius"), 7);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO),
			       "energy_uj: Permission denied (root only since Linux 5.10)"));
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 2000);
	assert_string_equal(fakehost_last_log(BM_LOG_DEBUG), ""); /* said once */
	fixture_close(&f);
}

/* The NVMe drive is removed between two reads, then a rescan forgets it. */
static void test_chip_vanishes(void **unused)
{
	struct fixture f;
	char cmd[PATH_MAX];
	fixture_open(&f, "sys", true);
	pt_collect_ok(&hw_ops, f.state, 1000);
	assert_value("node_hwmon_temp_celsius", NVME ",sensor=temp1", 38.85);
	snprintf(cmd, sizeof(cmd),
		 "rm -rf '%s/sys/devices/pci0000:00/0000:00:1d.0' '%s/sys/class/hwmon/hwmon2'",
		 f.tmp, f.tmp);
	assert_int_equal(system(cmd), 0);
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 2000);
	assert_absent("node_hwmon_temp_celsius", NVME ",sensor=temp1");
	assert_value("node_hwmon_temp_celsius", CORE ",sensor=temp1", 45);
	assert_true(((struct hw *)f.state)->rescan);
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 3000);
	assert_value("bearmon_hwmon_chips", "", 5);
	assert_int_equal(fakehost_count("node_hwmon_chip_names"), 4);
	assert_false(((struct hw *)f.state)->rescan);
	/* a changed reading is seen without a rescan */
	pt_write_file(f.tmp, "sys/class/hwmon/hwmon1/temp1_input", "61000\n");
	fakehost_reset();
	pt_collect_ok(&hw_ops, f.state, 4000);
	assert_value("node_hwmon_temp_celsius", CORE ",sensor=temp1", 61);
	fixture_close(&f);
}

static void test_filters(void **unused)
{
	struct fixture f;
	fixture_open(&f, "sys", false);
	pt_fini(&hw_ops, f.state);
	pt_set_list(&f.conf.chips_include, "platform_.*", NULL);
	pt_set_list(&f.conf.chips_exclude, ".*nct6775.*", NULL);
	f.conf.thermal_zones = false;
	f.conf.rapl = false;
	f.state = pt_init(&hw_ops, &f.conf);
	pt_collect_ok(&hw_ops, f.state, 1000);
	assert_value("bearmon_hwmon_chips", "", 1);
	assert_int_equal(fakehost_count("node_hwmon_temp_celsius"), 2);
	assert_int_equal(fakehost_count("node_hwmon_fan_rpm"), 0);
	assert_int_equal(fakehost_count("node_thermal_zone_temp"), 0);
	assert_int_equal(fakehost_count("node_rapl_package_joules_total"), 0);
	pt_fini(&hw_ops, f.state);
	pt_set_list(&f.conf.chips_include, NULL);
	pt_set_list(&f.conf.chips_exclude, "(unclosed", NULL);
	pt_init_err(&hw_ops, &f.conf, BM_EINVAL, "chips_include/chips_exclude: ", NULL);
	pt_set_list(&f.conf.chips_exclude, NULL);
	f.state = pt_init(&hw_ops, &f.conf);
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
