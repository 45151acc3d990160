/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector/hwmon: hardware sensors from /sys/class/hwmon (temperatures,
 * fans, voltages, currents, power), thermal zones from /sys/class/thermal
 * and RAPL energy counters from /sys/class/powercap, named like
 * node_exporter's hwmon, thermal_zone and rapl collectors.
 */
#define _GNU_SOURCE
#include <bearmon/bm_batch.h>
#include <bearmon/bm_event.h>
#include <bearmon/bm_host.h>
#include <bearmon/bm_plugin.h>

#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/procfs.h"
#include "../common/publish.h"

#define HW_MAX_CHIPS 256 /* hwmon directories looked at */
#define HW_MAX_FILES 512 /* value files kept per chip */
#define HW_MAX_ZONES 256 /* thermal and RAPL zones kept each */

struct hw_conf {
	char *sys_root;			 /* sysfs mount point */
	struct bm_strlist chips_include; /* chip label regexes to keep */
	struct bm_strlist chips_exclude; /* chip label regexes to drop */
	bool thermal_zones;		 /* read /sys/class/thermal */
	bool rapl;			 /* read /sys/class/powercap */
	int64_t rescan_ms;		 /* how often to look for new devices */
};

static const struct bm_option hw_options[] = {
    BM_OPTION("sys_root", BM_OPT_STRING, "/sys", struct hw_conf, sys_root,
	      "sysfs mount point to read class/hwmon, class/thermal and class/powercap from"),
    BM_OPTION(
	"chips_include", BM_OPT_STRING_LIST, NULL, struct hw_conf, chips_include,
	"regexes of hwmon chip labels to keep (e.g. \"platform_coretemp_[0-9]+\"); empty: all"),
    BM_OPTION("chips_exclude", BM_OPT_STRING_LIST, NULL, struct hw_conf, chips_exclude,
	      "regexes of hwmon chip labels to drop"),
    BM_OPTION("thermal_zones", BM_OPT_BOOL, "true", struct hw_conf, thermal_zones,
	      "publish thermal zone temperatures from class/thermal"),
    BM_OPTION("rapl", BM_OPT_BOOL, "true", struct hw_conf, rapl,
	      "publish RAPL energy counters from class/powercap"),
    BM_OPTION_BOUNDED("rescan_interval", BM_OPT_DURATION, "60s", struct hw_conf, rescan_ms, 0,
		      86400000,
		      "how often to look for devices that appeared (0: every collection)"),
    BM_OPTION_END,
};

/* A metric family, declared once per batch. */
struct hw_family {
	char name[96];
	enum bm_metric_type type;
	const char *unit; /* static */
	char help[112];
};

/* One value file of a chip, read every collection. */
struct hw_file {
	char rel[48];	 /* "temp1_input", or "device/in1_input" for old drivers */
	char sensor[32]; /* "temp1" */
	double scale;	 /* raw value times scale = published value */
	unsigned fam;	 /* index into hw.fams */
};

/* A *_label file, read once per scan. */
struct hw_label {
	char sensor[32];
	char text[64];
};

struct hw_chip {
	char name[128];	    /* the chip label, node_exporter's hwmonName() */
	char chip_name[64]; /* the cleaned "name" file, "" when there is none */
	int dirfd;	    /* class/hwmon/hwmonN */
	struct hw_file *files;
	size_t n_files;
	struct hw_label *labels;
	size_t n_labels;
};

struct hw_tzone {
	char zone[32]; /* "0" of thermal_zone0 */
	char type[64]; /* the type file */
	int dirfd;
};

/* A RAPL zone and its unwrap state. */
struct hw_rapl {
	char dir[64]; /* "intel-rapl:0", the state key across scans */
	char index[16];
	char *path; /* sys_root/class/powercap/intel-rapl:0 */
	unsigned fam;
	int dirfd;
	uint64_t max_uj; /* max_energy_range_uj: where energy_uj wraps */
	uint64_t prev;	 /* last raw energy_uj */
	uint64_t offset; /* max_uj per wrap seen */
	bool seen;	 /* prev is valid */
};

struct hw {
	struct bm_ctx *ctx;
	const struct hw_conf *conf;
	struct bm_filter filter;
	struct hw_family *fams;
	size_t n_fams, cap_fams;
	struct hw_chip *chips;
	size_t n_chips;
	struct hw_tzone *tzones;
	size_t n_tzones;
	struct hw_rapl *rapl;
	size_t n_rapl;
	int64_t last_scan_ms;
	bool scanned;
	bool rescan;	    /* a file vanished: scan again next collection */
	bool none_logged;   /* "no sensors" said once */
	bool eacces_logged; /* "energy_uj unreadable" said once */
	struct bm_batch batch;
	struct pub_families families; /* metadata already published */
};

/* openat(2) through a pointer the tests replace (root ignores file modes,
 * so EACCES on energy_uj can only be simulated). */
static int hw_sys_openat(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}
static int (*hw_openat)(int dirfd, const char *path, int flags) = hw_sys_openat;

/* Read a small file relative to dirfd into buf (NUL-terminated, trailing
 * whitespace cut). Returns the length or -errno. */
static ssize_t hw_read_at(int dirfd, const char *rel, char *buf, size_t cap)
{
	int fd = hw_openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pf_read_fd(fd, buf, cap);
	close(fd);
	if (n < 0)
		return n;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	return n;
}

/* A whole decimal integer (sysfs values may be negative: temp1_min). */
static bool hw_parse_i64(const char *s, long long *out)
{
	char *end;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return end != s && *end == '\0' && errno == 0;
}

static bool hw_parse_u64(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (*s == '-')
		return false;
	*out = strtoull(s, &end, 10);
	return end != s && *end == '\0' && errno == 0;
}

/* node_exporter's cleanMetricName(): lower case, [^a-z0-9:_] to '_',
 * '_' trimmed at both ends. */
static void hw_clean(const char *in, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < cap; i++) {
		char c = (char)tolower((unsigned char)in[i]);
		out[n++] =
		    (isalnum((unsigned char)c) && !(c & 0x80)) || c == ':' || c == '_' ? c : '_';
	}
	out[n] = '\0';
	while (n > 0 && out[n - 1] == '_')
		out[--n] = '\0';
	size_t lead = strspn(out, "_");
	memmove(out, out + lead, n - lead + 1);
}

/* snprintf that says whether the text fit (vsnprintf: GCC does not guess
 * at truncation through it; the callers that care check the result). */
__attribute__((format(printf, 3, 4))) static bool hw_fmt(char *out, size_t cap, const char *fmt,
							 ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < cap;
}

static void hw_copy(char *dst, size_t cap, const char *src)
{
	hw_fmt(dst, cap, "%s", src);
}

/* Index of family name, added when new; -1 when out of memory. */
static int hw_family(struct hw *s, const char *name, enum bm_metric_type type, const char *unit,
		     const char *help)
{
	for (size_t i = 0; i < s->n_fams; i++)
		if (strcmp(s->fams[i].name, name) == 0)
			return (int)i;
	if (s->n_fams == s->cap_fams) {
		size_t cap = s->cap_fams ? s->cap_fams * 2 : 32;
		struct hw_family *f = realloc(s->fams, cap * sizeof(*f));
		if (!f)
			return -1;
		s->fams = f;
		s->cap_fams = cap;
	}
	struct hw_family *f = &s->fams[s->n_fams];
	hw_copy(f->name, sizeof(f->name), name);
	f->type = type;
	f->unit = unit;
	hw_copy(f->help, sizeof(f->help), help);
	return (int)s->n_fams++;
}

/*
 * The families of node_exporter's hwmon collector: the metric for element
 * elem ("input", "max", "crit_alarm", "" for a bare file such as pwm1) of
 * a sensor of type type. has_bare: the sensor also has a bare file, which
 * then takes the plain name and "input" gets "_input". Returns false for
 * an element that is not a value (label).
 */
static bool hw_metric(const char *type, const char *elem, bool has_bare, char *name, size_t cap,
		      double *scale, enum bm_metric_type *mt, const char **unit, char *help,
		      size_t hcap)
{
	char el[40];
	hw_clean(elem, strlen(elem), el, sizeof(el));
	const char *what = *elem ? elem : "input";
	*mt = BM_METRIC_GAUGE;
	*unit = NULL;
	*scale = 1.0;
	if (strcmp(elem, "label") == 0)
		return false;
	if (strcmp(type, "beep_enable") == 0) {
		hw_copy(name, cap, "node_hwmon_beep_enabled");
		hw_copy(help, hcap, "hardware beep enabled");
		return true;
	}
	if (strcmp(type, "vrm") == 0) {
		hw_copy(name, cap, "node_hwmon_voltage_regulator_version");
		hw_copy(help, hcap, "hardware voltage regulator");
		return true;
	}
	if (strcmp(type, "update_interval") == 0) {
		hw_copy(name, cap, "node_hwmon_update_interval_seconds");
		hw_copy(help, hcap, "hardware monitor update interval");
		*scale = 0.001;
		*unit = "seconds";
		return true;
	}
	char base[80];
	if (strcmp(elem, "input") == 0)
		hw_fmt(base, sizeof(base), "node_hwmon_%s%s", type, has_bare ? "_input" : "");
	else if (*elem)
		hw_fmt(base, sizeof(base), "node_hwmon_%s_%s", type, el);
	else
		hw_fmt(base, sizeof(base), "node_hwmon_%s", type);

	const char *suffix = "";
	if (strcmp(elem, "fault") == 0 || strcmp(elem, "alarm") == 0) {
		hw_fmt(help, hcap, "hardware sensor %s status (%s)", elem, type);
	} else if (strcmp(elem, "beep") == 0) {
		suffix = "_enabled";
		hw_fmt(help, hcap, "hardware monitor sensor has beeping enabled");
	} else if (strcmp(type, "in") == 0 || strcmp(type, "cpu") == 0) {
		suffix = "_volts";
		*unit = "volts";
		*scale = 0.001;
		hw_fmt(help, hcap, "hardware monitor for voltage (%s)", what);
	} else if (strcmp(type, "temp") == 0 && strcmp(elem, "type") != 0) {
		suffix = "_celsius";
		*unit = "celsius";
		*scale = 0.001;
		hw_fmt(help, hcap, "hardware monitor for temperature (%s)", what);
	} else if (strcmp(type, "curr") == 0) {
		suffix = "_amps";
		*unit = "amps";
		*scale = 0.001;
		hw_fmt(help, hcap, "hardware monitor for current (%s)", what);
	} else if (strcmp(type, "energy") == 0) {
		suffix = "_joule_total";
		*unit = "joule";
		*mt = BM_METRIC_COUNTER;
		*scale = 1e-6;
		hw_fmt(help, hcap, "hardware monitor for joules used so far (%s)", what);
	} else if (strcmp(type, "power") == 0 && strcmp(elem, "accuracy") == 0) {
		*scale = 1e-6;
		hw_fmt(help, hcap, "hardware monitor power meter accuracy, as a ratio");
	} else if (strcmp(type, "power") == 0 && strncmp(elem, "average_interval", 16) == 0) {
		suffix = "_seconds";
		*unit = "seconds";
		*scale = 0.001;
		hw_fmt(help, hcap, "hardware monitor power usage update interval (%s)", what);
	} else if (strcmp(type, "power") == 0) {
		suffix = "_watt";
		*unit = "watt";
		*scale = 1e-6;
		hw_fmt(help, hcap, "hardware monitor for power usage in watts (%s)", what);
	} else if (strcmp(type, "humidity") == 0) {
		*scale = 1e-5; /* milli-percent to a ratio */
		hw_fmt(help, hcap, "hardware monitor for humidity, as a ratio (%s)", what);
	} else if (strcmp(type, "fan") == 0 &&
		   (strcmp(elem, "input") == 0 || strcmp(elem, "min") == 0 ||
		    strcmp(elem, "max") == 0 || strcmp(elem, "target") == 0)) {
		suffix = "_rpm";
		*unit = "rpm";
		hw_fmt(help, hcap, "hardware monitor for fan revolutions per minute (%s)", what);
	} else {
		hw_fmt(help, hcap, "hardware monitor %s element %s", type, elem);
	}
	hw_fmt(name, cap, "%s%s", base, suffix);
	return true;
}

static const char *const hw_sensor_types[] = {
    "vrm",  "beep_enable", "update_interval", "in",	"cpu",	    "fan",	 "pwm",
    "temp", "curr",	   "power",	      "energy", "humidity", "intrusion",
};

/*
 * node_exporter's explodeSensorFilename(): "temp1_crit_alarm" is type
 * "temp", number 1, element "crit_alarm"; "update_interval" is type
 * "update_interval", number 0, no element. Returns false for files that
 * are not sensors (name, uevent, power/, ...).
 */
static bool hw_explode(const char *fn, char *type, size_t tcap, char *sensor, size_t scap,
		       const char **elem)
{
	size_t tl = strcspn(fn, "0123456789");
	if (tl == 0 || tl >= tcap)
		return false;
	const char *p = fn + tl;
	size_t nl = strspn(p, "0123456789");
	const char *num = p;
	p += nl;
	if (*p != '\0' && *p != '_')
		return false;
	if (*p == '_' && p[1] == '\0')
		return false;
	/* without digits the greedy type swallows the underscores too */
	if (nl == 0)
		tl = strlen(fn);
	memcpy(type, fn, tl);
	type[tl] = '\0';
	bool known = false;
	for (size_t i = 0; i < sizeof(hw_sensor_types) / sizeof(hw_sensor_types[0]); i++)
		known = known || strcmp(type, hw_sensor_types[i]) == 0;
	if (!known)
		return false;
	unsigned long id = nl ? strtoul(num, NULL, 10) : 0;
	if (!hw_fmt(sensor, scap, "%s%lu", type, id))
		return false;
	*elem = nl == 0 ? "" : (*p == '_' ? p + 1 : "");
	return true;
}

/* The chip label as node_exporter's hwmonName(): "<parent>_<device>" of
 * the device link's target, else the name file, else "hwmonN". */
static void hw_chip_label(int dirfd, const char *dir, const char *entry, char *out, size_t cap)
{
	char path[PATH_MAX];
	char real[PATH_MAX];
	char dev[128];
	char typ[128];
	if (hw_fmt(path, sizeof(path), "%s/%s/device", dir, entry) && realpath(path, real)) {
		char *slash = strrchr(real, '/');
		if (slash) {
			hw_clean(slash + 1, strlen(slash + 1), dev, sizeof(dev));
			*slash = '\0';
			char *ps = strrchr(real, '/');
			const char *parent = ps ? ps + 1 : real;
			hw_clean(parent, strlen(parent), typ, sizeof(typ));
			if (*typ && *dev) {
				hw_fmt(out, cap, "%s_%s", typ, dev);
				return;
			}
			if (*dev) {
				hw_copy(out, cap, dev);
				return;
			}
		}
	}
	char buf[128];
	if (hw_read_at(dirfd, "name", buf, sizeof(buf)) > 0) {
		hw_clean(buf, strlen(buf), out, cap);
		if (*out)
			return;
	}
	const char *base = entry;
	if (pf_path(path, sizeof(path), dir, entry) && realpath(path, real) && strrchr(real, '/'))
		base = strrchr(real, '/') + 1;
	hw_clean(base, strlen(base), out, cap);
}

static void hw_chip_free(struct hw_chip *c)
{
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c->files);
	free(c->labels);
}

/* Whether sensor has a bare file (temp1 next to temp1_input). */
static bool hw_has_bare(DIR *d, const char *sensor)
{
	rewinddir(d);
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, sensor) == 0)
			return true;
	return false;
}

/* Add the sensor files of one directory (the hwmon dir, or its device
 * subdirectory: prefix "device/") to chip c. */
static int hw_scan_files(struct hw *s, struct hw_chip *c, int dfd, const char *prefix)
{
	int fd = dup(dfd);
	if (fd < 0)
		return 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	/* collect names first: hw_has_bare rewinds the stream */
	char(*names)[40] = NULL;
	size_t n = 0;
	size_t cap = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) && !rc) {
		char type[32];
		char sensor[32];
		const char *elem;
		if (strlen(e->d_name) >= 40 ||
		    !hw_explode(e->d_name, type, sizeof(type), sensor, sizeof(sensor), &elem))
			continue;
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode) ||
		    !(st.st_mode & 0444))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			void *nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				rc = BM_ENOMEM;
				break;
			}
			names = nn;
		}
		hw_copy(names[n++], sizeof(names[0]), e->d_name);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		char type[32];
		char sensor[32];
		const char *elem;
		hw_explode(names[i], type, sizeof(type), sensor, sizeof(sensor), &elem);
		if (strcmp(elem, "label") == 0) {
			char text[64];
			char rel[64];
			hw_fmt(rel, sizeof(rel), "%s%s", prefix, names[i]);
			if (hw_read_at(c->dirfd, rel, text, sizeof(text)) <= 0)
				continue;
			struct hw_label *l = realloc(c->labels, (c->n_labels + 1) * sizeof(*l));
			if (!l) {
				rc = BM_ENOMEM;
				break;
			}
			c->labels = l;
			hw_copy(l[c->n_labels].sensor, sizeof(l->sensor), sensor);
			hw_copy(l[c->n_labels].text, sizeof(l->text), text);
			c->n_labels++;
			continue;
		}
		if (c->n_files >= HW_MAX_FILES)
			break;
		char name[96];
		char help[112];
		double scale;
		enum bm_metric_type mt;
		const char *unit;
		bool bare = strcmp(elem, "input") == 0 && hw_has_bare(d, sensor);
		if (!hw_metric(type, elem, bare, name, sizeof(name), &scale, &mt, &unit, help,
			       sizeof(help)))
			continue;
		int fam = hw_family(s, name, mt, unit, help);
		struct hw_file *f =
		    fam < 0 ? NULL : realloc(c->files, (c->n_files + 1) * sizeof(*f));
		if (!f) {
			rc = BM_ENOMEM;
			break;
		}
		c->files = f;
		f = &c->files[c->n_files++];
		hw_fmt(f->rel, sizeof(f->rel), "%s%s", prefix, names[i]);
		hw_copy(f->sensor, sizeof(f->sensor), sensor);
		f->scale = scale;
		f->fam = (unsigned)fam;
	}
	free(names);
	closedir(d);
	return rc;
}

/* One entry of a class directory (SYS_ROOT/class/CLS, at dir, open as
 * dfd): 0 to go on, 1 to stop (the table is full), or a BM_E* code. */
typedef int (*hw_entry_fn)(struct hw *s, const char *dir, int dfd, const char *name);

/* each() over the entries of SYS_ROOT/class/cls: 0 or the BM_E* code that
 * stopped it. A machine without that class has no entries. */
static int hw_scan_class(struct hw *s, const char *cls, hw_entry_fn each)
{
	char dir[PATH_MAX];
	if (!hw_fmt(dir, sizeof(dir), "%s/class/%s", s->conf->sys_root, cls))
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d)))
		rc = each(s, dir, dirfd(d), e->d_name);
	closedir(d);
	return rc > 0 ? 0 : rc;
}

/* class/hwmon/NAME: a chip and its sensor files, when the filter keeps it. */
static int hw_chip_entry(struct hw *s, const char *dir, int dfd, const char *name)
{
	if (s->n_chips >= HW_MAX_CHIPS)
		return 1;
	if (name[0] == '.')
		return 0;
	struct hw_chip c = {.dirfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
	if (c.dirfd < 0)
		return 0;
	hw_chip_label(c.dirfd, dir, name, c.name, sizeof(c.name));
	if (!*c.name || !bm_filter_match(&s->filter, c.name)) {
		close(c.dirfd);
		return 0;
	}
	char buf[128];
	if (hw_read_at(c.dirfd, "name", buf, sizeof(buf)) > 0)
		hw_clean(buf, strlen(buf), c.chip_name, sizeof(c.chip_name));
	int rc = hw_scan_files(s, &c, c.dirfd, "");
	int devfd = rc ? -1 : openat(c.dirfd, "device", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (devfd >= 0) {
		rc = hw_scan_files(s, &c, devfd, "device/");
		close(devfd);
	}
	struct hw_chip *nc = rc ? NULL : realloc(s->chips, (s->n_chips + 1) * sizeof(*nc));
	if (!nc) {
		hw_chip_free(&c);
		return BM_ENOMEM;
	}
	s->chips = nc;
	s->chips[s->n_chips++] = c;
	return 0;
}

/* class/thermal/thermal_zoneN with a type file: a zone. */
static int hw_tzone_entry(struct hw *s, const char *dir, int dfd, const char *name)
{
	(void)dir;
	if (s->n_tzones >= HW_MAX_ZONES)
		return 1;
	if (strncmp(name, "thermal_zone", 12) != 0 || strlen(name + 12) >= sizeof(s->tzones->zone))
		return 0;
	struct hw_tzone z = {.dirfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
	if (z.dirfd < 0)
		return 0;
	hw_copy(z.zone, sizeof(z.zone), name + 12);
	if (hw_read_at(z.dirfd, "type", z.type, sizeof(z.type)) < 0) {
		close(z.dirfd);
		return 0;
	}
	struct hw_tzone *nz = realloc(s->tzones, (s->n_tzones + 1) * sizeof(*nz));
	if (!nz) {
		close(z.dirfd);
		return BM_ENOMEM;
	}
	s->tzones = nz;
	s->tzones[s->n_tzones++] = z;
	return 0;
}

/* procfs' SanitizeMetricName for the zone name in the metric. */
static void hw_sanitize(char *p)
{
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != ':')
			*p = '_';
}

/*
 * RAPL zones as prometheus/procfs GetRaplZones(): every powercap entry
 * with a name file; "package-0" is name "package", index 0; a name without
 * "-N" ("dram", "core") is indexed by how often it was seen before, in
 * directory order. old/n_old: the previous scan, whose unwrap state is
 * carried over for the same directory and range.
 */
static int hw_scan_rapl(struct hw *s, const struct hw_rapl *old, size_t n_old)
{
	char dir[PATH_MAX];
	if (!hw_fmt(dir, sizeof(dir), "%s/class/powercap", s->conf->sys_root))
		return 0;
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return 0;
	int rc = 0;
	struct {
		char name[48];
		int count;
	} seen[32];
	size_t n_seen = 0;
	for (int i = 0; i < n; i++) {
		const char *en = ents[i]->d_name;
		char path[PATH_MAX];
		char name[64];
		char buf[32];
		unsigned long long max;
		if (rc || en[0] == '.' || strlen(en) >= sizeof(s->rapl->dir) ||
		    s->n_rapl >= HW_MAX_ZONES)
			continue;
		if (!pf_path(path, sizeof(path), dir, en))
			continue;
		int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		if (hw_read_at(dfd, "name", name, sizeof(name)) <= 0 ||
		    hw_read_at(dfd, "max_energy_range_uj", buf, sizeof(buf)) <= 0 ||
		    !hw_parse_u64(buf, &max)) {
			close(dfd);
			continue;
		}
		struct hw_rapl z = {.dirfd = dfd, .max_uj = max};
		char *dash = strchr(name, '-');
		char *end = NULL;
		long idx = dash ? strtol(dash + 1, &end, 10) : 0;
		if (dash && end != dash + 1 && *end == '\0' && !strchr(dash + 1, '-')) {
			*dash = '\0';
		} else {
			idx = 0;
			for (size_t k = 0; k < n_seen; k++)
				if (strcmp(seen[k].name, name) == 0)
					idx = seen[k].count;
		}
		size_t k = 0;
		while (k < n_seen && strcmp(seen[k].name, name) != 0)
			k++;
		if (k == n_seen && n_seen < sizeof(seen) / sizeof(seen[0]))
			hw_copy(seen[n_seen++].name, sizeof(seen[0].name), name);
		if (k < n_seen)
			seen[k].count = (int)idx + 1;
		hw_copy(z.dir, sizeof(z.dir), en);
		hw_fmt(z.index, sizeof(z.index), "%ld", idx);
		hw_sanitize(name);
		char metric[96];
		char help[112];
		hw_fmt(metric, sizeof(metric), "node_rapl_%s_joules_total", name);
		hw_fmt(help, sizeof(help),
		       "RAPL %.40s energy in joules (unwrapped at max_energy_range_uj)", name);
		int fam = hw_family(s, metric, BM_METRIC_COUNTER, "joules", help);
		z.path = strdup(path);
		struct hw_rapl *nr =
		    fam < 0 || !z.path ? NULL : realloc(s->rapl, (s->n_rapl + 1) * sizeof(*nr));
		if (!nr) {
			free(z.path);
			close(dfd);
			rc = BM_ENOMEM;
			continue;
		}
		z.fam = (unsigned)fam;
		for (size_t j = 0; j < n_old; j++)
			if (strcmp(old[j].dir, z.dir) == 0 && old[j].max_uj == z.max_uj &&
			    old[j].seen) {
				z.prev = old[j].prev;
				z.offset = old[j].offset;
				z.seen = true;
			}
		s->rapl = nr;
		s->rapl[s->n_rapl++] = z;
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

static void hw_forget(struct hw *s, bool keep_rapl)
{
	for (size_t i = 0; i < s->n_chips; i++)
		hw_chip_free(&s->chips[i]);
	free(s->chips);
	s->chips = NULL;
	s->n_chips = 0;
	for (size_t i = 0; i < s->n_tzones; i++)
		close(s->tzones[i].dirfd);
	free(s->tzones);
	s->tzones = NULL;
	s->n_tzones = 0;
	s->n_fams = 0;
	if (keep_rapl)
		return;
	for (size_t i = 0; i < s->n_rapl; i++) {
		close(s->rapl[i].dirfd);
		free(s->rapl[i].path);
	}
	free(s->rapl);
	s->rapl = NULL;
	s->n_rapl = 0;
}

/* Look at every device again: chips, thermal zones, RAPL zones. */
static int hw_scan(struct hw *s)
{
	struct hw_rapl *old = s->rapl;
	size_t n_old = s->n_rapl;
	hw_forget(s, true);
	s->rapl = NULL;
	s->n_rapl = 0;
	int rc = 0;
	if (hw_family(s, "bearmon_hwmon_chips", BM_METRIC_GAUGE, NULL,
		      "hwmon chips found under sys_root/class/hwmon") < 0 ||
	    hw_family(s, "node_hwmon_chip_names", BM_METRIC_GAUGE, NULL,
		      "annotation metric for human-readable chip names") < 0 ||
	    hw_family(s, "node_hwmon_sensor_label", BM_METRIC_GAUGE, NULL,
		      "label for given chip and sensor") < 0 ||
	    hw_family(s, "node_thermal_zone_temp", BM_METRIC_GAUGE, "celsius",
		      "zone temperature in celsius") < 0)
		rc = BM_ENOMEM;
	if (!rc)
		rc = hw_scan_class(s, "hwmon", hw_chip_entry);
	if (!rc && s->conf->thermal_zones)
		rc = hw_scan_class(s, "thermal", hw_tzone_entry);
	if (!rc && s->conf->rapl)
		rc = hw_scan_rapl(s, old, n_old);
	for (size_t i = 0; i < n_old; i++) {
		close(old[i].dirfd);
		free(old[i].path);
	}
	free(old);
	s->rescan = false;
	s->scanned = true;
	return rc;
}

static int hw_init(struct bm_ctx *ctx, const void *conf, void **state, struct bm_err *err)
{
	const struct hw_conf *c = conf;
	struct hw *s = calloc(1, sizeof(*s));
	if (!s)
		return bm_err_set(err, BM_ENOMEM, "out of memory");
	s->ctx = ctx;
	s->conf = c;
	int rc = pf_filter_init(&s->filter, &c->chips_include, &c->chips_exclude,
				"chips_include/chips_exclude", err);
	if (rc) {
		free(s);
		return rc;
	}
	*state = s;
	return 0;
}

static void hw_fini(void *state)
{
	struct hw *s = state;
	hw_forget(s, false);
	free(s->fams);
	bm_filter_free(&s->filter);
	bm_batch_free(&s->batch);
	pub_families_free(&s->families);
	free(s);
}

/* A read that failed because the device went away asks for a rescan. */
static void hw_read_failed(struct hw *s, ssize_t e)
{
	if (e == -ENOENT || e == -ENODEV || e == -ENXIO)
		s->rescan = true;
}

static int hw_collect_chip(struct hw *s, const struct hw_chip *c)
{
	struct bm_batch *b = &s->batch;
	int rc = 0;
	if (*c->chip_name)
		rc = bm_batch_addl(b, "node_hwmon_chip_names", 1.0, "chip", c->name, "chip_name",
				   c->chip_name, NULL);
	for (size_t i = 0; i < c->n_labels && !rc; i++)
		rc = bm_batch_addl(b, "node_hwmon_sensor_label", 1.0, "chip", c->name, "label",
				   c->labels[i].text, "sensor", c->labels[i].sensor, NULL);
	for (size_t i = 0; i < c->n_files && !rc; i++) {
		const struct hw_file *f = &c->files[i];
		char buf[64];
		long long v;
		ssize_t n = hw_read_at(c->dirfd, f->rel, buf, sizeof(buf));
		if (n < 0) {
			hw_read_failed(s, n);
			continue;
		}
		if (!hw_parse_i64(buf, &v))
			continue; /* ENODATA-style garbage, a text element: skip, as node_exporter
				   */
		rc = bm_batch_addl(b, s->fams[f->fam].name, (double)v * f->scale, "chip", c->name,
				   "sensor", f->sensor, NULL);
	}
	return rc;
}

static int hw_collect_rapl(struct hw *s, struct hw_rapl *z)
{
	char buf[32];
	unsigned long long raw;
	ssize_t n = hw_read_at(z->dirfd, "energy_uj", buf, sizeof(buf));
	if (n == -EACCES || n == -EPERM) {
		pf_log_once(s->ctx, &s->eacces_logged, BM_LOG_INFO,
			    "cannot read %s/energy_uj: %s (root only since Linux 5.10), "
			    "RAPL energy not published",
			    z->path, strerror((int)-n));
		return 0;
	}
	if (n < 0) {
		hw_read_failed(s, n);
		return 0;
	}
	if (!hw_parse_u64(buf, &raw))
		return 0;
	/* energy_uj counts up to max_energy_range_uj and starts again at 0;
	 * a drop of more than half the range is that wrap, a smaller one a
	 * reset (published as such) */
	if (z->seen && raw < z->prev) {
		if (z->prev - raw > z->max_uj / 2)
			z->offset += z->max_uj;
		else
			z->offset = 0;
	}
	z->prev = raw;
	z->seen = true;
	return bm_batch_addl(&s->batch, s->fams[z->fam].name, (double)(raw + z->offset) * 1e-6,
			     "index", z->index, "path", z->path, NULL);
}

static int hw_collect(void *state, int64_t now_ms, struct bm_err *err)
{
	struct hw *s = state;
	int rc = 0;
	if (!s->scanned || s->rescan || now_ms - s->last_scan_ms >= s->conf->rescan_ms ||
	    now_ms < s->last_scan_ms) {
		rc = hw_scan(s);
		s->last_scan_ms = now_ms;
		if (rc)
			return bm_err_set(err, rc, "scanning %s/class: %s", s->conf->sys_root,
					  bm_strerror(rc));
	}
	struct bm_batch *b = &s->batch;
	bm_batch_reset(b);
	b->ts_ms = now_ms;
	for (size_t i = 0; i < s->n_fams && !rc; i++)
		rc = bm_batch_family(b, s->fams[i].name, s->fams[i].type, s->fams[i].unit,
				     s->fams[i].help);
	if (!rc)
		rc = bm_batch_addl(b, "bearmon_hwmon_chips", (double)s->n_chips, NULL);
	for (size_t i = 0; i < s->n_chips && !rc; i++)
		rc = hw_collect_chip(s, &s->chips[i]);
	for (size_t i = 0; i < s->n_tzones && !rc; i++) {
		const struct hw_tzone *z = &s->tzones[i];
		char buf[32];
		long long v;
		ssize_t n = hw_read_at(z->dirfd, "temp", buf, sizeof(buf));
		if (n < 0)
			hw_read_failed(s, n);
		else if (hw_parse_i64(buf, &v))
			rc = bm_batch_addl(b, "node_thermal_zone_temp", (double)v / 1000.0, "type",
					   z->type, "zone", z->zone, NULL);
	}
	for (size_t i = 0; i < s->n_rapl && !rc; i++)
		rc = hw_collect_rapl(s, &s->rapl[i]);
	if (rc)
		return bm_err_set(err, rc, "cannot build the batch: %s", bm_strerror(rc));
	if (s->n_chips == 0 && s->n_tzones == 0 && s->n_rapl == 0)
		pf_log_once(s->ctx, &s->none_logged, BM_LOG_INFO,
			    "no hwmon chips, thermal zones or RAPL zones under %s/class "
			    "(virtual machine?), publishing bearmon_hwmon_chips 0",
			    s->conf->sys_root);
	return publish_batch_once(s->ctx, b, 0, err, &s->families);
}

static const struct bm_plugin_ops hw_ops = {
    .ops_size = sizeof(struct bm_plugin_ops),
    .init = hw_init,
    .fini = hw_fini,
    .collect = hw_collect,
};

BM_PLUGIN_DEFINE(collector, hwmon, BM_KIND_COLLECTOR, .version = "1.0.0", .license = "Apache-2.0",
		 .description = "hardware sensors (hwmon), thermal zones and RAPL energy from /sys",
		 .origin = "bearmon plugins/collector_hwmon", .options = hw_options,
		 .config_size = sizeof(struct hw_conf), .ops = &hw_ops);
