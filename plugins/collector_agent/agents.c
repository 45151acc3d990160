/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent registry and the derived agent metrics (agents.h). Windowed
 * figures (throughput, duration quantiles and average, error and success
 * ratios, coordination latency, sync wait, overhead) cover the last
 * win_slots collection intervals, one slot per interval; availability is
 * the share of collection ticks in the availability window at which the
 * agent was connected and not stale, counted from its first hello.
 */
#include "agents.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bearmon/bm_vec.h>

struct type_agg {
	const char *type; /* borrowed from an agent record, valid for the collection */
	unsigned active;  /* connected agents */
	double throughput;
	uint64_t n[OUT_N];
	double dur_sum_ms;
	uint64_t dur_n;
	struct sketch dur;
	double coord_lat_sum_ms, sync_sum_ms;
	uint64_t coord_lat_n, coord_n;
	uint64_t up, known;
};

/* Label names the derived metrics use themselves: a hello may not. */
static const char *const reserved_labels[] = {
	"agent", "agent_type", "outcome", "task_type", "error_class", "quantile", "peer", "direction",
};

static const char *const outcome_names[OUT_N] = {"ok", "error", "timeout", "cancelled"};

/* ---------------------------------------------------------------------
 * Records and the id index
 * --------------------------------------------------------------------- */

static size_t id_slot(const struct registry *r, const char *p, size_t n)
{
	return (size_t)(bm_hash_bytes(BM_HASH_INIT, p, n) >> 7) & (r->cap_slots - 1);
}

static int reindex(struct registry *r)
{
	size_t cap = 64;
	while (cap < 2 * (r->n + 1))
		cap *= 2;
	if (cap != r->cap_slots) {
		uint32_t *s = realloc(r->slots, cap * sizeof(*s));
		if (!s)
			return BM_ENOMEM;
		r->slots = s;
		r->cap_slots = cap;
	}
	memset(r->slots, 0, r->cap_slots * sizeof(*r->slots));
	for (size_t i = 0; i < r->n; i++) {
		const char *id = r->v[i]->id;
		size_t k = id_slot(r, id, strlen(id));
		while (r->slots[k])
			k = (k + 1) & (r->cap_slots - 1);
		r->slots[k] = (uint32_t)i + 1;
	}
	return 0;
}

struct agent *reg_find(struct registry *r, const char *id, size_t n)
{
	if (!r->cap_slots)
		return NULL;
	for (size_t k = id_slot(r, id, n);; k = (k + 1) & (r->cap_slots - 1)) {
		uint32_t i = r->slots[k];
		if (!i)
			return NULL;
		struct agent *a = r->v[i - 1];
		if (strncmp(a->id, id, n) == 0 && a->id[n] == '\0')
			return a;
	}
}

static void free_identity(struct agent *a)
{
	free(a->type);
	free(a->version);
	free(a->peer_addr);
	for (size_t i = 0; i < a->n_caps; i++)
		free(a->caps[i]);
	free(a->caps);
	for (uint32_t i = 0; i < a->n_hello_labels; i++) {
		free((char *)a->hello_labels[i].name);
		free((char *)a->hello_labels[i].value);
	}
	free(a->hello_labels);
	free(a->ident);
	a->type = a->version = a->peer_addr = NULL;
	a->caps = NULL;
	a->hello_labels = a->ident = NULL;
	a->n_caps = a->n_hello_labels = a->n_ident = 0;
}

static void free_agent(struct agent *a, uint32_t win_slots)
{
	free_identity(a);
	free(a->id);
	for (size_t i = 0; i < a->n_tasks; i++) {
		free(a->tasks[i].task_type);
		free(a->tasks[i].error_class);
	}
	free(a->tasks);
	for (size_t i = 0; i < a->n_peers; i++) {
		free(a->peers[i].name);
		free(a->peers[i].lat_sum_ms);
		free(a->peers[i].lat_n);
	}
	free(a->peers);
	for (uint32_t i = 0; a->win && i < win_slots; i++)
		sk_free(&a->win[i].dur);
	free(a->win);
	free(a->avail);
	series_free(&a->series);
	card_free(&a->card);
	free(a);
}

static char *dup_str(const struct ap_str *s)
{
	char *p = malloc(s->n + 1);
	if (p) {
		if (s->n) /* an absent string has p NULL */
			memcpy(p, s->p, s->n);
		p[s->n] = '\0';
	}
	return p;
}

/* ---------------------------------------------------------------------
 * Hello
 * --------------------------------------------------------------------- */

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':' || c == '-';
}

static bool is_reserved(const struct ap_str *k)
{
	for (size_t i = 0; i < sizeof(reserved_labels) / sizeof(*reserved_labels); i++)
		if (strlen(reserved_labels[i]) == k->n && !memcmp(reserved_labels[i], k->p, k->n))
			return true;
	return false;
}

static int check_labels(const struct registry *r, const struct ap_hello *h, char *why, size_t n)
{
	const struct card_limits *lim = &r->conf.card;
	if (lim->max_labels && h->n_labels + 2 > lim->max_labels) {
		snprintf(why, n, "%u labels: at most %u besides agent and agent_type", h->n_labels,
			 lim->max_labels - 2);
		return AP_R_HELLO;
	}
	for (uint32_t i = 0; i < h->n_labels; i++) {
		const struct ap_kv *kv = &h->labels[i];
		if (!valid_label_name(kv->k.p, kv->k.n) || is_reserved(&kv->k) ||
		    (lim->max_name_len && kv->k.n > lim->max_name_len)) {
			snprintf(why, n, "label name \"%.*s\" is invalid, reserved or too long",
				 (int)(kv->k.n > 64 ? 64 : kv->k.n), kv->k.p);
			return AP_R_HELLO;
		}
		if (lim->max_value_len && kv->v.n > lim->max_value_len) {
			snprintf(why, n, "label %.*s: value over %u bytes", (int)kv->k.n, kv->k.p,
				 lim->max_value_len);
			return AP_R_HELLO;
		}
		for (uint32_t j = 0; j < i; j++)
			if (h->labels[j].k.n == kv->k.n && !memcmp(h->labels[j].k.p, kv->k.p, kv->k.n)) {
				snprintf(why, n, "label %.*s given twice", (int)kv->k.n, kv->k.p);
				return AP_R_HELLO;
			}
	}
	return AP_OK;
}

int reg_check_hello(const struct registry *r, const struct ap_hello *h, char *why, size_t n)
{
	if (h->v < 0) {
		snprintf(why, n, "hello without protocol version v");
		return AP_R_HELLO;
	}
	if (h->v != AP_VERSION) {
		snprintf(why, n, "protocol version %lld is not supported (this server speaks %d)",
			 (long long)h->v, AP_VERSION);
		return AP_R_VERSION;
	}
	bool ok = h->agent_id.n >= 1 && h->agent_id.n <= AG_ID_MAX;
	for (uint32_t i = 0; ok && i < h->agent_id.n; i++)
		ok = id_char(h->agent_id.p[i]);
	if (!ok) {
		snprintf(why, n, "agent_id must be 1..%d bytes of [A-Za-z0-9_.:-]", AG_ID_MAX);
		return AP_R_HELLO;
	}
	if (h->type.n > AG_TEXT_MAX || h->version.n > AG_TEXT_MAX || h->pid < 0 ||
	    h->n_caps > 64) {
		snprintf(why, n, "type or version over %d bytes, negative pid or over 64 capabilities",
			 AG_TEXT_MAX);
		return AP_R_HELLO;
	}
	for (uint32_t i = 0; i < h->n_caps; i++)
		if (h->caps[i].n > AG_TEXT_MAX) {
			snprintf(why, n, "capability over %d bytes", AG_TEXT_MAX);
			return AP_R_HELLO;
		}
	return check_labels(r, h, why, n);
}

/* The identity labels: agent, agent_type (when given), hello labels. */
static int build_ident(struct agent *a)
{
	a->ident = calloc(a->n_hello_labels + 2, sizeof(*a->ident));
	if (!a->ident)
		return BM_ENOMEM;
	uint32_t n = 0;
	a->ident[n++] = (struct bm_label){"agent", a->id};
	if (a->type[0])
		a->ident[n++] = (struct bm_label){"agent_type", a->type};
	for (uint32_t i = 0; i < a->n_hello_labels; i++)
		a->ident[n++] = a->hello_labels[i];
	a->n_ident = n;
	bm_labels_sort(a->ident, n);
	return 0;
}

static int set_identity(struct agent *a, const struct ap_hello *h, const char *peer_addr)
{
	free_identity(a);
	a->type = dup_str(&h->type);
	a->version = dup_str(&h->version);
	a->peer_addr = strdup(peer_addr);
	a->caps = calloc(h->n_caps + 1, sizeof(*a->caps));
	a->hello_labels = calloc(h->n_labels + 1, sizeof(*a->hello_labels));
	if (!a->type || !a->version || !a->peer_addr || !a->caps || !a->hello_labels)
		return BM_ENOMEM;
	for (; a->n_caps < h->n_caps; a->n_caps++)
		if (!(a->caps[a->n_caps] = dup_str(&h->caps[a->n_caps])))
			return BM_ENOMEM;
	for (uint32_t i = 0; i < h->n_labels; i++) {
		if (!h->labels[i].v.n)
			continue; /* "" is no label in Prometheus' model */
		struct bm_label *l = &a->hello_labels[a->n_hello_labels];
		l->name = dup_str(&h->labels[i].k);
		l->value = dup_str(&h->labels[i].v);
		if (l->name || l->value)
			a->n_hello_labels++;
		if (!l->name || !l->value)
			return BM_ENOMEM;
	}
	bm_labels_sort(a->hello_labels, a->n_hello_labels);
	a->pid = h->pid;
	a->protocol = h->v;
	return build_ident(a);
}

static struct agent *new_agent(struct registry *r, const struct ap_hello *h, int64_t now_ms)
{
	struct agent *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->id = dup_str(&h->agent_id);
	a->win = calloc(r->conf.win_slots, sizeof(*a->win));
	a->avail = calloc(r->conf.avail_slots, 1);
	if (!a->id || !a->win || !a->avail || card_init(&a->card, &r->conf.card)) {
		free_agent(a, r->conf.win_slots);
		return NULL;
	}
	a->first_seen_ms = now_ms;
	return a;
}

/* Make room for one more record: drop the longest disconnected one when
 * max_agents are kept. False when all of them are connected. */
static bool make_room(struct registry *r)
{
	if (r->n < r->conf.max_agents)
		return true;
	size_t oldest = r->n;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->state == BM_AGENT_DISCONNECTED &&
		    (oldest == r->n || r->v[i]->left_ms < r->v[oldest]->left_ms))
			oldest = i;
	if (oldest == r->n)
		return false;
	free_agent(r->v[oldest], r->conf.win_slots);
	r->v[oldest] = r->v[--r->n];
	reindex(r); /* shrinking never needs memory */
	return true;
}

struct agent *reg_hello(struct registry *r, const struct ap_hello *h, const char *peer_addr,
			void *conn, int64_t now_ms, void **replaced, bool *limit)
{
	*replaced = NULL;
	*limit = false;
	pthread_mutex_lock(&r->lock);
	struct agent *a = reg_find(r, h->agent_id.p, h->agent_id.n);
	if (!a) {
		if (!make_room(r)) {
			*limit = true;
			r->refused_agents++;
			goto out;
		}
		a = new_agent(r, h, now_ms);
		if (!a || BM_VEC_RESERVE(r->v, r->cap, r->n + 1)) {
			if (a)
				free_agent(a, r->conf.win_slots);
			a = NULL;
			goto out;
		}
		r->v[r->n++] = a;
		if (reindex(r)) {
			free_agent(r->v[--r->n], r->conf.win_slots);
			a = NULL;
			goto out;
		}
	} else if (a->conn && a->conn != conn) {
		*replaced = a->conn;
	}
	if (set_identity(a, h, peer_addr)) {
		/* keep the record usable: no type, labels or capabilities */
		free_identity(a);
		a->type = strdup("");
		if (!a->type || build_ident(a)) {
			a = NULL;
			goto out;
		}
	}
	a->state = BM_AGENT_CONNECTED;
	a->connected_ms = a->last_seen_ms = now_ms;
	a->conn = conn;
out:
	pthread_mutex_unlock(&r->lock);
	return a;
}

bool reg_seen(struct registry *r, struct agent *a, int64_t now_ms)
{
	pthread_mutex_lock(&r->lock);
	bool back = a->state == BM_AGENT_STALE;
	a->last_seen_ms = now_ms;
	if (back)
		a->state = BM_AGENT_CONNECTED;
	pthread_mutex_unlock(&r->lock);
	return back;
}

void reg_disconnect(struct registry *r, struct agent *a, int64_t now_ms)
{
	pthread_mutex_lock(&r->lock);
	a->state = BM_AGENT_DISCONNECTED;
	a->conn = NULL;
	a->left_ms = now_ms;
	pthread_mutex_unlock(&r->lock);
}

void reg_sweep(struct registry *r, int64_t now_ms, void (*changed)(void *u, struct agent *a),
	       void *u)
{
	size_t n_stale = 0, n = 0;
	bool removed = false;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		struct agent *a = r->v[i];
		if (a->state == BM_AGENT_DISCONNECTED && now_ms - a->left_ms > r->conf.forget_ms) {
			free_agent(a, r->conf.win_slots);
			removed = true;
			continue;
		}
		if (a->state == BM_AGENT_CONNECTED &&
		    now_ms - a->last_seen_ms > 3 * r->conf.heartbeat_ms &&
		    !BM_VEC_RESERVE(r->stale, r->cap_stale, n_stale + 1)) {
			a->state = BM_AGENT_STALE; /* when out of memory: next second */
			r->stale[n_stale++] = a;
		}
		r->v[n++] = a;
	}
	r->n = n;
	if (removed)
		reindex(r); /* shrinking never needs memory */
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < n_stale; i++)
		changed(u, r->stale[i]);
}

/* ---------------------------------------------------------------------
 * Tasks and coordination
 * --------------------------------------------------------------------- */

static bool str_eq(const struct ap_str *s, const char *lit)
{
	return s->n == strlen(lit) && memcmp(s->p, lit, s->n) == 0;
}

static bool nonneg(double v) { return isfinite(v) && v >= 0; }

/* Label sets agents name with their own strings go through the agent's
 * cardinality limiter once, when first seen. */
static bool admit(struct registry *r, struct agent *a, const char *metric, const char *k1,
		  const char *v1, const char *k2, const char *v2)
{
	struct bm_label l[2] = {{k1, v1}, {k2, v2}};
	uint64_t ds = a->card.dropped_series, dl = a->card.dropped_labels;
	bool ok = card_admit(&a->card, metric, l, k2 ? 2 : 1);
	r->dropped_series += a->card.dropped_series - ds;
	r->dropped_labels += a->card.dropped_labels - dl;
	return ok;
}

/* The counter of (task_type, error_class), created when admitted. */
static struct task_count *task_count(struct registry *r, struct agent *a, const struct ap_str *tt,
				     const struct ap_str *ec)
{
	for (size_t i = 0; i < a->n_tasks; i++) {
		struct task_count *t = &a->tasks[i];
		if (str_eq(tt, t->task_type) &&
		    (ec ? t->error_class && str_eq(ec, t->error_class) : !t->error_class))
			return t;
	}
	char *type = dup_str(tt);
	char *cls = ec ? dup_str(ec) : NULL;
	if (!type || (ec && !cls) ||
	    !admit(r, a, ec ? "agent_task_errors_total" : "agent_tasks_total", "task_type", type,
		   ec ? "error_class" : NULL, cls) ||
	    BM_VEC_RESERVE(a->tasks, a->cap_tasks, a->n_tasks + 1)) {
		free(type);
		free(cls);
		return NULL;
	}
	struct task_count *t = &a->tasks[a->n_tasks++];
	memset(t, 0, sizeof(*t));
	t->task_type = type;
	t->error_class = cls;
	return t;
}

static int outcome_of(const struct ap_str *s)
{
	if (!s->n)
		return OUT_OK;
	for (int i = 0; i < OUT_N; i++)
		if (str_eq(s, outcome_names[i]))
			return i;
	return -1;
}

/* The task's duration in ms: 0 and *has false when it gives none. */
static bool task_duration(const struct ap_task *t, double *ms, bool *has)
{
	*has = true;
	if (t->has_duration) {
		*ms = t->duration_ms;
		return nonneg(*ms);
	}
	if (t->has_start && t->has_end) {
		*ms = (double)t->end_ms - (double)t->start_ms;
		return t->end_ms >= t->start_ms;
	}
	*has = false;
	*ms = 0;
	return true;
}

bool reg_task(struct registry *r, struct agent *a, const struct ap_task *t)
{
	static const struct ap_str deflt = {"default", 7};
	int out = outcome_of(&t->outcome);
	double ms;
	bool has_dur;
	bool ok = out >= 0 && task_duration(t, &ms, &has_dur) && t->tokens_in >= 0 &&
		  t->tokens_out >= 0;
	pthread_mutex_lock(&r->lock);
	if (!ok) {
		r->invalid_messages++;
		pthread_mutex_unlock(&r->lock);
		return false;
	}
	const struct ap_str *tt = t->type.n ? &t->type : &deflt;
	struct task_count *c = task_count(r, a, tt, NULL);
	if (c)
		c->n[out]++;
	if (out != OUT_OK && t->error_class.n && (c = task_count(r, a, tt, &t->error_class)))
		c->n[out]++;
	struct win_slot *w = &a->win[r->cur];
	w->n[out]++;
	if (has_dur) {
		a->dur_sum_ms += ms;
		a->dur_n++;
		w->dur_sum_ms += ms;
		w->dur_n++;
		sk_add(&w->dur, ms); /* on ENOMEM the quantiles miss one value */
	}
	a->tokens_in += (uint64_t)t->tokens_in;
	a->tokens_out += (uint64_t)t->tokens_out;
	pthread_mutex_unlock(&r->lock);
	return true;
}

static struct peer *peer_of(struct registry *r, struct agent *a, const struct ap_str *name)
{
	for (size_t i = 0; i < a->n_peers; i++)
		if (str_eq(name, a->peers[i].name))
			return &a->peers[i];
	char *n = dup_str(name);
	double *sum = calloc(r->conf.win_slots, sizeof(*sum));
	uint64_t *cnt = calloc(r->conf.win_slots, sizeof(*cnt));
	if (!n || !sum || !cnt || !admit(r, a, "agent_coordination", "peer", n, NULL, NULL) ||
	    BM_VEC_RESERVE(a->peers, a->cap_peers, a->n_peers + 1)) {
		free(n);
		free(sum);
		free(cnt);
		return NULL;
	}
	struct peer *p = &a->peers[a->n_peers++];
	*p = (struct peer){.name = n, .lat_sum_ms = sum, .lat_n = cnt};
	return p;
}

bool reg_coord(struct registry *r, struct agent *a, const struct ap_coord *c)
{
	bool ok = c->peer.n && (!c->has_latency || nonneg(c->latency_ms)) &&
		  (!c->has_sync || nonneg(c->sync_wait_ms)) && c->messages >= 0 && c->bytes >= 0;
	pthread_mutex_lock(&r->lock);
	if (!ok) {
		r->invalid_messages++;
		pthread_mutex_unlock(&r->lock);
		return false;
	}
	struct win_slot *w = &a->win[r->cur];
	struct peer *p = peer_of(r, a, &c->peer);
	w->coord_n++;
	if (c->has_latency) {
		w->coord_lat_sum_ms += c->latency_ms;
		w->coord_lat_n++;
		if (p) {
			p->lat_sum_ms[r->cur] += c->latency_ms;
			p->lat_n[r->cur]++;
		}
	}
	if (c->has_sync)
		w->sync_sum_ms += c->sync_wait_ms;
	if (p) {
		p->sync_total_ms += c->has_sync ? c->sync_wait_ms : 0;
		p->messages += (uint64_t)c->messages;
		p->bytes += (uint64_t)c->bytes;
	}
	pthread_mutex_unlock(&r->lock);
	return true;
}

/* ---------------------------------------------------------------------
 * Derived metrics
 * --------------------------------------------------------------------- */

struct family {
	const char *name;
	enum bm_metric_type type;
	const char *unit;
	const char *help;
};

static const struct family families[] = {
	{"agent_up", BM_METRIC_GAUGE, NULL, "1 while the agent is connected and heartbeating, 0 while stale"},
	{"agent_tasks_total", BM_METRIC_COUNTER, NULL, "tasks finished, by outcome and task type"},
	{"agent_task_errors_total", BM_METRIC_COUNTER, NULL, "failed tasks by error class and task type"},
	{"agent_task_throughput", BM_METRIC_GAUGE, NULL, "tasks finished per second over the window"},
	{"agent_task_duration_seconds", BM_METRIC_SUMMARY, "seconds", "task duration: quantiles over the window, sum and count since the agent first said hello"},
	{"agent_task_duration_avg_seconds", BM_METRIC_GAUGE, "seconds", "mean task duration over the window"},
	{"agent_error_ratio", BM_METRIC_GAUGE, "ratio", "tasks with outcome error or timeout over all tasks in the window"},
	{"agent_success_ratio", BM_METRIC_GAUGE, "ratio", "tasks with outcome ok over all tasks in the window"},
	{"agent_availability_ratio", BM_METRIC_GAUGE, "ratio", "share of collection ticks in the availability window the agent was connected and not stale"},
	{"agent_tokens_total", BM_METRIC_COUNTER, NULL, "tokens consumed (in) and produced (out)"},
	{"agent_coordination_latency_seconds", BM_METRIC_GAUGE, "seconds", "mean coordination latency over the window"},
	{"agent_sync_wait_seconds_total", BM_METRIC_COUNTER, "seconds", "time spent waiting for a peer agent"},
	{"agent_sync_wait_avg_seconds", BM_METRIC_GAUGE, "seconds", "mean sync wait per coordination exchange over the window"},
	{"agent_messages_total", BM_METRIC_COUNTER, NULL, "messages exchanged with a peer agent"},
	{"agent_communication_bytes_total", BM_METRIC_COUNTER, "bytes", "bytes exchanged with a peer agent"},
	{"agent_communication_overhead_ratio", BM_METRIC_GAUGE, "ratio", "coordination latency plus sync wait over task time in the window"},
};

static const double quantiles[] = {0.5, 0.95, 0.99};
static const char *const quantile_names[] = {"0.5", "0.95", "0.99"};

/* A sample with labels base[0..n) plus up to two more (NULL key: none). */
static int emit(struct registry *r, struct bm_batch *b, const char *name, double v,
		const struct bm_label *base, uint32_t n, const char *k1, const char *v1,
		const char *k2, const char *v2)
{
	if (BM_VEC_RESERVE(r->lbuf, r->cap_lbuf, n + 2))
		return BM_ENOMEM;
	memcpy(r->lbuf, base, n * sizeof(*base));
	if (k1)
		r->lbuf[n++] = (struct bm_label){k1, v1};
	if (k2)
		r->lbuf[n++] = (struct bm_label){k2, v2};
	return bm_batch_add(b, name, v, r->lbuf, n);
}

/* What the window slots of a and the per-type figures both need. */
struct window {
	uint64_t n[OUT_N], tasks, dur_n, coord_lat_n, coord_n;
	double dur_sum_ms, coord_lat_sum_ms, sync_sum_ms;
};

static void sum_window(struct registry *r, const struct agent *a, struct window *w)
{
	memset(w, 0, sizeof(*w));
	sk_reset(&r->merged);
	for (uint32_t i = 0; i < r->conf.win_slots; i++) {
		const struct win_slot *s = &a->win[i];
		for (int o = 0; o < OUT_N; o++)
			w->n[o] += s->n[o];
		w->dur_sum_ms += s->dur_sum_ms;
		w->dur_n += s->dur_n;
		w->coord_lat_sum_ms += s->coord_lat_sum_ms;
		w->coord_lat_n += s->coord_lat_n;
		w->sync_sum_ms += s->sync_sum_ms;
		w->coord_n += s->coord_n;
		sk_merge(&r->merged, &s->dur);
	}
	for (int o = 0; o < OUT_N; o++)
		w->tasks += w->n[o];
}

/* The windowed figures shared by agents and types; labels l[0..n). */
static int emit_window(struct registry *r, struct bm_batch *b, const struct window *w,
		       const struct sketch *dur, double throughput, uint64_t up, uint64_t known,
		       const struct bm_label *l, uint32_t n)
{
	int rc = emit(r, b, "agent_task_throughput", throughput, l, n, NULL, NULL, NULL, NULL);
	for (size_t q = 0; q < 3 && !rc && dur->total; q++)
		rc = emit(r, b, "agent_task_duration_seconds", sk_quantile(dur, quantiles[q]) / 1000,
			  l, n, "quantile", quantile_names[q], NULL, NULL);
	if (!rc && w->dur_n)
		rc = emit(r, b, "agent_task_duration_avg_seconds", w->dur_sum_ms / (double)w->dur_n / 1000,
			  l, n, NULL, NULL, NULL, NULL);
	if (!rc && w->tasks) {
		double t = (double)w->tasks;
		rc = emit(r, b, "agent_error_ratio", (double)(w->n[OUT_ERROR] + w->n[OUT_TIMEOUT]) / t,
			  l, n, NULL, NULL, NULL, NULL);
		if (!rc)
			rc = emit(r, b, "agent_success_ratio", (double)w->n[OUT_OK] / t, l, n, NULL,
				  NULL, NULL, NULL);
	}
	if (!rc && known)
		rc = emit(r, b, "agent_availability_ratio", (double)up / (double)known, l, n, NULL,
			  NULL, NULL, NULL);
	if (!rc && w->coord_n)
		rc = emit(r, b, "agent_sync_wait_avg_seconds", w->sync_sum_ms / (double)w->coord_n / 1000,
			  l, n, NULL, NULL, NULL, NULL);
	if (!rc && w->dur_sum_ms > 0)
		rc = emit(r, b, "agent_communication_overhead_ratio",
			  (w->coord_lat_sum_ms + w->sync_sum_ms) / w->dur_sum_ms, l, n, NULL, NULL,
			  NULL, NULL);
	return rc;
}

static void availability(const struct registry *r, const struct agent *a, uint64_t *up,
			 uint64_t *known)
{
	*up = *known = 0;
	for (uint32_t i = 0; i < r->conf.avail_slots; i++) {
		*up += a->avail[i] == 1;
		*known += a->avail[i] != 0;
	}
}

static int emit_counters(struct registry *r, struct bm_batch *b, const struct agent *a)
{
	const struct bm_label *l = a->ident;
	uint32_t n = a->n_ident;
	int rc = 0;
	for (size_t i = 0; i < a->n_tasks && !rc; i++) {
		const struct task_count *t = &a->tasks[i];
		for (int o = 0; o < OUT_N && !rc; o++) {
			if (t->error_class && t->n[o])
				rc = emit(r, b, "agent_task_errors_total", (double)t->n[o], l, n,
					  "error_class", t->error_class, "task_type", t->task_type);
			else if (!t->error_class)
				rc = emit(r, b, "agent_tasks_total", (double)t->n[o], l, n, "outcome",
					  outcome_names[o], "task_type", t->task_type);
		}
	}
	if (!rc && a->dur_n) {
		rc = emit(r, b, "agent_task_duration_seconds_sum", a->dur_sum_ms / 1000, l, n, NULL,
			  NULL, NULL, NULL);
		if (!rc)
			rc = emit(r, b, "agent_task_duration_seconds_count", (double)a->dur_n, l, n,
				  NULL, NULL, NULL, NULL);
	}
	if (!rc)
		rc = emit(r, b, "agent_tokens_total", (double)a->tokens_in, l, n, "direction", "in",
			  NULL, NULL);
	if (!rc)
		rc = emit(r, b, "agent_tokens_total", (double)a->tokens_out, l, n, "direction", "out",
			  NULL, NULL);
	for (size_t i = 0; i < a->n_peers && !rc; i++) {
		const struct peer *p = &a->peers[i];
		double lat = 0;
		uint64_t cnt = 0;
		for (uint32_t k = 0; k < r->conf.win_slots; k++) {
			lat += p->lat_sum_ms[k];
			cnt += p->lat_n[k];
		}
		if (cnt)
			rc = emit(r, b, "agent_coordination_latency_seconds", lat / (double)cnt / 1000,
				  l, n, "peer", p->name, NULL, NULL);
		if (!rc)
			rc = emit(r, b, "agent_sync_wait_seconds_total", p->sync_total_ms / 1000, l, n,
				  "peer", p->name, NULL, NULL);
		if (!rc)
			rc = emit(r, b, "agent_messages_total", (double)p->messages, l, n, "peer",
				  p->name, NULL, NULL);
		if (!rc)
			rc = emit(r, b, "agent_communication_bytes_total", (double)p->bytes, l, n,
				  "peer", p->name, NULL, NULL);
	}
	return rc;
}

static struct type_agg *type_of(struct registry *r, const char *type)
{
	for (size_t i = 0; i < r->n_types; i++)
		if (strcmp(r->types[i].type, type) == 0)
			return &r->types[i];
	if (BM_VEC_RESERVE(r->types, r->cap_types, r->n_types + 1))
		return NULL;
	struct type_agg *t = &r->types[r->n_types++];
	if (r->n_types > r->used_types) { /* never used: no sketch memory yet */
		memset(t, 0, sizeof(*t));
		r->used_types = r->n_types;
	}
	struct sketch keep = t->dur; /* a used slot keeps its sketch's memory */
	memset(t, 0, sizeof(*t));
	sk_reset(&keep);
	t->dur = keep;
	t->type = type;
	return t;
}

/* Tasks/s: the window's tasks over the window, or over the agent's life
 * when it is younger, at least one interval. */
static double throughput(const struct registry *r, const struct agent *a, uint64_t tasks,
			 int64_t now_ms)
{
	double span = (double)r->conf.win_slots * (double)r->conf.interval_ms;
	double age = (double)(now_ms - a->first_seen_ms);
	span = age < span ? age : span;
	span = span < (double)r->conf.interval_ms ? (double)r->conf.interval_ms : span;
	return (double)tasks / (span / 1000);
}

static int collect_agent(struct registry *r, struct bm_batch *b, struct agent *a, int64_t now_ms)
{
	struct type_agg *t = a->type[0] ? type_of(r, a->type) : NULL;
	uint64_t up, known;
	availability(r, a, &up, &known);
	if (t) {
		t->up += up;
		t->known += known;
	}
	if (a->state == BM_AGENT_DISCONNECTED)
		return 0;
	struct window w;
	sum_window(r, a, &w);
	double tput = throughput(r, a, w.tasks, now_ms);
	int rc = emit(r, b, "agent_up", a->state == BM_AGENT_CONNECTED, a->ident, a->n_ident, NULL,
		      NULL, NULL, NULL);
	if (!rc)
		rc = emit_window(r, b, &w, &r->merged, tput, up, known, a->ident, a->n_ident);
	if (!rc)
		rc = emit_counters(r, b, a);
	if (t) {
		t->active++;
		t->throughput += tput;
		for (int o = 0; o < OUT_N; o++)
			t->n[o] += w.n[o];
		t->dur_sum_ms += w.dur_sum_ms;
		t->dur_n += w.dur_n;
		t->coord_lat_sum_ms += w.coord_lat_sum_ms;
		t->coord_lat_n += w.coord_lat_n;
		t->sync_sum_ms += w.sync_sum_ms;
		t->coord_n += w.coord_n;
		sk_merge(&t->dur, &r->merged);
	}
	return rc;
}

static int collect_types(struct registry *r, struct bm_batch *b)
{
	int rc = 0;
	for (size_t i = 0; i < r->n_types && !rc; i++) {
		const struct type_agg *t = &r->types[i];
		struct bm_label l = {"agent_type", t->type};
		if (!t->active) {
			if (t->known)
				rc = emit(r, b, "agent_availability_ratio", (double)t->up / (double)t->known,
					  &l, 1, NULL, NULL, NULL, NULL);
			continue;
		}
		struct window w = {.dur_sum_ms = t->dur_sum_ms, .dur_n = t->dur_n,
				   .coord_lat_sum_ms = t->coord_lat_sum_ms, .coord_lat_n = t->coord_lat_n,
				   .sync_sum_ms = t->sync_sum_ms, .coord_n = t->coord_n};
		for (int o = 0; o < OUT_N; o++) {
			w.n[o] = t->n[o];
			w.tasks += t->n[o];
		}
		rc = emit_window(r, b, &w, &t->dur, t->throughput, t->up, t->known, &l, 1);
		if (!rc && w.coord_lat_n)
			rc = emit(r, b, "agent_coordination_latency_seconds",
				  w.coord_lat_sum_ms / (double)w.coord_lat_n / 1000, &l, 1, NULL, NULL,
				  NULL, NULL);
	}
	return rc;
}

/* Record this tick's availability, then open the next window slot. */
static void advance(struct registry *r)
{
	uint32_t next = (r->cur + 1) % r->conf.win_slots;
	for (size_t i = 0; i < r->n; i++) {
		struct agent *a = r->v[i];
		struct win_slot *s = &a->win[next];
		struct sketch keep = s->dur;
		sk_reset(&keep);
		memset(s, 0, sizeof(*s));
		s->dur = keep;
		for (size_t k = 0; k < a->n_peers; k++) {
			a->peers[k].lat_sum_ms[next] = 0;
			a->peers[k].lat_n[next] = 0;
		}
	}
	r->cur = next;
	r->avail_cur = (r->avail_cur + 1) % r->conf.avail_slots;
}

int reg_collect(struct registry *r, struct bm_batch *b, int64_t now_ms)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(families) / sizeof(*families) && !rc; i++)
		rc = bm_batch_family(b, families[i].name, families[i].type, families[i].unit,
				     families[i].help);
	pthread_mutex_lock(&r->lock);
	r->n_types = 0;
	for (size_t i = 0; i < r->n; i++) {
		struct agent *a = r->v[i];
		a->avail[r->avail_cur] = a->state == BM_AGENT_CONNECTED ? 1 : 2;
	}
	for (size_t i = 0; i < r->n && !rc; i++)
		rc = collect_agent(r, b, r->v[i], now_ms);
	if (!rc)
		rc = collect_types(r, b);
	advance(r);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---------------------------------------------------------------------
 * Lifecycle and events
 * --------------------------------------------------------------------- */

int reg_init(struct registry *r, const struct reg_conf *c)
{
	memset(r, 0, sizeof(*r));
	r->conf = *c;
	if (r->conf.win_slots < 1)
		r->conf.win_slots = 1;
	if (r->conf.avail_slots < 1)
		r->conf.avail_slots = 1;
	if (pthread_mutex_init(&r->lock, NULL))
		return BM_ENOMEM;
	return reindex(r);
}

void reg_free(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		free_agent(r->v[i], r->conf.win_slots);
	free(r->v);
	free(r->slots);
	for (size_t i = 0; i < r->used_types; i++)
		sk_free(&r->types[i].dur);
	free(r->types);
	free(r->lbuf);
	free(r->stale);
	sk_free(&r->merged);
	pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

void reg_event(const struct agent *a, enum bm_agent_event_kind kind, int64_t now_ms,
	       struct bm_agent_event *e)
{
	*e = (struct bm_agent_event){
		.ts_ms = now_ms,
		.kind = kind,
		.agent_id = a->id,
		.type = a->type && a->type[0] ? a->type : NULL,
		.pid = a->pid,
		.version = a->version && a->version[0] ? a->version : NULL,
		.protocol = a->protocol,
		.state = a->state,
		.first_seen_ms = a->first_seen_ms,
		.last_seen_ms = a->last_seen_ms,
		.peer = a->peer_addr,
		.capabilities = (const char *const *)a->caps,
		.n_capabilities = a->n_caps,
		.labels = a->hello_labels,
		.n_labels = a->n_hello_labels,
	};
}
