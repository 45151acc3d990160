/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bearmond: command line. Runs the daemon in the foreground (systemd and
 * other supervisors expect that), checks a config (-t, like nginx -t), or
 * prints a plugin's option table.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "plugin_host.h"
#include "log.h"
#include "manpage.h"
#include "plugin_loader.h"
#include "table.h"

#define DEFAULT_CONFIG "/etc/bearmon/bearmon.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bearmond [-c FILE] [--set KEY=VALUE]...\n"
		"       bearmond --check-config FILE [--set KEY=VALUE]...\n"
		"       bearmond [-c FILE] --plugin KIND/NAME --help\n"
		"       bearmond [-c FILE] --dump-options\n"
		"\n"
		"  -c, --config FILE        config file (default " DEFAULT_CONFIG ")\n"
		"  -s, --set KEY=VALUE      override an option: core options by path\n"
		"                           (http.listen=127.0.0.1:9555, data_dir=/tmp/bm),\n"
		"                           instance options as INSTANCE.OPTION or\n"
		"                           INSTANCE.GROUP.N.OPTION\n"
		"  -t, --check-config FILE  validate FILE and its plugins, then exit\n"
		"                           (0 when valid, 1 with one line per problem)\n"
		"  -p, --plugin KIND/NAME   with --help: print the plugin's options\n"
		"  -D, --dump-options       print every core option and every installed\n"
		"                           plugin's options as troff (bearmon.conf(5))\n"
		"  -V, --version            print the version and ABI\n"
		"  -h, --help               this text\n");
}

static int plugin_help(const char *config, const char *spec, char *const *sets, size_t n)
{
	struct cfg_errs errs = {0};
	struct cfg *cfg = cfg_load(config, sets, n, &errs);
	struct bm_strlist fallback = {0};
	const struct bm_strlist *dirs = cfg ? &cfg->core.plugin_dirs : &fallback;
	char kind[64] = "", name[128] = "";
	struct plugin *p;
	struct bm_err err = {0};
	int rc = 1;
	if (sscanf(spec, "%63[^/]/%127s", kind, name) != 2) {
		fprintf(stderr, "bearmond: --plugin expects KIND/NAME, e.g. collector/cpu\n");
	} else if (loader_get(kind, name, dirs, &p, &err)) {
		fprintf(stderr, "bearmond: %s\n", err.msg);
	} else {
		printf("%s/%s %s (ABI %u.%u, %s)\n%s\n%s\n\n", p->kind, p->name, p->desc.version,
		       p->desc.abi_major, p->desc.abi_minor, p->desc.license, p->desc.description, p->path);
		struct table t = {.ncols = 4};
		table_cell(&t, "OPTION");
		table_cell(&t, "TYPE");
		table_cell(&t, "DEFAULT");
		table_cell(&t, "HELP");
		table_add_options(&t, instance_host_options, "");
		table_add_options(&t, p->desc.options, "");
		table_print(stdout, &t, "  ");
		rc = 0;
	}
	cfg_errs_free(&errs);
	cfg_free(cfg);
	loader_exit();
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"set", required_argument, NULL, 's'},
		{"check-config", required_argument, NULL, 't'},
		{"plugin", required_argument, NULL, 'p'},
		{"dump-options", no_argument, NULL, 'D'},
		{"plugin-host", required_argument, NULL, 'H'},
		{"fd", required_argument, NULL, 'F'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *config = DEFAULT_CONFIG;
	const char *check = NULL;
	const char *plugin = NULL;
	const char *plugin_host = NULL; /* internal: an isolated instance's host */
	int host_fd = -1;
	bool help = false;
	bool dump = false;
	char **sets = calloc((size_t)argc, sizeof(*sets));
	size_t n_sets = 0;
	int c;
	while ((c = getopt_long(argc, argv, "c:s:t:p:DVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': sets[n_sets++] = optarg; break;
		case 't': check = optarg; break;
		case 'p': plugin = optarg; break;
		case 'D': dump = true; break;
		case 'H': plugin_host = optarg; break;
		case 'F': host_fd = atoi(optarg); break;
		case 'V':
			printf("bearmond %s (plugin ABI %d.%d)\n", BM_VERSION, BM_ABI_MAJOR, BM_ABI_MINOR);
			free(sets);
			return 0;
		case 'h': help = true; break;
		default: usage(stderr); free(sets); return 2;
		}
	}
	int rc;
	if (optind < argc) {
		fprintf(stderr, "bearmond: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		rc = 2;
	} else if (plugin_host) {
		rc = host_fd >= 0 ? plugin_host_run(config, sets, n_sets, plugin_host, host_fd) : 2;
	} else if (plugin) {
		rc = plugin_help(config, plugin, sets, n_sets);
	} else if (dump) {
		rc = manpage_dump_options(config, sets, n_sets, stdout);
	} else if (help) {
		usage(stdout);
		rc = 0;
	} else if (check) {
		size_t bad = daemon_check_config(check, sets, n_sets, stderr);
		if (!bad)
			printf("%s: config ok\n", check);
		loader_exit();
		rc = bad ? 1 : 0;
	} else {
		struct daemon d = {0};
		rc = daemon_start(&d, config, sets, n_sets);
		if (rc == 0)
			rc = daemon_run(&d);
		else
			LOG_ERR("not started: fix the config errors above");
		daemon_stop(&d);
	}
	free(sets);
	return rc;
}
