/* Journal/event plumbing and the node worker pool of a running rotation. */
#include "rotate/rot_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t done_count(const struct hsmca_rot *r, int step)
{
	size_t i, n = 0;

	for (i = 0; i < r->plan.n_nodes; i++)
		n += r->st.node_done[step][i];
	return n;
}

/* Send a progress event; r->mu is held. */
static void emit_locked(struct hsmca_rot *r, enum hsmca_rot_ev_kind kind, int step, int node,
			const char *text)
{
	struct hsmca_rot_event e;

	if (!r->ev || !r->ev->fn)
		return;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.step = step;
	e.node = node;
	e.text = text;
	if (node >= 0 && (size_t)node < r->plan.n_nodes) {
		e.addr = r->plan.nodes[node].addr;
		e.role = hsmca_rot_role_name(r->plan.nodes[node].role);
	}
	e.total = r->plan.n_nodes;
	if (step >= 0 && step <= HSMCA_ROT_NSTEPS)
		e.done = done_count(r, step);
	r->ev->fn(r->ev->arg, &e);
}

void hsmca_rot_emit(struct hsmca_rot *r, enum hsmca_rot_ev_kind kind, int step, int node,
		    const char *text)
{
	pthread_mutex_lock(&r->mu);
	emit_locked(r, kind, step, node, text);
	pthread_mutex_unlock(&r->mu);
}

int hsmca_rot_log_emit(struct hsmca_rot *r, const char *ev, int step, int node,
		       const char *const *kv, int kind, const char *text, hsmca_error *err)
{
	json_object *o = json_object_new_object();
	size_t i;
	int ret;

	json_object_object_add(o, "ev", json_object_new_string(ev));
	if (step >= 0) {
		json_object_object_add(o, "step", json_object_new_int(step));
		json_object_object_add(o, "step_name", json_object_new_string(hsmca_rot_step_name(step)));
	}
	if (node >= 0 && (size_t)node < r->plan.n_nodes) {
		json_object_object_add(o, "node", json_object_new_int(node));
		json_object_object_add(o, "addr", json_object_new_string(r->plan.nodes[node].addr));
	}
	for (i = 0; kv && kv[i] && kv[i + 1]; i += 2)
		json_object_object_add(o, kv[i], json_object_new_string(kv[i + 1]));
	pthread_mutex_lock(&r->mu);
	json_object_get(o);
	ret = hsmca_rot_journal_append(&r->j, o, strcmp(ev, "node-begin") != 0, err);
	if (ret == 0) {
		hsmca_rot_jstate_apply(&r->st, o);
		if (kind >= 0)
			emit_locked(r, (enum hsmca_rot_ev_kind)kind, step, node, text);
	}
	json_object_put(o);
	pthread_mutex_unlock(&r->mu);
	return ret;
}

int hsmca_rot_log(struct hsmca_rot *r, const char *ev, int step, int node, const char *const *kv,
		  hsmca_error *err)
{
	return hsmca_rot_log_emit(r, ev, step, node, kv, -1, NULL, err);
}

/* ---- pool ---- */

struct pool {
	size_t n, next;
	int (*fn)(void *arg, size_t i);
	void *arg;
	pthread_mutex_t mu;
};

static void *pool_worker(void *p)
{
	struct pool *pl = p;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&pl->mu);
		if (pl->next >= pl->n) {
			pthread_mutex_unlock(&pl->mu);
			break;
		}
		i = pl->next++;
		pthread_mutex_unlock(&pl->mu);
		pl->fn(pl->arg, i);
	}
	return NULL;
}

void hsmca_rot_pool(size_t n, unsigned parallel, int (*fn)(void *arg, size_t i), void *arg)
{
	struct pool pl = { .n = n, .next = 0, .fn = fn, .arg = arg };
	pthread_t th[32];
	size_t want = parallel < n ? parallel : n, started = 0, i;

	if (want > 32)
		want = 32;
	pthread_mutex_init(&pl.mu, NULL);
	/* This thread works too; the others are extra. */
	for (i = 1; i < want; i++)
		if (pthread_create(&th[started], NULL, pool_worker, &pl) == 0)
			started++;
	pool_worker(&pl);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pl.mu);
}

/* ---- for_nodes ---- */

struct for_nodes {
	struct hsmca_rot *r;
	int step;
	hsmca_rot_node_fn fn;
	void *arg;
	size_t *idx;
	bool stop, failed;
	size_t n_failed;
	hsmca_error first;
	pthread_mutex_t mu;
};

static void record_failure(struct for_nodes *f, size_t i, const hsmca_error *e)
{
	pthread_mutex_lock(&f->mu);
	f->n_failed++;
	f->stop = true;
	if (!f->failed) {
		f->failed = true;
		f->first = *e;
		if (!strstr(e->msg, f->r->plan.nodes[i].addr))
			hsmca_error_prefix(&f->first, "node %s", f->r->plan.nodes[i].addr);
	}
	pthread_mutex_unlock(&f->mu);
}

static int node_job(void *p, size_t k)
{
	struct for_nodes *f = p;
	struct hsmca_rot *r = f->r;
	size_t i = f->idx[k];
	hsmca_error e = { "", 0 };
	char done[512] = "";
	bool stop;

	pthread_mutex_lock(&f->mu);
	stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	if (stop)
		return 0;
	if (hsmca_rot_log(r, "node-begin", f->step, (int)i, NULL, &e) != 0) {
		record_failure(f, i, &e);
		return -1;
	}
	hsmca_rot_emit(r, HSMCA_ROT_EV_NODE_BEGIN, f->step, (int)i, NULL);
	if (f->fn(r, i, f->arg, done, sizeof(done), &e) != 0) {
		const char *kv[] = { "error", e.msg, NULL };
		hsmca_error e2;

		hsmca_rot_log(r, "fail", f->step, (int)i, kv, &e2);
		hsmca_rot_emit(r, HSMCA_ROT_EV_NODE_FAIL, f->step, (int)i, e.msg);
		record_failure(f, i, &e);
		return -1;
	}
	hsmca_rot_fault_node(f->step, i);
	{
		const char *kv[] = { "did", done, NULL };

		/* One lock for both: the count printed is the journal's. */
		if (hsmca_rot_log_emit(r, "node-end", f->step, (int)i, kv, HSMCA_ROT_EV_NODE_END,
				       done, &e) != 0) {
			record_failure(f, i, &e);
			return -1;
		}
	}
	return 0;
}

int hsmca_rot_for_nodes(struct hsmca_rot *r, int step, hsmca_rot_node_fn fn, void *arg,
			hsmca_error *err)
{
	struct for_nodes f;
	size_t i, n;
	int role;

	memset(&f, 0, sizeof(f));
	f.r = r;
	f.step = step;
	f.fn = fn;
	f.arg = arg;
	f.idx = calloc(r->plan.n_nodes ? r->plan.n_nodes : 1, sizeof(*f.idx));
	if (!f.idx)
		return hsmca_error_set(err, "out of memory");
	pthread_mutex_init(&f.mu, NULL);
	/* Control planes first: workers start only when every control plane is done. */
	for (role = HSMCA_ROT_CONTROLPLANE; role <= HSMCA_ROT_WORKER && !f.failed; role++) {
		n = 0;
		for (i = 0; i < r->plan.n_nodes; i++)
			if ((int)r->plan.nodes[i].role == role && !r->st.node_done[step][i])
				f.idx[n++] = i;
		hsmca_rot_pool(n, r->plan.parallel, node_job, &f);
	}
	pthread_mutex_destroy(&f.mu);
	free(f.idx);
	if (f.failed) {
		*err = f.first;
		if (f.n_failed > 1)
			hsmca_error_prefix(err, "%zu nodes failed, the first", f.n_failed);
		return -1;
	}
	return 0;
}

unsigned hsmca_rot_settle_seconds(const struct hsmca_rot_target *t)
{
	const char *e = getenv("HSMCA_ROTATE_SETTLE");
	char *end;
	unsigned long v;

	if (!e || !*e)
		return t->settle_seconds;
	v = strtoul(e, &end, 10);
	if (*end != '\0' || v > 3600)
		return t->settle_seconds;
	return (unsigned)v;
}
