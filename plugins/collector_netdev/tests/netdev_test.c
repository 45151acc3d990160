/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/netdev against the fake host and
 * tests/fixtures/netdev/: net/dev, snmp, netstat, snmp6, sockstat,
 * sockstat6 and sys/class/net recorded on the build VM; a sequence with a
 * 32-bit wrap and an interface that vanishes and comes back; garbage
 * files; missing files.
 */
#include "plugintest.h"
#include "netdev.c"

struct fixture {
	struct nd_conf conf;
	void *state;
};

/* Defaults but netclass, proc_root at tests/fixtures/netdev/<sub> (or at
 * an absolute sub); init not called. */
static void fixture_conf(struct fixture *f, const char *sub)
{
	pt_fixture_begin(f, nd_options);
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_int_equal(f->conf.include.n, 0);
	assert_int_equal(f->conf.exclude.n, 0);
	assert_true(f->conf.netstat);
	assert_true(f->conf.sockstat);
	assert_int_equal(f->conf.netstat_fields.n, 0); /* every field */
	assert_true(f->conf.netclass);
	assert_string_equal(f->conf.sys_root, "/sys");
	f->conf.netclass = false; /* test_netclass turns it on, with its fixture */
	pt_set_fixture(&f->conf.proc_root, "netdev", sub);
}

/* The same, with the instance started. */
static void fixture_open(struct fixture *f, const char *sub)
{
	fixture_conf(f, sub);
	f->state = pt_init(&nd_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&nd_ops, nd_options, f->state, &f->conf);
}

/* Point the running instance at another fixture directory. */
static void switch_root(struct fixture *f, const char *sub)
{
	struct nd_state *s = f->state;
	pt_fixture_file(s->path, sizeof(s->path), "netdev", sub, "net/dev");
}

static void test_recorded(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	pt_set_list(&f.conf.netstat_fields, ND_NODE_EXPORTER_NETSTAT_FIELDS, NULL);
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_ok(&nd_ops, f.state, 1000);
	/* eth0: 19735283 585 0 0 0 0 0 0 26570 310 0 0 0 0 0 0 */
	assert_value("node_network_receive_bytes_total", "device=eth0", 19735283);
	assert_value("node_network_receive_packets_total", "device=eth0", 585);
	assert_value("node_network_transmit_bytes_total", "device=eth0", 26570);
	assert_value("node_network_transmit_packets_total", "device=eth0", 310);
	assert_value("node_network_receive_bytes_total", "device=lo", 560916);
	assert_value("node_network_transmit_packets_total", "device=lo", 4077);
	assert_value("node_network_receive_multicast_total", "device=ifb1", 0);
	for (unsigned m = 0; m < ND_FIELDS; m++) {
		assert_int_equal(fakehost_count(nd_metrics[m].name), 4); /* lo ifb0 ifb1 eth0 */
		assert_int_equal(fakehost_meta(nd_metrics[m].name)->type, BM_METRIC_COUNTER);
	}
	assert_string_equal(fakehost_meta("node_network_receive_bytes_total")->unit, "bytes");

	/* netstat, node_exporter's field filter: 69 series on this recording */
	size_t n_netstat = 0;
	for (size_t i = 0; i < fakehost_n_samples(); i++)
		n_netstat += strncmp(fakehost_sample(i)->name, "node_netstat_", 13) == 0;
	assert_int_equal(n_netstat, 69);
	assert_value("node_netstat_Ip_Forwarding", "", 2);
	assert_value("node_netstat_Tcp_ActiveOpens", "", 440);
	assert_value("node_netstat_Tcp_CurrEstab", "", 0);
	assert_value("node_netstat_Tcp_PassiveOpens", "", 403);
	assert_value("node_netstat_Tcp_OutRsts", "", 29);
	assert_value("node_netstat_TcpExt_TCPTimeouts", "", 2);
	assert_value("node_netstat_TcpExt_ListenOverflows", "", 0);
	assert_value("node_netstat_IpExt_InOctets", "", 20287797);
	assert_value("node_netstat_Udp_InDatagrams", "", 28);
	assert_value("node_netstat_Udp_OutDatagrams", "", 29);
	assert_value("node_netstat_Ip6_InReceives", "", 1);
	assert_value("node_netstat_Ip6_OutRequests", "", 10);
	assert_value("node_netstat_Icmp6_InErrors", "", 1);
	assert_value("node_netstat_Udp6_InDatagrams", "", 0);
	assert_int_equal(fakehost_meta("node_netstat_Tcp_ActiveOpens")->type, BM_METRIC_UNTYPED);
	assert_absent("node_netstat_Tcp_MaxConn", ""); /* filtered out */
	assert_absent("node_netstat_TcpExt_TW", "");

	/* sockstat and sockstat6 */
	double page = (double)sysconf(_SC_PAGESIZE);
	assert_value("node_sockstat_sockets_used", "", 12);
	assert_value("node_sockstat_TCP_inuse", "", 1);
	assert_value("node_sockstat_TCP_orphan", "", 0);
	assert_value("node_sockstat_TCP_tw", "", 0);
	assert_value("node_sockstat_TCP_alloc", "", 1);
	assert_value("node_sockstat_TCP_mem", "", 149);
	assert_value("node_sockstat_TCP_mem_bytes", "", 149 * page);
	assert_value("node_sockstat_UDP_mem_bytes", "", 0);
	assert_value("node_sockstat_FRAG_memory", "", 0);
	assert_value("node_sockstat_TCP6_inuse", "", 0);
	assert_value("node_sockstat_FRAG6_memory", "", 0);
	assert_int_equal(fakehost_meta("node_sockstat_TCP_inuse")->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("node_sockstat_TCP_mem_bytes")->unit, "bytes");
	assert_int_equal(fakehost_unsorted(), 0);

	/* second read: same values, the verdict caches are reused */
	struct nd_state *s = f.state;
	struct nd_verdict *cached = s->cache[ND_NETSTAT].v;
	size_t before = fakehost_n_samples();
	pt_collect_ok(&nd_ops, f.state, 2000);
	assert_int_equal(fakehost_n_samples(), 2 * before);
	assert_ptr_equal(cached, s->cache[ND_NETSTAT].v);
	assert_value("node_netstat_Tcp_ActiveOpens", "", 440);
	fixture_close(&f);
}

/* The default: every field of snmp, netstat and snmp6 (312 + 90 on this
 * recording), each family declared in the first batch only. */
static void test_all_fields(void **unused)
{
	struct fixture f;
	fixture_open(&f, "proc");
	pt_collect_ok(&nd_ops, f.state, 1000);
	size_t n_netstat = 0;
	for (size_t i = 0; i < fakehost_n_samples(); i++)
		n_netstat += strncmp(fakehost_sample(i)->name, "node_netstat_", 13) == 0;
	assert_int_equal(n_netstat, 312 + 90);
	assert_value("node_netstat_Tcp_MaxConn", "", -1);
	assert_value("node_netstat_TcpExt_TW", "", 412);
	assert_int_equal(fakehost_meta("node_netstat_TcpExt_TW")->type, BM_METRIC_UNTYPED);
	size_t before = fakehost_n_samples();
	fakehost_reset();
	pt_collect_ok(&nd_ops, f.state, 2000);
	assert_int_equal(fakehost_n_samples(), before);
	assert_null(fakehost_meta("node_netstat_TcpExt_TW"));
	assert_null(fakehost_meta("node_network_receive_bytes_total"));
	assert_value("node_netstat_Tcp_ActiveOpens", "", 440);
	fixture_close(&f);
}

/* class/net attributes of the recorded interfaces: lo (no speed), ifb0
 * and ifb1 (down: no carrier, no dormant), eth0 (speed -1: unknown); then
 * eth0 at 10 Gbit/s at once and with a new MTU after NC_STATIC_REFRESH
 * collections, and an interface without a sysfs directory. */
static void test_netclass(void **unused)
{
	struct fixture f;
	char tmp[64], path[PATH_MAX + 32];
	fixture_conf(&f, "proc");
	f.conf.netclass = true;
	f.conf.netstat = false;
	f.conf.sockstat = false;
	pt_fixture_copy(tmp, sizeof(tmp), "bm-netclass-test-", "netdev", "sys", "");
	pt_set_str(&f.conf.sys_root, tmp);
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_ok(&nd_ops, f.state, 1000);
	assert_value("node_network_up", "device=eth0", 1);
	assert_value("node_network_up", "device=lo", 0); /* operstate "unknown" */
	assert_value("node_network_up", "device=ifb0", 0);
	assert_value("node_network_info",
		     "address=02:fc:00:00:00:01,adminstate=up,broadcast=ff:ff:ff:ff:ff:ff,"
		     "device=eth0,duplex=unknown,operstate=up",
		     1);
	assert_value("node_network_info",
		     "address=da:6a:21:9b:a6:b2,adminstate=down,broadcast=ff:ff:ff:ff:ff:ff,"
		     "device=ifb0,operstate=down",
		     1);
	assert_value("node_network_mtu_bytes", "device=eth0", 1400);
	assert_value("node_network_mtu_bytes", "device=lo", 65536);
	assert_absent("node_network_speed_bytes", "device=eth0"); /* -1 */
	assert_absent("node_network_speed_bytes", "device=lo");   /* EINVAL */
	assert_value("node_network_carrier", "device=eth0", 1);
	assert_absent("node_network_carrier", "device=ifb1");
	assert_value("node_network_carrier_changes_total", "device=eth0", 2);
	assert_value("node_network_carrier_up_changes_total", "device=eth0", 1);
	assert_value("node_network_carrier_down_changes_total", "device=eth0", 1);
	assert_value("node_network_transmit_queue_length", "device=ifb0", 32);
	assert_value("node_network_flags", "device=eth0", 0x1003);
	assert_value("node_network_iface_id", "device=eth0", 4);
	assert_value("node_network_iface_link", "device=lo", 1);
	assert_value("node_network_protocol_type", "device=lo", 772);
	assert_value("node_network_dormant", "device=eth0", 0);
	assert_value("node_network_address_assign_type", "device=ifb1", 1);
	assert_value("node_network_net_dev_group", "device=eth0", 0);
	assert_int_equal(fakehost_meta("node_network_speed_bytes")->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("node_network_mtu_bytes")->unit, "bytes");
	assert_int_equal(fakehost_meta("node_network_carrier_changes_total")->type,
			 BM_METRIC_COUNTER);
	/* 4 x 16 net/dev counters; lo 15, ifb0 13, ifb1 13, eth0 15 attributes */
	assert_int_equal(fakehost_n_samples(), 4 * 16 + 15 + 13 + 13 + 15);
	assert_int_equal(fakehost_unsorted(), 0);

	/* speed is read every collection, the MTU (configuration) every
	 * NC_STATIC_REFRESH collections */
	pt_write_file(tmp, "class/net/eth0/speed", "10000\n");
	pt_write_file(tmp, "class/net/eth0/mtu", "9000\n");
	snprintf(path, sizeof(path), "%s/class/net/ifb1", tmp);
	assert_int_equal(pt_rm_tree(path), 0);
	fakehost_reset();
	pt_collect_ok(&nd_ops, f.state, 2000);
	assert_value("node_network_speed_bytes", "device=eth0", 1.25e9);
	assert_value("node_network_mtu_bytes", "device=eth0", 1400);
	assert_int_equal(fakehost_count("node_network_up"), 3); /* ifb1: no directory */
	assert_value("node_network_receive_bytes_total", "device=ifb1", 0);
	for (int i = 2; i < NC_STATIC_REFRESH; i++)
		pt_collect_ok(&nd_ops, f.state, 1000 + 1000 * i);
	assert_value("node_network_mtu_bytes", "device=eth0", 1400);
	pt_collect_ok(&nd_ops, f.state, 1000 + 1000 * NC_STATIC_REFRESH);
	assert_value("node_network_mtu_bytes", "device=eth0", 9000);
	fixture_close(&f);
	pt_rm_tree(tmp);
}

static void test_filters_and_switches(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	pt_set_list(&f.conf.exclude, "^(veth.*|lo)$", NULL);
	pt_set_list(&f.conf.include, "(eth|lo|veth)[0-9]*", NULL);
	pt_set_list(&f.conf.netstat_fields, "Tcp_.*", NULL);
	f.conf.sockstat = false;
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_ok(&nd_ops, f.state, 1000);
	assert_int_equal(fakehost_count("node_network_receive_bytes_total"), 1);
	assert_value("node_network_receive_bytes_total", "device=eth0", 19735283);
	assert_absent("node_network_receive_bytes_total", "device=lo");
	assert_value("node_netstat_Tcp_MaxConn", "", -1); /* negative values */
	assert_value("node_netstat_Tcp_RtoMax", "", 120000);
	assert_absent("node_netstat_Ip_Forwarding", "");
	assert_absent("node_sockstat_sockets_used", "");
	fixture_close(&f);

	fixture_conf(&f, "proc");
	f.conf.netstat = false;
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_ok(&nd_ops, f.state, 1000);
	assert_int_equal(fakehost_n_samples(), 4 * 16 + 20); /* dev + sockstat(6) */
	assert_absent("node_netstat_Ip_Forwarding", "");
	fixture_close(&f);
}

static void test_bad_regex(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "proc");
	pt_set_list(&f.conf.netstat_fields, "Tcp_(", NULL);
	pt_init_err(&nd_ops, &f.conf, BM_EINVAL, "netstat_fields", "Tcp_(", NULL);
	pt_set_list(&f.conf.netstat_fields, NULL);
	pt_set_list(&f.conf.include, "[eth", NULL);
	pt_init_err(&nd_ops, &f.conf, BM_EINVAL, "include/exclude", NULL);
	fixture_close(&f);
}

/* wrap/1..3: eth0 wraps (rx bytes 4294967000 -> 100), eth1 vanishes and
 * comes back with smaller values (a reset, not a wrap). */
static void test_wrap_and_vanish(void **unused)
{
	const double two32 = 4294967296.0;
	struct fixture f;
	fixture_conf(&f, "wrap/1");
	f.conf.netstat = false;
	f.conf.sockstat = false;
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_ok(&nd_ops, f.state, 1000);
	assert_value("node_network_receive_bytes_total", "device=eth0", 4294967000.0);
	assert_value("node_network_receive_packets_total", "device=eth0", 4294967295.0);
	assert_value("node_network_receive_bytes_total", "device=eth1", 10);

	switch_root(&f, "wrap/2");
	size_t before = fakehost_n_samples();
	pt_collect_ok(&nd_ops, f.state, 2000);
	assert_value("node_network_receive_bytes_total", "device=eth0", two32 + 100);
	assert_value("node_network_receive_packets_total", "device=eth0", two32 + 0);
	assert_value("node_network_transmit_bytes_total", "device=eth0", 4294967100.0);
	assert_value("node_network_receive_errs_total", "device=eth0", 1);
	assert_int_equal(pt_count_labels(before, "device=eth1"), 0);
	assert_int_equal(((struct nd_state *)f.state)->n_if, 1);

	switch_root(&f, "wrap/3");
	pt_collect_ok(&nd_ops, f.state, 3000);
	assert_value("node_network_receive_bytes_total", "device=eth0", two32 + 200);
	assert_value("node_network_receive_packets_total", "device=eth0", two32 + 1);
	assert_value("node_network_transmit_bytes_total", "device=eth0", 4294967200.0);
	/* back with 5 after 10: published as read (reset), not 2^32 + 5 */
	assert_value("node_network_receive_bytes_total", "device=eth1", 5);
	assert_value("node_network_transmit_bytes_total", "device=eth1", 6);
	fixture_close(&f);
}

static void test_garbage(void **unused)
{
	struct fixture f;
	fixture_conf(&f, "garbage");
	pt_set_list(&f.conf.netstat_fields, ".*", NULL);
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_ok(&nd_ops, f.state, 1000);
	/* net/dev: lo (first line wins) and veth1234abcd (extra column ignored) */
	assert_int_equal(fakehost_count("node_network_receive_bytes_total"), 2);
	assert_value("node_network_receive_bytes_total", "device=lo", 1);
	assert_value("node_network_receive_bytes_total", "device=veth1234abcd", 16);
	assert_value("node_network_transmit_compressed_total", "device=veth1234abcd", 1);
	assert_absent("node_network_receive_bytes_total", "device=eth0");
	assert_absent("node_network_receive_bytes_total", "device=eth1");
	/* net/snmp: good pairs and good fields survive */
	assert_value("node_netstat_Ip_Forwarding", "", 1);
	assert_value("node_netstat_Ip_DefaultTTL", "", 64);
	assert_value("node_netstat_Tcp_ActiveOpens", "", 5);
	assert_absent("node_netstat_Tcp_CurrEstab", "");
	assert_value("node_netstat_Tcp_InSegs", "", 7);
	assert_absent("node_netstat_Udp_InDatagrams", "");
	assert_absent("node_netstat_UdpX_InDatagrams", "");
	assert_value("node_netstat_Icmp_InErrors", "", 3);
	assert_absent("node_netstat_Icmp_OutErrors", "");
	assert_absent("node_netstat_Tcp_OutRsts", "");
	/* net/snmp6 */
	assert_value("node_netstat_Ip6_InReceives", "", 5);
	assert_absent("node_netstat_Ip6_OutRequests", "");
	assert_value("node_netstat_UdpLite6_InDatagrams", "", 9);
	/* net/sockstat */
	assert_value("node_sockstat_sockets_used", "", 7);
	assert_value("node_sockstat_TCP_inuse", "", 2);
	assert_absent("node_sockstat_TCP_orphan", "");
	assert_absent("node_sockstat_TCP_tw", "");
	assert_value("node_sockstat_UDP_inuse", "", 3);
	assert_value("node_sockstat_UDP_mem_bytes", "", 2.0 * (double)sysconf(_SC_PAGESIZE));
	assert_true(((struct nd_state *)f.state)->warned_garbage);
	/* net/netstat and net/sockstat6 are absent here: skipped, logged once */
	struct nd_state *s = f.state;
	assert_true(s->src_missing[ND_NETSTAT]);
	assert_true(s->src_missing[ND_SOCKSTAT6]);
	assert_false(s->src_missing[ND_SNMP]);
	fixture_close(&f);
}

static void test_missing(void **unused)
{
	struct fixture f;
	/* only net/dev: the optional sources are skipped with one info line */
	fixture_open(&f, "only_dev");
	pt_collect_ok(&nd_ops, f.state, 1000);
	assert_int_equal(fakehost_n_samples(), 4 * 16);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "not found, skipping it"));
	pt_collect_ok(&nd_ops, f.state, 2000);
	assert_int_equal(fakehost_n_samples(), 2 * 4 * 16);
	fixture_close(&f);

	/* no net/dev: the collection fails, naming the file */
	fixture_open(&f, "no-such-dir");
	pt_collect_err_none(&nd_ops, f.state, 1000, BM_EIO, "no-such-dir/net/dev", "No such file",
			    NULL);
	fixture_close(&f);
}

static void test_live(void **unused)
{
	struct fixture f;
	fixture_open(&f, "/proc");
	pt_collect_ok(&nd_ops, f.state, 1000);
	struct nd_state *s = f.state;
	char *buf = s->buf;
	pt_collect_ok(&nd_ops, f.state, 2000);
	assert_ptr_equal(buf, s->buf);
	assert_true(fakehost_count("node_network_receive_bytes_total") >= 2);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_all_fields),
		cmocka_unit_test(test_netclass),
		cmocka_unit_test(test_filters_and_switches),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_wrap_and_vanish),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
