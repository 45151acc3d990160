/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libbearmon-client's public calls except the I/O ones (io.c): creating
 * and freeing a client, and the reporting calls, which validate their
 * arguments without the lock, then take the lock only to encode a few
 * bytes into the bounded buffer.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* The first published struct bm_client_opts / bm_client_stats end here. */
#define OPTS_V1_SIZE  (offsetof(struct bm_client_opts, reconnect_max_ms) + sizeof(int))
#define STATS_V1_SIZE (offsetof(struct bm_client_stats, last_error) + 128)

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bmc_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t bmc_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- creation ---------------------------------------------------------- */

static char *dup_opt(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

/* Copy labels and capabilities so that the caller's may go away. */
static bool copy_lists(struct bm_client *c, const struct bm_client_opts *o)
{
	bool ok = true;

	c->labels = calloc(o->n_labels + 1, sizeof(*c->labels));
	c->caps = calloc(o->n_capabilities + 1, sizeof(*c->caps));
	if (!c->labels || !c->caps)
		return false;
	for (size_t i = 0; i < o->n_labels; i++) {
		c->labels[i].key = dup_opt(o->labels[i].key, &ok);
		c->labels[i].value = dup_opt(o->labels[i].value, &ok);
		c->n_labels = i + 1;
	}
	for (size_t i = 0; i < o->n_capabilities; i++) {
		c->caps[i] = dup_opt(o->capabilities[i], &ok);
		c->n_caps = i + 1;
	}
	return ok;
}

static int check_opts(const struct bm_client_opts *o, struct bm_err *err)
{
	if (!bmc_agent_id_ok(o->agent_id))
		return bm_err_set(err, BM_EINVAL,
				  "agent_id \"%s\": 1 to 128 characters of [A-Za-z0-9_.:-]",
				  o->agent_id ? o->agent_id : "(null)");
	if ((o->type && !bmc_utf8_ok(o->type)) || (o->version && !bmc_utf8_ok(o->version)))
		return bm_err_set(err, BM_EINVAL, "type or version is not valid UTF-8");
	if (!bmc_labels_ok(o->labels, o->n_labels, true))
		return bm_err_set(
		    err, BM_EINVAL,
		    "labels: names must match [a-zA-Z_][a-zA-Z0-9_]*, values be UTF-8");
	if (o->n_capabilities && !o->capabilities)
		return bm_err_set(err, BM_EINVAL, "capabilities is NULL");
	for (size_t i = 0; i < o->n_capabilities; i++)
		if (!o->capabilities[i] || !bmc_utf8_ok(o->capabilities[i]))
			return bm_err_set(err, BM_EINVAL, "capability %zu is NULL or not UTF-8", i);
	if (o->buffer_limit && o->buffer_limit < BM_CLIENT_MIN_BUFFER_LIMIT)
		return bm_err_set(err, BM_EINVAL, "buffer_limit %zu: at least %d bytes",
				  o->buffer_limit, BM_CLIENT_MIN_BUFFER_LIMIT);
	if (o->flush_interval_ms < 0 || o->reconnect_max_ms < 0)
		return bm_err_set(err, BM_EINVAL,
				  "flush_interval_ms and reconnect_max_ms must be >= 0");
	return 0;
}

static const char *default_address(const struct bm_client_opts *o)
{
	const char *env = getenv("BEARMON_AGENT_ADDRESS");

	if (o->address)
		return o->address;
	return env && *env ? env : BM_CLIENT_DEFAULT_ADDRESS;
}

static void init_state(struct bm_client *c, const struct bm_client_opts *o)
{
	size_t limit = o->buffer_limit ? o->buffer_limit : BM_CLIENT_DEFAULT_BUFFER_LIMIT;

	bmc_queue_init(&c->q, limit);
	c->msg_max = limit / 4 < BMC_MSG_MAX ? limit / 4 : BMC_MSG_MAX;
	c->flush_ms = o->flush_interval_ms ? o->flush_interval_ms : BM_CLIENT_DEFAULT_FLUSH_MS;
	c->reconnect_max_ms =
	    o->reconnect_max_ms ? o->reconnect_max_ms : BM_CLIENT_DEFAULT_RECONNECT_MAX_MS;
	if (c->reconnect_max_ms < BMC_BACKOFF_MIN_MS)
		c->reconnect_max_ms = BMC_BACKOFF_MIN_MS;
	c->backoff_ms = BMC_BACKOFF_MIN_MS;
	c->fd = -1;
	c->state = BMC_DOWN;
	c->retry_at = bmc_mono_ms(); /* the first poll connects */
	c->seed = (unsigned)getpid() ^ (unsigned)mono_ns();
	c->cmd_tail = &c->cmd_head;
	atomic_init(&c->stopping, false);
}

static int init_sync(struct bm_client *c)
{
	pthread_condattr_t ca;
	int rc = 0;

	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0)
		return BM_EIO;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&c->drained, &ca))
		rc = BM_ENOMEM;
	pthread_condattr_destroy(&ca);
	if (rc) {
		pthread_mutex_destroy(&c->lock);
		close(c->wake_fd);
	}
	return rc;
}

static void free_fields(struct bm_client *c)
{
	for (size_t i = 0; i < c->n_labels; i++) {
		free((char *)c->labels[i].key);
		free((char *)c->labels[i].value);
	}
	for (size_t i = 0; i < c->n_caps; i++)
		free(c->caps[i]);
	free(c->labels);
	free(c->caps);
	free(c->agent_id);
	free(c->type);
	free(c->version);
	bmc_queue_free(&c->q);
	bmc_buf_free(&c->batch);
	bmc_buf_free(&c->scratch);
	bmc_buf_free(&c->hello);
	bmc_buf_free(&c->in);
	while (c->cmd_head) {
		struct bmc_command *next = c->cmd_head->next;
		free(c->cmd_head);
		c->cmd_head = next;
	}
	free(c);
}

struct bm_client *bm_client_new(const struct bm_client_opts *opts, struct bm_err *err)
{
	struct bm_client_opts o = {0};
	struct bm_client *c;
	bool ok = true;

	if (!opts || opts->size < OPTS_V1_SIZE) {
		bm_err_set(err, BM_EINVAL,
			   "opts NULL or opts.size not set to sizeof(struct bm_client_opts)");
		return NULL;
	}
	memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
	if (check_opts(&o, err))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		bm_err_set(err, BM_ENOMEM, "out of memory");
		return NULL;
	}
	if (bmc_addr_parse(default_address(&o), &c->addr, err)) {
		free(c);
		return NULL;
	}
	c->agent_id = dup_opt(o.agent_id, &ok);
	c->type = dup_opt(o.type, &ok);
	c->version = dup_opt(o.version, &ok);
	if (!copy_lists(c, &o) || !ok || init_sync(c)) {
		free_fields(c);
		bm_err_set(err, BM_ENOMEM, "out of memory");
		return NULL;
	}
	init_state(c, &o);
	return c;
}

void bm_client_free(struct bm_client *c)
{
	if (!c)
		return;
	bmc_thread_stop(c);
	pthread_mutex_lock(&c->lock);
	bmc_io_close(c);
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&c->drained);
	pthread_mutex_destroy(&c->lock);
	close(c->wake_fd);
	free_fields(c);
}

/* ---- appending --------------------------------------------------------- */

static int reject(struct bm_client *c)
{
	if (c) {
		pthread_mutex_lock(&c->lock);
		c->st.rejected++;
		pthread_mutex_unlock(&c->lock);
	}
	return BM_EINVAL;
}

void bmc_seal_batch(struct bm_client *c)
{
	uint8_t prefix[BMC_METRIC_PREFIX];

	if (!c->batch_n)
		return;
	bmc_metric_prefix(prefix, c->batch_n, c->batch.len);
	if (bmc_queue_push(&c->q, prefix, sizeof(prefix), c->batch.data, c->batch.len, 0,
			   &c->drops) == BM_ENOMEM) {
		c->drops.samples += c->batch_n;
		c->drops.bytes += sizeof(prefix) + c->batch.len;
	}
	bmc_buf_truncate(&c->batch, 0);
	c->batch_n = 0;
}

int bmc_admit_frame(struct bm_client *c, bool count)
{
	int rc;

	if (c->scratch.len > c->msg_max) {
		c->st.rejected++;
		return BM_ERANGE;
	}
	rc = bmc_queue_push(&c->q, c->scratch.data, c->scratch.len, NULL, 0, c->batch.len,
			    &c->drops);
	if (!rc && count)
		c->st.messages++;
	return rc;
}

/* The sample just encoded at batch[before, len): keep it if it fits the
 * budget after dropping older frames; seal the batch when it is full. */
static int admit_sample(struct bm_client *c, size_t before)
{
	size_t n = c->batch.len - before;

	if (n > c->msg_max) {
		bmc_buf_truncate(&c->batch, before);
		c->st.rejected++;
		return BM_ERANGE;
	}
	if (!bmc_queue_make_room(&c->q, c->batch.len + BMC_METRIC_PREFIX, &c->drops)) {
		bmc_buf_truncate(&c->batch, before);
		c->drops.samples++;
		c->drops.bytes += n;
		return BM_EAGAIN;
	}
	if (c->batch_n++ == 0)
		c->batch_since = bmc_mono_ms();
	c->st.samples++;
	if (c->batch.len >= c->msg_max)
		bmc_seal_batch(c);
	return 0;
}

static int add_sample(struct bm_client *c, const char *name, enum bmc_kind kind, double value,
		      const struct bm_client_kv *labels, size_t n_labels)
{
	int64_t ts;
	size_t before;
	int rc;

	if (!c || !bmc_metric_name_ok(name) || !isfinite(value) ||
	    (kind == BMC_COUNTER && value < 0) || !bmc_labels_ok(labels, n_labels, true))
		return reject(c);
	ts = bmc_wall_ms();
	pthread_mutex_lock(&c->lock);
	before = c->batch.len;
	rc = bmc_encode_sample(&c->batch, name, kind, value, labels, n_labels, ts);
	if (!rc)
		rc = admit_sample(c, before);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int bm_client_gauge(struct bm_client *c, const char *name, double value,
		    const struct bm_client_kv *labels, size_t n_labels)
{
	return add_sample(c, name, BMC_GAUGE, value, labels, n_labels);
}

int bm_client_counter(struct bm_client *c, const char *name, double increment,
		      const struct bm_client_kv *labels, size_t n_labels)
{
	return add_sample(c, name, BMC_COUNTER, increment, labels, n_labels);
}

/* ---- tasks ------------------------------------------------------------- */

struct bm_client_task bm_client_task_begin(struct bm_client *c)
{
	(void)c;
	return (struct bm_client_task){.start_ms = bmc_wall_ms(), .start_mono_ns = mono_ns()};
}

static bool opt_str_ok(const char *s)
{
	return !s || bmc_utf8_ok(s);
}

static bool report_ok(const struct bm_client_task_report *r)
{
	if (!r)
		return true;
	return opt_str_ok(r->task_id) && opt_str_ok(r->type) && opt_str_ok(r->error_class) &&
	       r->tokens_in >= 0 && r->tokens_out >= 0 && r->outcome >= BM_TASK_OK &&
	       r->outcome <= BM_TASK_CANCELLED && !(r->error_class && r->outcome == BM_TASK_OK);
}

static int add_task(struct bm_client *c, const struct bmc_task *t)
{
	int rc;

	if (!c || !report_ok(t->r))
		return reject(c);
	pthread_mutex_lock(&c->lock);
	bmc_buf_truncate(&c->scratch, 0);
	rc = bmc_encode_task(&c->scratch, t);
	if (!rc)
		rc = bmc_admit_frame(c, true);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int bm_client_task_end(struct bm_client *c, const struct bm_client_task *t,
		       const struct bm_client_task_report *r)
{
	double ms;

	if (!t || t->start_mono_ns <= 0)
		return reject(c);
	ms = (double)(mono_ns() - t->start_mono_ns) / 1e6;
	return add_task(c, &(struct bmc_task){
			       .r = r,
			       .start_ms = t->start_ms,
			       .end_ms = t->start_ms + llround(ms),
			       .duration_ms = ms,
			   });
}

int bm_client_task(struct bm_client *c, double duration_ms, const struct bm_client_task_report *r)
{
	int64_t end = bmc_wall_ms();

	if (!isfinite(duration_ms) || duration_ms < 0 || duration_ms > 1e12)
		return reject(c);
	return add_task(c, &(struct bmc_task){
			       .r = r,
			       .start_ms = end - llround(duration_ms),
			       .end_ms = end,
			       .duration_ms = duration_ms,
			   });
}

/* ---- coordination and acks -------------------------------------------- */

static bool coord_ok(const struct bm_client_coord *x)
{
	return x && x->peer && *x->peer && bmc_utf8_ok(x->peer) && isfinite(x->latency_ms) &&
	       x->latency_ms >= 0 && isfinite(x->sync_wait_ms) && x->sync_wait_ms >= 0 &&
	       x->messages >= 0 && x->bytes >= 0;
}

int bm_client_coord(struct bm_client *c, const struct bm_client_coord *x)
{
	int rc;

	if (!c || !coord_ok(x))
		return reject(c);
	pthread_mutex_lock(&c->lock);
	bmc_buf_truncate(&c->scratch, 0);
	rc = bmc_encode_coord(&c->scratch, x);
	if (!rc)
		rc = bmc_admit_frame(c, true);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int bm_client_ack(struct bm_client *c, const char *id, bool ok, const char *detail,
		  const struct bm_client_kv *result, size_t n_result)
{
	int rc;

	if (!c || !id || !*id || !bmc_utf8_ok(id) || !opt_str_ok(detail) ||
	    !bmc_labels_ok(result, n_result, false))
		return reject(c);
	pthread_mutex_lock(&c->lock);
	bmc_buf_truncate(&c->scratch, 0);
	rc = bmc_encode_ack(&c->scratch, id, ok, detail, result, n_result);
	if (!rc)
		rc = bmc_admit_frame(c, true);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int bm_client_on_command(struct bm_client *c, bm_client_command_cb cb, void *user)
{
	if (!c)
		return BM_EINVAL;
	pthread_mutex_lock(&c->lock);
	c->cb = cb;
	c->cb_user = user;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ---- stats ------------------------------------------------------------- */

int bm_client_stats(struct bm_client *c, struct bm_client_stats *st)
{
	struct bm_client_stats s;
	size_t size;

	if (!c || !st || st->size < STATS_V1_SIZE)
		return BM_EINVAL;
	size = st->size < sizeof(s) ? st->size : sizeof(s);
	pthread_mutex_lock(&c->lock);
	s = c->st;
	s.samples_dropped = c->drops.samples;
	s.messages_dropped = c->drops.messages;
	s.bytes_dropped = c->drops.bytes;
	s.buffered_bytes = bmc_queue_used(&c->q) + c->batch.len;
	s.connected = c->state == BMC_READY;
	pthread_mutex_unlock(&c->lock);
	s.size = size;
	memcpy(st, &s, size);
	return 0;
}
