/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/netdev against the fake host and
 * tests/fixtures/netdev/: net/dev, snmp, netstat, snmp6, sockstat and
 * sockstat6 recorded on the build VM; a sequence with a 32-bit wrap and an
 * interface that vanishes and comes back; garbage files; missing files.
 */
#include "plugintest.h"
#include "netdev.c"

struct fixture {
	struct nd_conf conf;
	void *state;
};

static void fixture_conf(struct fixture *f, const char *sub)
{
	bm__host_api = fakehost_api();
	fakehost_reset();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(nd_options, &f->conf);
	assert_string_equal(f->conf.proc_root, "/proc");
	assert_int_equal(f->conf.include.n, 0);
	assert_int_equal(f->conf.exclude.n, 0);
	assert_true(f->conf.netstat);
	assert_true(f->conf.sockstat);
	assert_int_equal(f->conf.netstat_fields.n, 1);
	assert_string_equal(f->conf.netstat_fields.v[0], ND_DEFAULT_NETSTAT_FIELDS);
	pt_set_fixture(&f->conf.proc_root, "netdev", sub);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&nd_ops, nd_options, f->state, &f->conf);
}

static void switch_root(struct fixture *f, const char *sub)
{
	struct nd_state *s = f->state;
	char root[PATH_MAX - 16];
	pt_fixture_path(root, sizeof(root), "netdev", sub);
	snprintf(s->path, sizeof(s->path), "%s/net/dev", root);
}

static void test_recorded(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "proc");
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

	/* netstat, default field filter: 69 series on this recording */
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

static void test_filters_and_switches(void **unused)
{
	(void)unused;
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
	(void)unused;
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
	(void)unused;
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
	(void)unused;
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
	(void)unused;
	struct fixture f;
	/* only net/dev: the optional sources are skipped with one info line */
	fixture_conf(&f, "only_dev");
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_ok(&nd_ops, f.state, 1000);
	assert_int_equal(fakehost_n_samples(), 4 * 16);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_INFO), "not found, skipping it"));
	pt_collect_ok(&nd_ops, f.state, 2000);
	assert_int_equal(fakehost_n_samples(), 2 * 4 * 16);
	fixture_close(&f);

	/* no net/dev: the collection fails, naming the file */
	fixture_conf(&f, "no-such-dir");
	f.state = pt_init(&nd_ops, &f.conf);
	pt_collect_err(&nd_ops, f.state, 1000, BM_EIO, "no-such-dir/net/dev", "No such file", NULL);
	assert_int_equal(fakehost_n_samples(), 0);
	fixture_close(&f);
}

static void test_live(void **unused)
{
	(void)unused;
	struct fixture f;
	fixture_conf(&f, "proc");
	pt_set_str(&f.conf.proc_root, "/proc");
	f.state = pt_init(&nd_ops, &f.conf);
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
		cmocka_unit_test(test_filters_and_switches),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_wrap_and_vanish),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
