/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of notifier/exec with real commands (/bin/sh scripts): the
 * alert on stdin and in BEARMON_ALERT_*, exit codes as status codes, the
 * timeout killing the whole process group, a command that does not read
 * stdin, a missing program, commands running concurrently, and stop
 * interrupting a running command without losing its alert.
 */
#include "exec.c"
#include "../../notifier_webhook/tests/notifyhost.h"

struct fixture {
	struct exec_conf conf;
	struct exec *x;
	char out[128]; /* the scripts' directory ($NH_OUT) */
};

static void fx_open(struct fixture *f, const char *script)
{
	nh_open();
	memset(f, 0, sizeof(*f));
	pt_conf_defaults(exec_options, &f->conf);
	pt_mkdtemp(f->out, sizeof(f->out), "bm-exec-out-");
	setenv("NH_OUT", f->out, 1);
	if (script)
		pt_set_list(&f->conf.command, "/bin/sh", "-c", script, NULL);
}

static void fx_close(struct fixture *f)
{
	pt_fini(&exec_ops, f->x);
	pt_rm_tree(f->out);
	pt_conf_release(exec_options, &f->conf);
	nh_close();
}

static void send_alerts(struct fixture *f, size_t n, const char *const *fps)
{
	json_t *arr = nh_alerts("DiskFull", n, fps);
	notify_send_unqueued(f->x->n, arr, NULL);
	json_decref(arr);
}

static char *slurp(const char *dir, const char *name)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char *buf = calloc(1, 1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_stdin_and_env(void **unused)
{
	struct fixture f;
	const char *fps[] = {"fp1"};
	fx_open(&f, "cat > \"$NH_OUT/in.json\"; env > \"$NH_OUT/env\"");
	setenv("BEARMON_ALERT_STALE", "from the daemon's own environment", 1);
	f.x = pt_init(&exec_ops, &f.conf);
	send_alerts(&f, 1, fps);
	unsetenv("BEARMON_ALERT_STALE");
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_OK);
	assert_int_equal(e.status_code, 0);
	assert_string_equal(e.receiver, "/bin/sh");
	char *in = slurp(f.out, "in.json");
	json_error_t je;
	json_t *j = json_loads(in, 0, &je);
	assert_string_equal(notify_alert_str(j, "fingerprint"), "fp1");
	assert_string_equal(notify_alert_label(j, "alertname"), "DiskFull");
	json_decref(j);
	free(in);
	char *env = slurp(f.out, "env");
	const char *want[] = {
		"BEARMON_ALERT_STATUS=firing\n", "BEARMON_ALERT_NAME=DiskFull\n",
		"BEARMON_ALERT_SEVERITY=critical\n", "BEARMON_ALERT_FINGERPRINT=fp1\n",
		"BEARMON_ALERT_VALUE=93.5\n", "BEARMON_ALERT_THRESHOLD=90\n",
		"BEARMON_ALERT_STARTS_AT=2023-11-14T22:13:50.000Z\n",
		"BEARMON_ALERT_SUMMARY=disk almost full\n", "BEARMON_ALERT_LABEL_INSTANCE=host-1\n",
		"BEARMON_ALERT_ANNOTATION_RUNBOOK_URL=http://runbooks/disk\n",
		"BEARMON_ALERT_ATTEMPT=1\n", "BEARMON_NOTIFIER=test\n", "NH_OUT=",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(env, want[i]))
			fail_msg("environment lacks %s", want[i]);
	assert_null(strstr(env, "BEARMON_ALERT_STALE"));
	free(env);
	fx_close(&f);
}

static void test_exit_code(void **unused)
{
	struct fixture f;
	const char *fps[] = {"fp1"};
	fx_open(&f, "echo broken >&2; exit 3");
	f.x = pt_init(&exec_ops, &f.conf);
	send_alerts(&f, 1, fps);
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_FAILED);
	assert_int_equal(e.status_code, 3);
	assert_string_equal(e.error, "exit code 3: broken\n");
	fx_close(&f);
}

/* Is pid gone (or a zombie waiting for init)? */
static bool gone(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return true;
	bool zombie = fgets(buf, sizeof(buf), fp) && strstr(buf, ") Z ");
	fclose(fp);
	return zombie;
}

static void test_timeout_kills_group(void **unused)
{
	struct fixture f;
	const char *fps[] = {"fp1"};
	fx_open(&f, "sleep 30 & echo $! > \"$NH_OUT/pid\"; wait");
	f.conf.timeout_ms = 300;
	f.x = pt_init(&exec_ops, &f.conf);
	send_alerts(&f, 1, fps);
	struct nh_event e = nh_event(0);
	assert_int_equal(e.status_code, 128 + SIGKILL);
	assert_non_null(strstr(e.error, "timed out after 300 ms; process group killed"));
	char *pid = slurp(f.out, "pid");
	pid_t grandchild = (pid_t)atoi(pid);
	free(pid);
	assert_true(grandchild > 0);
	for (int i = 0; i < 400 && !gone(grandchild); i++)
		usleep(5000);
	assert_true(gone(grandchild));
	fx_close(&f);
}

static void test_stdin_not_read(void **unused)
{
	struct fixture f;
	struct nh_alert a;
	char *big = malloc(1 << 20);
	memset(big, 'x', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	fx_open(&f, "exit 0");
	f.x = pt_init(&exec_ops, &f.conf);
	nh_alert_init(&a, "DiskFull", "fp1", BM_ALERT_FIRING);
	a.ann[0].value = big; /* far more than a pipe holds */
	json_t *arr = json_array();
	json_array_append_new(arr, notify_alert_json(&a.e));
	notify_send_unqueued(f.x->n, arr, NULL); /* EPIPE, not SIGPIPE */
	json_decref(arr);
	assert_int_equal(nh_event(0).outcome, BM_NOTIFY_OK);
	free(big);
	fx_close(&f);
}

static void test_missing_program(void **unused)
{
	struct fixture f;
	const char *fps[] = {"fp1"};
	fx_open(&f, NULL);
	pt_set_list(&f.conf.command, "/nonexistent/pager", "--now", NULL);
	f.x = pt_init(&exec_ops, &f.conf);
	send_alerts(&f, 1, fps);
	assert_string_equal(nh_event(0).error, "cannot run /nonexistent/pager: No such file or directory");
	pt_fini(&exec_ops, f.x);
	pt_set_list(&f.conf.command, NULL);
	f.x = pt_init(&exec_ops, &f.conf);
	send_alerts(&f, 1, fps);
	assert_string_equal(nh_event(1).error, "command is not set");
	fx_close(&f);
}

/* Each command waits until all four have started: it succeeds only when
 * they run side by side. */
static void test_concurrency(void **unused)
{
	struct fixture f;
	const char *fps[] = {"c0", "c1", "c2", "c3"};
	fx_open(&f, "touch \"$NH_OUT/$BEARMON_ALERT_FINGERPRINT\"; i=0; "
		    "while [ \"$(ls \"$NH_OUT\" | wc -l)\" -lt 4 ] && [ $i -lt 1000 ]; do "
		    "sleep 0.01; i=$((i+1)); done; [ \"$(ls \"$NH_OUT\" | wc -l)\" -ge 4 ]");
	f.conf.concurrency = 4;
	f.x = pt_init(&exec_ops, &f.conf);
	send_alerts(&f, 4, fps);
	assert_int_equal(nh_count(BM_NOTIFY_OK), 4);
	fx_close(&f);
}

static void test_stop_keeps_alert(void **unused)
{
	struct fixture f;
	struct bm_err err = {0};
	struct nh_alert a;
	char pid_path[200];
	fx_open(&f, "echo $$ > \"$NH_OUT/pid\"; sleep 30");
	f.conf.timeout_ms = 60000;
	f.x = pt_init(&exec_ops, &f.conf);
	assert_int_equal(exec_ops.start(f.x, &err), 0);
	nh_alert_init(&a, "DiskFull", "fp1", BM_ALERT_FIRING);
	nh_publish_alert(&a.e);
	snprintf(pid_path, sizeof(pid_path), "%s/pid", f.out);
	for (int i = 0; i < 4000 && access(pid_path, F_OK); i++)
		usleep(5000);
	exec_ops.stop(f.x);
	struct nh_event e = nh_event(0);
	assert_int_equal(e.outcome, BM_NOTIFY_RETRYING);
	assert_string_equal(e.error, "interrupted: the notifier stopped");
	assert_int_equal(nh_queue_files(), 1);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdin_and_env),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_stdin_not_read),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_stop_keeps_alert),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
