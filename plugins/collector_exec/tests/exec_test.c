/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of collector/exec with /bin/sh -c scripts: good output,
 * garbage, a timeout (the whole process group is killed), a non-zero exit,
 * endless output cut at max_output, a missing program; and no zombies, no
 * leaked or inherited file descriptors afterwards.
 */
#include <dirent.h>

#include "plugintest.h"
#include "exec.c"

struct fixture {
	struct exec_conf conf;
	void *state;
};

/* cmds: name, script, timeout ms; ... NULL */
static void fixture_open(struct fixture *f, uint64_t max_output, ...)
{
	va_list ap;
	pt_fixture_begin(f, exec_options);
	if (max_output)
		f->conf.max_output = max_output;
	f->conf.commands.items = calloc(8, sizeof(struct exec_cmd_conf));
	va_start(ap, max_output);
	for (const char *name; (name = va_arg(ap, const char *));) {
		struct exec_cmd_conf *c =
			BM_GROUP_ITEM(f->conf.commands, struct exec_cmd_conf, f->conf.commands.n++);
		const char *script = va_arg(ap, const char *);
		c->name = strdup(name);
		c->timeout = va_arg(ap, int);
		c->command.v = calloc(3, sizeof(char *));
		if (script[0] == '/' || strchr(script, ' ') == NULL) { /* a program, no shell */
			c->command.v[c->command.n++] = strdup(script);
		} else {
			c->command.v[c->command.n++] = strdup("/bin/sh");
			c->command.v[c->command.n++] = strdup("-c");
			c->command.v[c->command.n++] = strdup(script);
		}
	}
	va_end(ap);
	f->state = pt_init(&exec_ops, &f->conf);
}

static void fixture_close(struct fixture *f)
{
	pt_close(&exec_ops, exec_options, f->state, &f->conf);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void assert_no_children(void)
{
	int status;
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_ok(void **unused)
{
	struct fixture f;
	int fds0 = count_fds();
	int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: must still not reach the child */
	char script[256];
	snprintf(script, sizeof(script),
		 "printf '# HELP t a test\\n# TYPE t gauge\\nt{a=\"1\"} 5\\nt{a=\"2\"} 6 1700000000001\\n'; "
		 "if [ -e /proc/$$/fd/%d ]; then echo inherited 1; else echo inherited 0; fi",
		 leak);
	fixture_open(&f, 0, "probe", script, 5000, NULL);
	pt_collect_ok(&exec_ops, f.state, 1700000000000);
	assert_true(fakehost_value("t", "a=1") == 5);
	assert_true(fakehost_value("t", "a=2") == 6);
	assert_true(fakehost_value("inherited", "") == 0);
	assert_int_equal(fakehost_meta("t")->type, BM_METRIC_GAUGE);
	assert_string_equal(fakehost_meta("t")->help, "a test");
	assert_true(fakehost_value("bearmon_exec_success", "command=probe") == 1);
	assert_true(fakehost_value("bearmon_exec_exit_code", "command=probe") == 0);
	double d = fakehost_value("bearmon_exec_duration_seconds", "command=probe");
	assert_true(d >= 0 && d < 5);
	assert_int_equal(fakehost_meta("bearmon_exec_duration_seconds")->type, BM_METRIC_GAUGE);
	/* twice: same result, batch reused */
	pt_collect_ok(&exec_ops, f.state, 1700000001000);
	assert_int_equal(fakehost_count("t"), 4);
	fixture_close(&f);
	close(leak);
	assert_int_equal(count_fds(), fds0);
	assert_no_children();
}

static void test_garbage_and_exit_code(void **unused)
{
	struct fixture f;
	fixture_open(&f, 0, "garbage", "echo 'good 1'; echo 'this is { not valid'", 5000,
		     "failing", "echo 'x 1'; exit 3", 5000,
		     "fine", "echo 'y 2'", 5000, NULL);
	pt_collect_ok(&exec_ops, f.state, 1700000000000);
	assert_int_equal(fakehost_count("good"), 0); /* the whole output goes */
	assert_true(fakehost_value("bearmon_exec_success", "command=garbage") == 0);
	assert_true(fakehost_value("bearmon_exec_exit_code", "command=garbage") == 0);
	assert_int_equal(fakehost_count("x"), 0);
	assert_true(fakehost_value("bearmon_exec_success", "command=failing") == 0);
	assert_true(fakehost_value("bearmon_exec_exit_code", "command=failing") == 3);
	assert_true(fakehost_value("y", "") == 2);
	assert_true(fakehost_value("bearmon_exec_success", "command=fine") == 1);
	fixture_close(&f);
	assert_no_children();
}

static void test_timeout_kills_group(void **unused)
{
	struct fixture f;
	char pidfile[] = "/tmp/bm-exec-pid-XXXXXX", script[256];
	int fd = mkstemp(pidfile);
	close(fd);
	snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; echo 'early 1'; sleep 30", pidfile);
	fixture_open(&f, 0, "slow", script, 300, NULL);
	double t0 = mono_s();
	pt_collect_ok(&exec_ops, f.state, 1700000000000);
	assert_true(mono_s() - t0 < 3);
	assert_true(fakehost_value("bearmon_exec_success", "command=slow") == 0);
	assert_true(fakehost_value("bearmon_exec_exit_code", "command=slow") == 128 + SIGKILL);
	assert_true(fakehost_value("bearmon_exec_duration_seconds", "command=slow") >= 0.29);
	assert_int_equal(fakehost_count("early"), 0);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "timed out"));
	/* the background sleep of the same group is gone too (or a zombie of init) */
	FILE *p = fopen(pidfile, "r");
	int bg = 0;
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &bg), 1);
	fclose(p);
	unlink(pidfile);
	char stat[64], buf[256] = "";
	snprintf(stat, sizeof(stat), "/proc/%d/stat", bg);
	for (int i = 0; i < 100; i++) { /* SIGKILL delivery is asynchronous */
		FILE *s = fopen(stat, "r");
		if (!s) {
			buf[0] = '\0';
			break;
		}
		if (!fgets(buf, sizeof(buf), s))
			buf[0] = '\0';
		fclose(s);
		char *st = strrchr(buf, ')');
		if (!st || st[2] == 'Z' || st[2] == 'X') {
			buf[0] = '\0';
			break;
		}
		usleep(10000);
	}
	assert_string_equal(buf, "");
	fixture_close(&f);
	assert_no_children();
}

static void test_huge_output(void **unused)
{
	struct fixture f;
	fixture_open(&f, 4096, "flood", "yes 'big_metric 1'", 5000, "after", "echo 'z 3'", 5000, NULL);
	double t0 = mono_s();
	pt_collect_ok(&exec_ops, f.state, 1700000000000);
	assert_true(mono_s() - t0 < 3); /* cut at the cap, not at the timeout */
	assert_int_equal(fakehost_count("big_metric"), 0);
	assert_true(fakehost_value("bearmon_exec_success", "command=flood") == 0);
	assert_true(fakehost_value("bearmon_exec_exit_code", "command=flood") == 128 + SIGKILL);
	assert_true(fakehost_value("z", "") == 3);
	assert_int_equal(fakehost_count("bearmon_exec_success"), 2);
	fixture_close(&f);
	assert_no_children();
}

static void test_missing_program(void **unused)
{
	struct fixture f;
	fixture_open(&f, 0, "nope", "/nonexistent/bearmon-probe", 1000, NULL);
	pt_collect_ok(&exec_ops, f.state, 1700000000000);
	assert_true(fakehost_value("bearmon_exec_success", "command=nope") == 0);
	assert_true(fakehost_value("bearmon_exec_exit_code", "command=nope") == -1);
	assert_non_null(strstr(fakehost_last_log(BM_LOG_WARN), "cannot run /nonexistent/bearmon-probe"));
	fixture_close(&f);
	assert_no_children();
}

static void test_no_commands_and_bad_config(void **unused)
{
	struct fixture f;
	fixture_open(&f, 0, NULL);
	pt_collect_ok(&exec_ops, f.state, 1700000000000);
	assert_true(fakehost_value("bearmon_exec_commands", "") == 0);
	fixture_close(&f);

	fixture_open(&f, 0, "a", "echo 'q 1'", 1000, NULL);
	pt_fini(&exec_ops, f.state);
	struct exec_cmd_conf *c = BM_GROUP_ITEM(f.conf.commands, struct exec_cmd_conf, 1);
	c->name = strdup("a");
	c->command.v = calloc(1, sizeof(char *));
	c->command.v[0] = strdup("true");
	c->command.n = 1;
	f.conf.commands.n = 2;
	pt_init_err(&exec_ops, &f.conf, BM_EINVAL, "name \"a\" used twice", NULL);
	f.state = NULL;
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_garbage_and_exit_code),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_huge_output),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_no_commands_and_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
