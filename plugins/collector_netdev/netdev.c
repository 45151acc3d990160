/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collector "netdev": per interface counters from PROC_ROOT/net/dev
 * (node_network_*{device}, 32-bit wraps unwrapped), protocol counters from
 * net/snmp, net/netstat and net/snmp6 (node_netstat_<Proto>_<Field>),
 * socket counts from net/sockstat and net/sockstat6 (node_sockstat_*) and
 * interface attributes from SYS/class/net (netclass.c).
 */
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/counter32.h"
#include "../common/procfs.h"
#include "../common/publish.h"
#include "netclass.h"

/* node_exporter's --collector.netstat.fields default (no \d to translate);
 * bearmon's default is every field (see the README) */
#define ND_NODE_EXPORTER_NETSTAT_FIELDS                                                              \
	"^(.*Ip6.*|Icmp6?_(InErrors|OutErrors)|IpExt_(InOctets|OutOctets)|Ip_Forwarding|"      \
	"Tcp_(ActiveOpens|CurrEstab|InErrs|InSegs|OutRsts|OutSegs|PassiveOpens|RetransSegs)|" \
	"TcpExt_(ListenDrops|ListenOverflows|SyncookiesFailed|SyncookiesRecv|SyncookiesSent|" \
	"TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|"                                  \
	"Udp6?_(InDatagrams|InErrors|NoPorts|OutDatagrams|RcvbufErrors|SndbufErrors))$"

#define ND_FIELDS 16             /* counters per interface in net/dev */
#define ND_NAME_MAX 32           /* IFNAMSIZ is 16 */
#define ND_MAX_IFACES 16384      /* state entries kept, excluded ones included */
#define ND_MAX_FILE (16u << 20)  /* refuse to buffer more than this */
#define ND_KEY_MAX 96            /* "Proto_Field" */
#define ND_MAX_STAT_FIELDS 4096  /* netstat fields cached per file */

struct nd_conf {
	char *proc_root;                  /* "/proc" */
	struct bm_strlist include;        /* interface regexes to keep */
	struct bm_strlist exclude;        /* interface regexes to drop */
	bool netstat;                     /* read net/snmp, net/netstat, net/snmp6 */
	struct bm_strlist netstat_fields; /* "Proto_Field" regexes to publish */
	bool sockstat;                    /* read net/sockstat, net/sockstat6 */
	bool netclass;                    /* read SYS/class/net/<device>/ */
	char *sys_root;                   /* "/sys" */
};

static const struct bm_option nd_options[] = {
	BM_OPTION("proc_root", BM_OPT_STRING, "/proc", struct nd_conf, proc_root,
		  "procfs mount point; PROC_ROOT/net/dev and friends are read"),
	BM_OPTION("include", BM_OPT_STRING_LIST, NULL, struct nd_conf, include,
		  "interface name regexes (POSIX ERE, anchored) to collect; empty = all"),
	BM_OPTION("exclude", BM_OPT_STRING_LIST, NULL, struct nd_conf, exclude,
		  "interface name regexes (POSIX ERE, anchored) to skip; empty = none"),
	BM_OPTION("netstat", BM_OPT_BOOL, "true", struct nd_conf, netstat,
		  "publish node_netstat_* from net/snmp, net/netstat and net/snmp6"),
	BM_OPTION("netstat_fields", BM_OPT_STRING_LIST, NULL, struct nd_conf, netstat_fields,
		  "Proto_Field regexes (POSIX ERE, anchored) of netstat counters to publish; empty (the default) = every field"),
	BM_OPTION("sockstat", BM_OPT_BOOL, "true", struct nd_conf, sockstat,
		  "publish node_sockstat_* from net/sockstat and net/sockstat6"),
	BM_OPTION("netclass", BM_OPT_BOOL, "true", struct nd_conf, netclass,
		  "publish interface attributes (node_network_up, _info, _mtu_bytes, _speed_bytes...) "
		  "from SYS_ROOT/class/net"),
	BM_OPTION("sys_root", BM_OPT_STRING, "/sys", struct nd_conf, sys_root,
		  "sysfs mount point; SYS_ROOT/class/net/<device>/ is read"),
	BM_OPTION_END,
};

struct nd_metric {
	const char *name;
	const char *unit;
	const char *help;
};

/* In the column order of net/dev. */
static const struct nd_metric nd_metrics[ND_FIELDS] = {
	{"node_network_receive_bytes_total", "bytes", "bytes received"},
	{"node_network_receive_packets_total", NULL, "packets received"},
	{"node_network_receive_errs_total", NULL, "receive errors"},
	{"node_network_receive_drop_total", NULL, "received packets dropped"},
	{"node_network_receive_fifo_total", NULL, "receive FIFO buffer errors"},
	{"node_network_receive_frame_total", NULL, "receive framing errors"},
	{"node_network_receive_compressed_total", NULL, "compressed packets received"},
	{"node_network_receive_multicast_total", NULL, "multicast frames received"},
	{"node_network_transmit_bytes_total", "bytes", "bytes transmitted"},
	{"node_network_transmit_packets_total", NULL, "packets transmitted"},
	{"node_network_transmit_errs_total", NULL, "transmit errors"},
	{"node_network_transmit_drop_total", NULL, "transmitted packets dropped"},
	{"node_network_transmit_fifo_total", NULL, "transmit FIFO buffer errors"},
	{"node_network_transmit_colls_total", NULL, "collisions detected"},
	{"node_network_transmit_carrier_total", NULL, "carrier losses"},
	{"node_network_transmit_compressed_total", NULL, "compressed packets transmitted"},
};

/* Per-interface state, kept while the interface is listed. */
struct nd_iface {
	char name[ND_NAME_MAX];   /* first: the key of pf_table_get() */
	bool skip;                /* filtered out */
	bool seen;                /* listed in the current read */
	uint64_t val[ND_FIELDS];  /* unwrapped values of the latest read */
	struct counter32 c[ND_FIELDS];
	struct nc_iface nc;       /* its class/net attributes, kept open */
};

/* The filter's verdict on the field at one position of a netstat file and
 * the metric name it gives: the layout never changes while the kernel runs,
 * so the regexes run and the name is built once. */
struct nd_verdict {
	char key[ND_KEY_MAX];
	char name[ND_KEY_MAX + 16]; /* "node_netstat_<key>"; "" when filtered out */
};

/* One optional source file. */
enum nd_src { ND_SNMP, ND_NETSTAT, ND_SNMP6, ND_SOCKSTAT, ND_SOCKSTAT6, ND_N_SRC };
static const char *const nd_src_files[ND_N_SRC] = {"net/snmp", "net/netstat", "net/snmp6",
						   "net/sockstat", "net/sockstat6"};

struct nd_cache {
	struct nd_verdict *v;
	size_t n, cap;
};

struct nd_state {
	struct bm_ctx *ctx;
	const struct nd_conf *conf;
	struct bm_filter filter;        /* interfaces */
	struct bm_filter fields;        /* netstat Proto_Field */
	char path[PATH_MAX];            /* PROC_ROOT/net/dev */
	char class_net[PATH_MAX];       /* SYS_ROOT/class/net */
	char src_path[ND_N_SRC][PATH_MAX];
	bool src_missing[ND_N_SRC];     /* logged once at info */
	struct nd_cache cache[ND_N_SRC];
	struct pf_file dev_file;        /* net/dev, kept open */
	struct pf_file src_file[ND_N_SRC];
	char *buf;                      /* file contents, grown as needed */
	size_t cap;
	struct nd_iface *ifs;           /* in file order, vanished ones removed */
	size_t n_if, cap_if;
	struct bm_batch batch;
	struct pub_families families;   /* metadata already published */
	double page_size;               /* sockstat "mem" is in pages */
	bool warned_garbage;
	bool warned_full;
};

static void nd_garbage(struct nd_state *s, const char *path, unsigned lineno)
{
	pf_log_first(s->ctx, &s->warned_garbage, "%s: skipping malformed line %u", path, lineno);
}

/* ------------------------------------------------------------------ net/dev */

static struct nd_iface *nd_lookup(struct nd_state *s, const char *name, size_t len, size_t hint)
{
	bool fresh;
	struct nd_iface *d = pf_table_get((void **)&s->ifs, &s->n_if, &s->cap_if, sizeof(*d),
					  ND_MAX_IFACES, name, len, hint, &fresh);
	if (!d && s->n_if == ND_MAX_IFACES)
		pf_log_once(s->ctx, &s->warned_full, BM_LOG_WARN,
			    "%s: more than %d interfaces, ignoring the rest", s->path, ND_MAX_IFACES);
	if (fresh) {
		d->skip = !bm_filter_match(&s->filter, d->name);
		nc_iface_init(&d->nc);
	}
	return d;
}

/* "  eth0: 1 2 ... 16" -> the interface's state. False when malformed. */
static bool nd_parse_dev_line(struct nd_state *s, char *line, size_t hint)
{
	uint64_t raw[ND_FIELDS];
	char *colon = strrchr(line, ':');
	if (!colon)
		return false;
	char *name = line;
	while (pf_is_blank(*name))
		name++;
	char *ne = colon;
	while (ne > name && pf_is_blank(ne[-1]))
		ne--;
	size_t len = (size_t)(ne - name);
	if (len == 0 || len >= ND_NAME_MAX)
		return false;
	for (const char *c = name; c < ne; c++)
		if (pf_is_blank(*c))
			return false;
	char *p = colon + 1;
	for (unsigned i = 0; i < ND_FIELDS; i++) {
		char *q;
		while (pf_is_blank(*p))
			p++;
		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		raw[i] = strtoull(p, &q, 10);
		if (errno || (*q && !pf_is_blank(*q)))
			return false;
		p = q;
	}
	struct nd_iface *d = nd_lookup(s, name, len, hint);
	if (!d)
		return true;
	if (d->seen)
		return false;
	d->seen = true;
	if (d->skip)
		return true;
	for (unsigned i = 0; i < ND_FIELDS; i++)
		d->val[i] = counter32_unwrap(&d->c[i], raw[i]);
	return true;
}

static void nd_parse_dev(struct nd_state *s, size_t len)
{
	char *p = s->buf, *end = s->buf + len, *line;
	unsigned lineno = 0;
	size_t idx = 0;
	for (size_t i = 0; i < s->n_if; i++)
		s->ifs[i].seen = false;
	while ((line = pf_next_line(&p, end, NULL)) != NULL) {
		lineno++;
		if (strchr(line, '|')) /* the two header lines */
			continue;
		const char *t = line;
		while (pf_is_blank(*t))
			t++;
		if (!*t)
			continue;
		if (!nd_parse_dev_line(s, line, idx))
			nd_garbage(s, s->path, lineno);
		idx++;
	}
	/* a vanished interface is a reset when it returns: drop its state */
	size_t k = 0;
	for (size_t i = 0; i < s->n_if; i++) {
		if (!s->ifs[i].seen) {
			nc_iface_close(&s->ifs[i].nc);
			continue;
		}
		if (k != i)
			s->ifs[k] = s->ifs[i];
		k++;
	}
	s->n_if = k;
}

/* Whether an interface is kept (its families are declared then). */
static bool nd_emit_declared(const struct nd_state *s)
{
	for (size_t i = 0; i < s->n_if; i++)
		if (!s->ifs[i].skip)
			return true;
	return false;
}

static int nd_emit_dev(struct nd_state *s)
{
	if (!nd_emit_declared(s))
		return 0;
	for (unsigned m = 0; m < ND_FIELDS; m++) {
		const struct nd_metric *nm = &nd_metrics[m];
		int rc = pub_declare(&s->batch, &s->families, nm->name, BM_METRIC_COUNTER, nm->unit,
				     nm->help);
		for (size_t i = 0; i < s->n_if && !rc; i++)
			if (!s->ifs[i].skip)
				rc = bm_batch_addl(&s->batch, nm->name, (double)s->ifs[i].val[m],
						   "device", s->ifs[i].name, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

/* The class/net attributes of every interface kept. */
static int nd_emit_netclass(struct nd_state *s)
{
	int rc = nd_emit_declared(s) ? nc_declare(&s->batch) : 0;
	for (size_t i = 0; i < s->n_if && !rc; i++)
		if (!s->ifs[i].skip)
			rc = nc_collect(&s->batch, s->class_net, s->ifs[i].name, &s->ifs[i].nc);
	return rc;
}

/* ------------------------------------------------------ netstat and sockstat */

/* The metric name of "Proto_Field" at position pos of source src, or
 * NULL when the filter leaves it out. name (ND_KEY_MAX + 16 bytes) holds
 * it when it cannot be cached. */
static const char *nd_keep(struct nd_state *s, enum nd_src src, size_t pos, const char *key,
			   char *name)
{
	struct nd_cache *c = &s->cache[src];
	if (pos < c->n && strcmp(c->v[pos].key, key) == 0)
		return c->v[pos].name[0] ? c->v[pos].name : NULL;
	name[0] = '\0';
	if (bm_filter_match(&s->fields, key))
		snprintf(name, ND_KEY_MAX + 16, "node_netstat_%s", key);
	if (strlen(key) >= ND_KEY_MAX || pos >= ND_MAX_STAT_FIELDS)
		return name[0] ? name : NULL;
	if (pos >= c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		while (cap <= pos)
			cap *= 2;
		struct nd_verdict *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return name[0] ? name : NULL;
		c->v = v;
		c->cap = cap;
	}
	while (c->n <= pos)
		c->v[c->n++].key[0] = '\0';
	memcpy(c->v[pos].key, key, strlen(key) + 1);
	memcpy(c->v[pos].name, name, strlen(name) + 1);
	return c->v[pos].name[0] ? c->v[pos].name : NULL;
}

/* A netstat counter, its own family (node_exporter types them untyped). */
static int nd_add_netstat(struct nd_state *s, const char *name, double v)
{
	int rc = pub_declare(&s->batch, &s->families, name, BM_METRIC_UNTYPED, NULL, NULL);
	return rc ? rc : bm_batch_addl(&s->batch, name, v, NULL);
}

/* Parse a (possibly negative) integer token; false when it is none. */
static bool nd_parse_num(char **p, double *out)
{
	char *q, *t = *p;
	bool neg = *t == '-';
	if (neg)
		t++;
	if (*t < '0' || *t > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(t, &q, 10);
	if (errno || (*q && !pf_is_blank(*q)))
		return false;
	*out = neg ? -(double)v : (double)v;
	*p = q;
	return true;
}

/* Publish node_<prefix>_<key> as its own family. */
static int nd_add_one(struct nd_state *s, const char *prefix, const char *key,
		      enum bm_metric_type type, const char *unit, double v)
{
	char name[ND_KEY_MAX + 32];
	if ((size_t)snprintf(name, sizeof(name), "node_%s_%s", prefix, key) >= sizeof(name))
		return 0;
	int rc = pub_declare(&s->batch, &s->families, name, type, unit, NULL);
	return rc ? rc : bm_batch_addl(&s->batch, name, v, NULL);
}

/* net/snmp, net/netstat: "Proto: Name1 Name2 ..." then "Proto: v1 v2 ...". */
static int nd_parse_pairs(struct nd_state *s, enum nd_src src, size_t len)
{
	char *p = s->buf, *end = s->buf + len, *names;
	unsigned lineno = 0;
	size_t pos = 0;
	while ((names = pf_next_line(&p, end, NULL)) != NULL) {
		lineno++;
		if (!*names)
			continue;
		char *vals = pf_next_line(&p, end, NULL);
		lineno++;
		char *nc = strchr(names, ':');
		char *vc = vals ? strchr(vals, ':') : NULL;
		if (!nc || !vc || nc - names != vc - vals || memcmp(names, vals, (size_t)(nc - names)) ||
		    nc - names >= ND_KEY_MAX / 2) {
			nd_garbage(s, s->src_path[src], lineno);
			continue;
		}
		char key[ND_KEY_MAX];
		size_t plen = (size_t)(nc - names);
		memcpy(key, names, plen);
		key[plen] = '_';
		char *n = nc + 1, *v = vc + 1;
		for (;;) {
			while (pf_is_blank(*n))
				n++;
			while (pf_is_blank(*v))
				v++;
			if (!*n || !*v) {
				if (*n || *v) /* more names than values or the reverse */
					nd_garbage(s, s->src_path[src], lineno);
				break;
			}
			char *ne = n;
			while (*ne && !pf_is_blank(*ne))
				ne++;
			size_t flen = (size_t)(ne - n);
			double val;
			char *vstart = v;
			if (!nd_parse_num(&v, &val)) {
				nd_garbage(s, s->src_path[src], lineno);
				while (*v && !pf_is_blank(*v))
					v++;
				if (v == vstart)
					break;
				n = ne;
				pos++;
				continue;
			}
			if (plen + 1 + flen < sizeof(key)) {
				memcpy(key + plen + 1, n, flen);
				key[plen + 1 + flen] = '\0';
				char tmp[ND_KEY_MAX + 16];
				const char *name = nd_keep(s, src, pos, key, tmp);
				int rc = name ? nd_add_netstat(s, name, val) : 0;
				if (rc)
					return rc;
			}
			n = ne;
			pos++;
		}
	}
	return 0;
}

/* net/snmp6: "Ip6InReceives  1": the protocol ends at the first '6'. */
static int nd_parse_snmp6(struct nd_state *s, size_t len)
{
	char *p = s->buf, *end = s->buf + len, *line;
	unsigned lineno = 0;
	size_t pos = 0;
	while ((line = pf_next_line(&p, end, NULL)) != NULL) {
		lineno++;
		while (pf_is_blank(*line))
			line++;
		if (!*line)
			continue;
		char *ne = line;
		while (*ne && !pf_is_blank(*ne))
			ne++;
		char *six = memchr(line, '6', (size_t)(ne - line));
		char *v = ne;
		while (pf_is_blank(*v))
			v++;
		double val;
		size_t nlen = (size_t)(ne - line);
		if (!six || six + 1 == ne || nlen + 2 > ND_KEY_MAX || !nd_parse_num(&v, &val)) {
			nd_garbage(s, s->src_path[ND_SNMP6], lineno);
			continue;
		}
		char key[ND_KEY_MAX];
		size_t plen = (size_t)(six + 1 - line);
		memcpy(key, line, plen);
		key[plen] = '_';
		memcpy(key + plen + 1, six + 1, nlen - plen);
		key[nlen + 1] = '\0';
		char tmp[ND_KEY_MAX + 16];
		const char *name = nd_keep(s, ND_SNMP6, pos++, key, tmp);
		int rc = name ? nd_add_netstat(s, name, val) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

/* net/sockstat: "TCP: inuse 4 orphan 0 tw 0 alloc 6 mem 1" (mem in pages,
 * also published in bytes as node_exporter does). */
static int nd_parse_sockstat(struct nd_state *s, enum nd_src src, size_t len)
{
	char *p = s->buf, *end = s->buf + len, *line;
	unsigned lineno = 0;
	while ((line = pf_next_line(&p, end, NULL)) != NULL) {
		lineno++;
		if (!*line)
			continue;
		char *colon = strchr(line, ':');
		if (!colon || colon == line || colon - line >= ND_KEY_MAX / 2) {
			nd_garbage(s, s->src_path[src], lineno);
			continue;
		}
		char key[ND_KEY_MAX];
		size_t plen = (size_t)(colon - line);
		memcpy(key, line, plen);
		key[plen] = '_';
		char *t = colon + 1;
		for (;;) {
			while (pf_is_blank(*t))
				t++;
			if (!*t)
				break;
			char *fe = t;
			while (*fe && !pf_is_blank(*fe))
				fe++;
			size_t flen = (size_t)(fe - t);
			char *v = fe;
			while (pf_is_blank(*v))
				v++;
			double val;
			if (plen + 1 + flen + sizeof("_bytes") > sizeof(key) || !nd_parse_num(&v, &val)) {
				nd_garbage(s, s->src_path[src], lineno);
				break;
			}
			memcpy(key + plen + 1, t, flen);
			key[plen + 1 + flen] = '\0';
			int rc = nd_add_one(s, "sockstat", key, BM_METRIC_GAUGE, NULL, val);
			if (!rc && flen == 3 && memcmp(t, "mem", 3) == 0) {
				memcpy(key + plen + 1 + flen, "_bytes", sizeof("_bytes"));
				rc = nd_add_one(s, "sockstat", key, BM_METRIC_GAUGE, "bytes",
						val * s->page_size);
			}
			if (rc)
				return rc;
			t = v;
		}
	}
	return 0;
}

/* An optional source: absent = skipped (info once), other errors warned. */
static int nd_collect_src(struct nd_state *s, enum nd_src src)
{
	size_t len = 0;
	int eno = 0;
	struct bm_err e = {0};
	if (pf_file_load(&s->src_file[src], s->src_path[src], &s->buf, &s->cap, ND_MAX_FILE, &len,
			 &eno, &e)) {
		if (!s->src_missing[src]) {
			if (eno == ENOENT)
				bm_log_info(s->ctx, "%s not found, skipping it", s->src_path[src]);
			else
				bm_log_warn(s->ctx, "%s, skipping it", e.msg);
		}
		s->src_missing[src] = true;
		return 0;
	}
	s->src_missing[src] = false;
	switch (src) {
	case ND_SNMP:
	case ND_NETSTAT: return nd_parse_pairs(s, src, len);
	case ND_SNMP6: return nd_parse_snmp6(s, len);
	default: return nd_parse_sockstat(s, src, len);
	}
}

/* ------------------------------------------------------------------ hooks */

static void nd_fini(void *state)
{
	struct nd_state *s = state;
	if (!s)
		return;
	bm_filter_free(&s->filter);
	bm_filter_free(&s->fields);
	bm_batch_free(&s->batch);
	pub_families_free(&s->families);
	pf_file_close(&s->dev_file);
	for (size_t i = 0; i < s->n_if; i++)
		nc_iface_close(&s->ifs[i].nc);
	for (int i = 0; i < ND_N_SRC; i++) {
		free(s->cache[i].v);
		pf_file_close(&s->src_file[i]);
	}
	free(s->buf);
	free(s->ifs);
	bm_free(s);
}

static int nd_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct nd_conf *c = conf;
	struct nd_state *s = bm_alloc(sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	s->dev_file = (struct pf_file)PF_FILE_INIT;
	for (int i = 0; i < ND_N_SRC; i++)
		s->src_file[i] = (struct pf_file)PF_FILE_INIT;
	long ps = sysconf(_SC_PAGESIZE);
	s->page_size = ps > 0 ? (double)ps : 4096.0;
	int rc = pf_proc_path(s->path, sizeof(s->path), c->proc_root, "net/dev", err);
	for (int i = 0; i < ND_N_SRC && !rc; i++)
		rc = pf_proc_path(s->src_path[i], sizeof(s->src_path[i]), c->proc_root,
				  nd_src_files[i], err);
	const char *sys = c->sys_root ? c->sys_root : "/sys";
	if (!rc && !pf_path(s->class_net, sizeof(s->class_net), sys, "class/net"))
		rc = bm_err_set(err, BM_EINVAL, "sys_root \"%s\" is too long", sys);
	if (!rc)
		rc = pf_filter_init(&s->filter, &c->include, &c->exclude, "include/exclude", err);
	if (!rc)
		rc = pf_filter_init(&s->fields, &c->netstat_fields, NULL, "netstat_fields", err);
	if (rc) {
		nd_fini(s);
		return rc;
	}
	*state = s;
	return 0;
}

static int nd_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct nd_state *s = state;
	size_t len = 0;
	int rc = pf_collect_begin(&s->dev_file, s->path, &s->buf, &s->cap, ND_MAX_FILE, &len,
				  &s->batch, now_ms, err);
	if (rc)
		return rc;
	nd_parse_dev(s, len);
	rc = nd_emit_dev(s);
	if (!rc && s->conf->netclass)
		rc = nd_emit_netclass(s);
	for (int src = 0; src < ND_N_SRC && !rc; src++) {
		bool want = src <= ND_SNMP6 ? s->conf->netstat : s->conf->sockstat;
		if (want)
			rc = nd_collect_src(s, (enum nd_src)src);
	}
	return publish_batch_once(s->ctx, &s->batch, rc, err, &s->families);
}

static const struct bm_plugin_ops nd_ops = {
	.ops_size = sizeof(struct bm_plugin_ops),
	.init = nd_init,
	.fini = nd_fini,
	.collect = nd_collect,
};

BM_PLUGIN_DEFINE(collector, netdev, BM_KIND_COLLECTOR,
		 .version = "1.1.0",
		 .license = "Apache-2.0",
		 .description = "network interface, protocol (snmp/netstat) and socket counters and interface attributes",
		 .origin = "bearmon plugins/collector_netdev",
		 .options = nd_options,
		 .config_size = sizeof(struct nd_conf),
		 .ops = &nd_ops);
