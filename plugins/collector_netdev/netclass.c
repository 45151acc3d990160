/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interface attributes from SYS/class/net/<device>/ with node_exporter's
 * netclass names (see netclass.h). Each file is kept open and re-read with
 * one pread (sysfs regenerates an attribute on every read at offset 0);
 * those that change only by configuration are re-read every
 * NC_STATIC_REFRESH collections (a netdev attribute read costs 1 to 3 us).
 */
#include "netclass.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NC_IFF_UP 0x1 /* linux/if.h: the administrative state */

static const char *const nc_files[NC_N_FILES] = {
	[NC_OPERSTATE] = "operstate", [NC_ADDRESS] = "address", [NC_BROADCAST] = "broadcast",
	[NC_DUPLEX] = "duplex", [NC_IFALIAS] = "ifalias", [NC_MTU] = "mtu", [NC_SPEED] = "speed",
	[NC_CARRIER] = "carrier", [NC_CARRIER_CHANGES] = "carrier_changes",
	[NC_CARRIER_UP] = "carrier_up_count", [NC_CARRIER_DOWN] = "carrier_down_count",
	[NC_TX_QUEUE_LEN] = "tx_queue_len", [NC_FLAGS] = "flags", [NC_IFINDEX] = "ifindex",
	[NC_IFLINK] = "iflink", [NC_TYPE] = "type", [NC_DORMANT] = "dormant",
	[NC_ADDR_ASSIGN_TYPE] = "addr_assign_type", [NC_NETDEV_GROUP] = "netdev_group",
};

/* Attributes changed by configuration only: read every NC_STATIC_REFRESH
 * collections. */
static bool nc_static(enum nc_file f)
{
	switch (f) {
	case NC_ADDRESS: case NC_BROADCAST: case NC_IFALIAS: case NC_MTU: case NC_TX_QUEUE_LEN:
	case NC_IFINDEX: case NC_IFLINK: case NC_TYPE: case NC_ADDR_ASSIGN_TYPE:
	case NC_NETDEV_GROUP:
		return true;
	default:
		return false;
	}
}

/* The numeric attributes and the metrics they become (value x scale). */
static const struct {
	enum nc_file f;
	const char *metric;
	enum bm_metric_type type;
	const char *unit;
	double scale;
	const char *help;
} nc_numbers[] = {
	{NC_MTU, "node_network_mtu_bytes", BM_METRIC_GAUGE, "bytes", 1, "MTU of the interface"},
	{NC_SPEED, "node_network_speed_bytes", BM_METRIC_GAUGE, "bytes", 125000,
	 "link speed in bytes per second (speed in Mbit/s x 125000); absent when unknown"},
	{NC_CARRIER, "node_network_carrier", BM_METRIC_GAUGE, NULL, 1,
	 "1 when the physical link is up (absent while the device is down)"},
	{NC_CARRIER_CHANGES, "node_network_carrier_changes_total", BM_METRIC_COUNTER, NULL, 1,
	 "times the link went up or down"},
	{NC_CARRIER_UP, "node_network_carrier_up_changes_total", BM_METRIC_COUNTER, NULL, 1,
	 "times the link went up"},
	{NC_CARRIER_DOWN, "node_network_carrier_down_changes_total", BM_METRIC_COUNTER, NULL, 1,
	 "times the link went down"},
	{NC_TX_QUEUE_LEN, "node_network_transmit_queue_length", BM_METRIC_GAUGE, NULL, 1,
	 "length of the transmit queue (txqueuelen)"},
	{NC_FLAGS, "node_network_flags", BM_METRIC_GAUGE, NULL, 1, "IFF_* flags of the interface"},
	{NC_IFINDEX, "node_network_iface_id", BM_METRIC_GAUGE, NULL, 1, "interface index"},
	{NC_IFLINK, "node_network_iface_link", BM_METRIC_GAUGE, NULL, 1,
	 "index of the interface this one is linked to (its own for most)"},
	{NC_TYPE, "node_network_protocol_type", BM_METRIC_GAUGE, NULL, 1,
	 "ARPHRD_* hardware type (1 ethernet, 772 loopback)"},
	{NC_DORMANT, "node_network_dormant", BM_METRIC_GAUGE, NULL, 1,
	 "1 when the interface waits for an external event (802.1X)"},
	{NC_ADDR_ASSIGN_TYPE, "node_network_address_assign_type", BM_METRIC_GAUGE, NULL, 1,
	 "how the hardware address was assigned (0 permanent, 1 random, 2 stolen, 3 set)"},
	{NC_NETDEV_GROUP, "node_network_net_dev_group", BM_METRIC_GAUGE, NULL, 1,
	 "network device group"},
};
#define NC_N_NUMBERS (sizeof(nc_numbers) / sizeof(nc_numbers[0]))

void nc_iface_init(struct nc_iface *n)
{
	memset(n, 0, sizeof(*n));
	n->dirfd = -1;
	for (int i = 0; i < NC_N_FILES; i++)
		n->f[i] = (struct pf_file)PF_FILE_INIT;
}

void nc_iface_close(struct nc_iface *n)
{
	for (int i = 0; i < NC_N_FILES; i++)
		pf_file_close(&n->f[i]);
	if (n->dirfd >= 0)
		close(n->dirfd);
	nc_iface_init(n); /* opened and read afresh next time */
}

int nc_declare(struct bm_batch *b)
{
	int rc = bm_batch_family(b, "node_network_up", BM_METRIC_GAUGE, NULL,
				 "1 when operstate is \"up\"");
	if (!rc)
		rc = bm_batch_family(b, "node_network_info", BM_METRIC_GAUGE, NULL,
				     "interface information in the labels, value 1");
	for (size_t i = 0; i < NC_N_NUMBERS && !rc; i++)
		rc = bm_batch_family(b, nc_numbers[i].metric, nc_numbers[i].type, nc_numbers[i].unit,
				     nc_numbers[i].help);
	return rc;
}

/* An attribute as text (its newline dropped) into buf; false when the
 * device has none or it cannot be read. */
static bool nc_text(struct nc_iface *n, enum nc_file f, char *buf, size_t cap)
{
	ssize_t len = pf_file_read(&n->f[f], n->dirfd, nc_files[f], buf, cap);
	if (len < 0)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

/* A numeric attribute, decimal or 0x hexadecimal (flags). */
static bool nc_number(struct nc_iface *n, enum nc_file f, long long *v)
{
	char buf[32];
	if (!nc_text(n, f, buf, sizeof(buf)) || !buf[0])
		return false;
	char *end;
	errno = 0;
	*v = strtoll(buf, &end, 0);
	return !errno && *end == '\0';
}

/* Open SYS/class/net/<device> once; false when it has none. */
static bool nc_open(struct nc_iface *n, const char *class_net, const char *device)
{
	if (n->dirfd >= 0)
		return true;
	char path[PATH_MAX];
	int w = snprintf(path, sizeof(path), "%s/%s", class_net, device);
	if (w < 0 || (size_t)w >= sizeof(path))
		return false;
	n->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return n->dirfd >= 0;
}

/* Read the configuration attributes into n (every NC_STATIC_REFRESH
 * collections). */
static void nc_read_static(struct nc_iface *n)
{
	for (size_t i = 0; i < NC_N_NUMBERS; i++)
		if (nc_static(nc_numbers[i].f))
			n->has[nc_numbers[i].f] = nc_number(n, nc_numbers[i].f, &n->val[nc_numbers[i].f]);
	if (!nc_text(n, NC_ADDRESS, n->address, sizeof(n->address)))
		n->address[0] = '\0';
	if (!nc_text(n, NC_BROADCAST, n->broadcast, sizeof(n->broadcast)))
		n->broadcast[0] = '\0';
	if (!nc_text(n, NC_IFALIAS, n->ifalias, sizeof(n->ifalias)))
		n->ifalias[0] = '\0';
}

/* node_network_up and node_network_info; false when the interface is gone. */
static int nc_info(struct bm_batch *b, const char *device, struct nc_iface *n, const char *oper,
		   long long flags, bool has_flags)
{
	char duplex[32] = "";
	nc_text(n, NC_DUPLEX, duplex, sizeof(duplex));
	int rc = bm_batch_addl(b, "node_network_up", strcmp(oper, "up") == 0 ? 1.0 : 0.0, "device",
			       device, NULL);
	const struct bm_label all[] = {
		{"address", n->address},     {"adminstate", has_flags ? (flags & NC_IFF_UP ? "up" : "down") : ""},
		{"broadcast", n->broadcast}, {"device", device},
		{"duplex", duplex},          {"ifalias", n->ifalias},
		{"operstate", oper},
	};
	struct bm_label l[sizeof(all) / sizeof(all[0])];
	size_t k = 0;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i].value[0]) /* an empty label is an absent label */
			l[k++] = all[i];
	return rc ? rc : bm_batch_add(b, "node_network_info", 1.0, l, k);
}

int nc_collect(struct bm_batch *b, const char *class_net, const char *device, struct nc_iface *n)
{
	if (!nc_open(n, class_net, device))
		return 0;
	char oper[32];
	if (!nc_text(n, NC_OPERSTATE, oper, sizeof(oper))) {
		nc_iface_close(n); /* gone, or re-created: look it up again next time */
		return 0;
	}
	if (n->age++ % NC_STATIC_REFRESH == 0)
		nc_read_static(n);
	int rc = 0;
	long long flags = 0;
	bool has_flags = false;
	for (size_t i = 0; i < NC_N_NUMBERS && !rc; i++) {
		enum nc_file f = nc_numbers[i].f;
		long long v = n->val[f];
		if (nc_static(f) ? !n->has[f] : !nc_number(n, f, &v))
			continue;
		if (nc_numbers[i].f == NC_FLAGS) {
			flags = v;
			has_flags = true;
		}
		if (nc_numbers[i].f == NC_SPEED && v < 0)
			continue; /* -1: unknown (no link, virtual device) */
		rc = bm_batch_addl(b, nc_numbers[i].metric, (double)v * nc_numbers[i].scale, "device",
				   device, NULL);
	}
	return rc ? rc : nc_info(b, device, n, oper, flags, has_flags);
}
