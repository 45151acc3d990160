/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interface attributes from SYS/class/net/<device>/ (node_exporter's
 * netclass collector: node_network_up, _info, _mtu_bytes, _speed_bytes,
 * carrier, queue, flags and ids), with each interface's files kept open
 * and its configuration attributes read every NC_STATIC_REFRESH
 * collections.
 */
#ifndef BEARMON_COLLECTOR_NETDEV_NETCLASS_H
#define BEARMON_COLLECTOR_NETDEV_NETCLASS_H

#include <bearmon/bm_batch.h>

#include "../common/procfs.h"

/* The attribute files read, in nc_files[] order. */
enum nc_file {
	NC_OPERSTATE, NC_ADDRESS, NC_BROADCAST, NC_DUPLEX, NC_IFALIAS, NC_MTU, NC_SPEED,
	NC_CARRIER, NC_CARRIER_CHANGES, NC_CARRIER_UP, NC_CARRIER_DOWN, NC_TX_QUEUE_LEN,
	NC_FLAGS, NC_IFINDEX, NC_IFLINK, NC_TYPE, NC_DORMANT, NC_ADDR_ASSIGN_TYPE,
	NC_NETDEV_GROUP, NC_N_FILES
};

/* Collections between two reads of the attributes that change only by
 * configuration (address, MTU, queue length, ids, type); the others
 * (operstate, carrier and its counters, speed, duplex, flags, dormant)
 * are read every collection. */
#define NC_STATIC_REFRESH 10

/* One interface's directory and attribute files, kept open, and what the
 * configuration attributes read last. */
struct nc_iface {
	int dirfd; /* SYS/class/net/<device>, -1 closed */
	struct pf_file f[NC_N_FILES];
	unsigned age;                /* collections since the configuration was read */
	bool has[NC_N_FILES];        /* numeric configuration attributes: read, and ... */
	long long val[NC_N_FILES];   /* ... their values */
	char address[64], broadcast[64], ifalias[256];
};

/* Nothing open yet. */
void nc_iface_init(struct nc_iface *n);
/* Close what is open (the interface went away, or fini). */
void nc_iface_close(struct nc_iface *n);

/* Declare the families (once per batch, before nc_collect). */
int nc_declare(struct bm_batch *b);

/*
 * Add the attribute samples of device (its directory under class_net, e.g.
 * "/sys/class/net") to b. An interface without a sysfs directory (another
 * network namespace's /proc, a device gone since net/dev was read) adds
 * nothing; an attribute a device does not have (speed of lo, carrier of a
 * device that is down: EINVAL) is left out. Returns a batch error.
 */
int nc_collect(struct bm_batch *b, const char *class_net, const char *device, struct nc_iface *n);

#endif /* BEARMON_COLLECTOR_NETDEV_NETCLASS_H */
