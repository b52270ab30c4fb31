/* Batch issuance: `jobs` pipelines of four threads each.
 *
 *   prepare  — next CSR, decode, verify its signature, apply the profile,
 *              draw the serial, build and lint the TBS (every item: the
 *              checks of `hsmca sign`)                          (host CPU)
 *   sign     — C_Sign on this pipeline's own token session     (the token)
 *   finish   — verify the signature with the issuer's key, assemble, and
 *              keep what the record and the audit event need   (host CPU)
 *   commit   — every 96 certificates (and at the end): the audit events in
 *              one write, the records in one write, both fsynced, then the
 *              certificates handed out                          (the disk)
 *
 * The token is the scarce resource: host work for the next certificate
 * overlaps the token's signature of the current one, and the disk's
 * flushes overlap both.  Items are recycled from a small fixed pool and
 * finished certificates wait for their commit as compact results in two
 * alternating groups, so memory stays flat however many certificates pass. */
#include "issue/issue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "issue/issue_internal.h"

/* In flight per pipeline: enough to cover the token's latency and bursts of
 * the scheduler; each item holds a parsed CSR and its plan (~10 KB). */
#define ITEMS 32
#define COMMIT_EVERY 96
#define GROUPS 4

/* parsed ends and plan begins with its SAN slots: ~8 KB of an item's ~11 KB
 * that is touched only when a certificate has many SANs. */
struct item {
	size_t idx;
	const uint8_t *csr;
	size_t csr_len;
	uint8_t *pem;
	size_t pem_cap;
	struct hsmca_csr parsed;
	struct hsmca_plan plan;
	uint8_t serial[20];
	struct hsmca_der scratch, tbs, cert;
	uint8_t sig[HSMCA_SIG_MAX];
	size_t siglen;
	bool failed, end;
	hsmca_error err;
};

struct queue {
	struct item *slot[ITEMS + 1];
	size_t head, count;
	pthread_mutex_t m;
	pthread_cond_t cv;
};

/* A signed, verified certificate waiting for its commit. */
struct result {
	size_t idx;
	struct hsmca_record rec; /* issued_at is set at the commit */
	char note[256];
	uint8_t *der; /* keep_der only; capacity kept for reuse */
	size_t der_len, der_cap;
};

struct group {
	struct result r[COMMIT_EVERY];
	size_t n;
};

struct engine;

struct pipeline {
	struct engine *e;
	hsmca_token *session;
	hsmca_key *key;
	struct queue free, q1, q2;
	struct item items[ITEMS];
	/* A ring of groups: finish fills groups[fill]; the n_ready before it,
	 * from ready, wait for (or are in) a commit.  A slow disk makes the commit
	 * thread take several at once rather than stall the pipeline. */
	struct group groups[GROUPS];
	unsigned fill, ready, n_ready;
	bool last; /* the last group has been handed over */
	pthread_mutex_t cm;
	pthread_cond_t cv;
	pthread_t th[4];
	int started;
	double cpu[4]; /* thread CPU seconds: prepare, sign, finish, commit */
};

struct engine {
	const struct hsmca_issuer *iss;
	const struct hsmca_batch_opts *opts;
	const struct hsmca_batch_ops *ops;
	struct hsmca_plan_input in;
	pthread_mutex_t lock; /* next(), done(), serial pool, commits, stats */
	bool source_done;
	atomic_bool aborted;
	hsmca_error fatal;
	uint8_t pool[4000];
	size_t pool_left;
	size_t issued, failed;
	double commit_s; /* wall time spent making records and audit lines durable */
};

static void q_init(struct queue *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->m, NULL);
	pthread_cond_init(&q->cv, NULL);
}

static void q_destroy(struct queue *q)
{
	pthread_mutex_destroy(&q->m);
	pthread_cond_destroy(&q->cv);
}

/* Capacity ITEMS+1 never fills: there are only ITEMS items (+1 end marker reuse). */
static void q_push(struct queue *q, struct item *it)
{
	pthread_mutex_lock(&q->m);
	q->slot[(q->head + q->count) % (ITEMS + 1)] = it;
	q->count++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->m);
}

/* Queue n items under one lock with one wake-up: the sign thread hands on
 * its work this way, so the finish thread is woken once per handful of
 * certificates, not once per certificate, and the futex calls stay off the
 * token's thread. */
static void q_push_many(struct queue *q, struct item *const *its, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	pthread_mutex_lock(&q->m);
	for (i = 0; i < n; i++)
		q->slot[(q->head + q->count + i) % (ITEMS + 1)] = its[i];
	q->count += n;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->m);
}

/* Take every queued item (at least one), so a thread wakes once per burst
 * rather than once per certificate. */
static size_t q_pop_all(struct queue *q, struct item **out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&q->m);
	while (q->count == 0)
		pthread_cond_wait(&q->cv, &q->m);
	while (q->count > 0 && n < max) {
		out[n++] = q->slot[q->head];
		q->head = (q->head + 1) % (ITEMS + 1);
		q->count--;
	}
	pthread_mutex_unlock(&q->m);
	return n;
}

static struct item *q_pop(struct queue *q)
{
	struct item *it;

	pthread_mutex_lock(&q->m);
	while (q->count == 0)
		pthread_cond_wait(&q->cv, &q->m);
	it = q->slot[q->head];
	q->head = (q->head + 1) % (ITEMS + 1);
	q->count--;
	pthread_mutex_unlock(&q->m);
	return it;
}

static double wall(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail_fatal(struct engine *e, const hsmca_error *err)
{
	pthread_mutex_lock(&e->lock);
	if (!atomic_load(&e->aborted)) {
		e->fatal = *err;
		atomic_store(&e->aborted, true);
	}
	pthread_mutex_unlock(&e->lock);
}

/* A unique serial: 20 bytes from the token's RNG, drawn in bulk; a token
 * whose RNG keeps repeating serials stops the batch instead of spinning. */
static int draw_serial(struct engine *e, uint8_t serial[20], hsmca_error *err)
{
	int rc, tries;

	for (tries = 0; tries < HSMCA_SERIAL_TRIES; tries++) {
		pthread_mutex_lock(&e->lock);
		if (e->pool_left < 20) {
			if (hsmca_token_random(e->iss->session->token, e->pool, sizeof(e->pool), err) != 0) {
				pthread_mutex_unlock(&e->lock);
				return -1;
			}
			e->pool_left = sizeof(e->pool);
		}
		memcpy(serial, e->pool + sizeof(e->pool) - e->pool_left, 20);
		hsmca_wipe(e->pool + sizeof(e->pool) - e->pool_left, 20);
		e->pool_left -= 20;
		pthread_mutex_unlock(&e->lock);
		serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
		rc = hsmca_records_reserve_serial(e->iss->records, serial, 20, err);
		if (rc <= 0)
			return rc;
	}
	hsmca_error_set(err, "the token's random generator returned %d serials already in use; "
			     "refusing to issue (is the token's RNG broken?)", HSMCA_SERIAL_TRIES);
	fail_fatal(e, err);
	return -1;
}

static int prepare(struct engine *e, struct item *it)
{
	hsmca_error *err = &it->err;

	if (it->csr_len > HSMCA_CSR_MAX)
		return hsmca_error_set(err, "the CSR is larger than %d bytes", HSMCA_CSR_MAX);
	if (it->pem_cap < it->csr_len + 1) {
		uint8_t *n = realloc(it->pem, it->csr_len + 1);

		if (!n)
			return hsmca_error_set(err, "out of memory");
		it->pem = n;
		it->pem_cap = it->csr_len + 1;
	}
	/* The same decoder, checks and lint as `hsmca sign`, for every item:
	 * what one certificate of a batch proves says nothing of the next. */
	if (hsmca_csr_load(it->csr, it->csr_len, it->pem, hsmca_issue_min_rsa(&e->iss->profile),
			   &it->parsed, err) != 0 ||
	    hsmca_issue_plan(e->iss, &it->parsed, &e->in, &it->plan, err) != 0)
		return -1;
	if (draw_serial(e, it->serial, err) != 0)
		return -1;
	if (hsmca_issue_tbs(e->iss, &it->parsed, &it->plan, it->serial, 20, &it->scratch, &it->tbs,
			    err) != 0 ||
	    hsmca_issue_lint_fast(e->iss, &it->plan, it->serial, 20, err) != 0 ||
	    hsmca_issue_lint_full(e->iss, &it->plan, &it->tbs, true, err) != 0)
		return -1;
	return 0;
}

static void *prepare_thread(void *arg)
{
	struct pipeline *p = arg;
	struct engine *e = p->e;

	for (;;) {
		struct item *it = q_pop(&p->free);
		int rc = 0;

		it->failed = false;
		it->end = false;
		hsmca_error_clear(&it->err);
		pthread_mutex_lock(&e->lock);
		if (e->source_done || atomic_load(&e->aborted)) {
			rc = 0;
		} else {
			rc = e->ops->next(e->ops->arg, &it->idx, &it->csr, &it->csr_len, &it->err);
			if (rc <= 0)
				e->source_done = true;
		}
		pthread_mutex_unlock(&e->lock);
		if (rc < 0)
			fail_fatal(e, &it->err);
		if (rc <= 0) {
			it->end = true;
			p->cpu[0] = thread_cpu();
			q_push(&p->q1, it);
			return NULL;
		}
		if (prepare(e, it) != 0)
			it->failed = true;
		q_push(&p->q1, it);
	}
}

/* Signed items are handed on in handfuls of HANDOFF, and whatever is held
 * whenever the input runs dry, so nothing waits for a handful to fill. */
#define HANDOFF 8

static void *sign_thread(void *arg)
{
	struct pipeline *p = arg;
	struct item *burst[ITEMS], *out[HANDOFF];
	size_t n = 0, b = 0, n_out = 0;

	for (;;) {
		struct item *it;

		if (b == n) {
			q_push_many(&p->q2, out, n_out);
			n_out = 0;
			n = q_pop_all(&p->q1, burst, ITEMS);
			b = 0;
		}
		it = burst[b++];
		if (!it->end && !it->failed) {
			it->siglen = 0;
			if (hsmca_key_sign(p->key, p->e->iss->ca->sigalg, it->tbs.buf, it->tbs.len, it->sig,
					   &it->siglen, &it->err) != 0) {
				/* A signature the token refuses is the token's failure, not
				 * this CSR's: stop the batch instead of trying every item. */
				it->failed = true;
				fail_fatal(p->e, &it->err);
			}
		}
		if (it->end) {
			p->cpu[1] = thread_cpu();
			out[n_out++] = it;
			q_push_many(&p->q2, out, n_out);
			return NULL;
		}
		/* Not a field of it once handed on: finish recycles items at once,
		 * and prepare may already be refilling this one. */
		out[n_out++] = it;
		if (n_out == HANDOFF) {
			q_push_many(&p->q2, out, n_out);
			n_out = 0;
		}
	}
}

/* The audit events and the records of n groups from `first` (one write of
 * each per group), made durable together, then the certificates handed out.
 * Runs on the commit thread. */
static void commit(struct pipeline *p, unsigned first, unsigned n)
{
	struct engine *e = p->e;
	const struct hsmca_issuer *iss = e->iss;
	const char *detail[COMMIT_EVERY][11];
	char serial_hex[COMMIT_EVERY][41];
	struct hsmca_audit_event ev[COMMIT_EVERY];
	hsmca_error err = { "", 0 };
	time_t now = hsmca_now();
	bool durable = true;
	double t0, spent;
	unsigned k;
	size_t i;

	for (k = 0; durable && k < n; k++) {
		struct group *g = &p->groups[(first + k) % GROUPS];

		for (i = 0; i < g->n; i++) {
			const char **d = detail[i];
			struct result *r = &g->r[i];

			d[0] = "ca", d[1] = iss->ca->name, d[2] = "kind", d[3] = "certificate";
			hsmca_hex(r->rec.serial, r->rec.serial_len, serial_hex[i]);
			d[4] = "profile", d[5] = iss->profile.name, d[6] = "serial";
			d[7] = serial_hex[i], d[8] = "subject", d[9] = r->rec.subject, d[10] = NULL;
			ev[i] = (struct hsmca_audit_event){ "sign", iss->key_uri, "ok", d };
		}
		/* The signatures happened: audit them first, then record the certificates. */
		if (hsmca_audit_append_batch(iss->audit, ev, g->n, &err) != 0)
			durable = false;
		for (i = 0; durable && i < g->n; i++) {
			g->r[i].rec.issued_at = now;
			if (hsmca_records_append(iss->records, &g->r[i].rec, &err) != 0)
				durable = false;
		}
	}
	/* fsync outside the engine lock: the other threads keep working. */
	t0 = wall();
	durable = durable && hsmca_records_sync(iss->records, &err) == 0 &&
		  hsmca_audit_flush(iss->audit, &err) == 0;
	spent = wall() - t0;
	pthread_mutex_lock(&e->lock);
	e->commit_s += spent;
	if (!durable && !atomic_load(&e->aborted)) {
		e->fatal = err;
		atomic_store(&e->aborted, true);
	}
	for (k = 0; k < n; k++) {
		struct group *g = &p->groups[(first + k) % GROUPS];

		for (i = 0; i < g->n; i++) {
			struct result *r = &g->r[i];
			struct hsmca_issued cert;

			memset(&cert, 0, sizeof(cert));
			if (durable) {
				cert.der = e->opts->keep_der ? r->der : NULL;
				cert.der_len = e->opts->keep_der ? r->der_len : 0;
				memcpy(cert.serial, r->rec.serial, 20);
				cert.serial_len = 20;
				cert.not_before = r->rec.not_before;
				cert.not_after = r->rec.not_after;
				snprintf(cert.subject, sizeof(cert.subject), "%s", r->rec.subject);
				snprintf(cert.note, sizeof(cert.note), "%s", r->note);
				e->issued++;
			} else {
				e->failed++;
			}
			if (e->ops->done)
				e->ops->done(e->ops->arg, r->idx, durable ? &cert : NULL,
					     durable ? NULL : &err);
		}
		g->n = 0;
	}
	pthread_mutex_unlock(&e->lock);
}

static void *commit_thread(void *arg)
{
	struct pipeline *p = arg;

	for (;;) {
		unsigned first, n;

		pthread_mutex_lock(&p->cm);
		while (p->n_ready == 0)
			pthread_cond_wait(&p->cv, &p->cm);
		first = p->ready;
		n = p->n_ready;
		pthread_mutex_unlock(&p->cm);
		commit(p, first, n);
		pthread_mutex_lock(&p->cm);
		p->ready = (p->ready + n) % GROUPS;
		p->n_ready -= n;
		pthread_cond_broadcast(&p->cv);
		if (p->last && p->n_ready == 0) {
			pthread_mutex_unlock(&p->cm);
			p->cpu[3] = thread_cpu();
			return NULL;
		}
		pthread_mutex_unlock(&p->cm);
	}
}

/* Give the group being filled to the commit thread and move on to the next,
 * waiting only while every group is still waiting for a commit. */
static void hand_over(struct pipeline *p, bool last)
{
	pthread_mutex_lock(&p->cm);
	p->n_ready++;
	p->last = last;
	pthread_cond_broadcast(&p->cv);
	while (!last && p->n_ready == GROUPS)
		pthread_cond_wait(&p->cv, &p->cm);
	p->fill = (p->ready + p->n_ready) % GROUPS;
	pthread_mutex_unlock(&p->cm);
}

/* A certificate that will not be issued: reported at once, nothing to commit. */
static void refuse(struct engine *e, struct item *it)
{
	pthread_mutex_lock(&e->lock);
	e->failed++;
	if (e->ops->done)
		e->ops->done(e->ops->arg, it->idx, NULL, &it->err);
	pthread_mutex_unlock(&e->lock);
}

/* Verify the token's signature, assemble, and keep the result. */
static int finish(struct pipeline *p, struct hsmca_fastverify *fv, struct item *it)
{
	struct engine *e = p->e;
	const struct hsmca_issuer *iss = e->iss;
	struct group *g = &p->groups[p->fill];
	struct result *r = &g->r[g->n];

	hsmca_der_reset(&it->cert);
	if (hsmca_fastverify(fv, it->tbs.buf, it->tbs.len, it->sig, it->siglen, &it->err) != 0)
		return hsmca_error_prefix(&it->err, "the token's signature failed verification; "
						    "certificate discarded");
	if (hsmca_signed_build(iss->ca->sigalg, it->tbs.buf, it->tbs.len, it->sig, it->siglen,
			       &it->cert, &it->err) != 0)
		return -1;
	if (!hsmca_signed_holds_tbs(it->cert.buf, it->cert.len, it->tbs.buf, it->tbs.len))
		return hsmca_error_set(&it->err, "internal: the signed certificate does not hold "
						 "the linted TBS");
	if (e->opts->keep_der) {
		if (r->der_cap < it->cert.len) {
			uint8_t *n = realloc(r->der, it->cert.len);

			if (!n)
				return hsmca_error_set(&it->err, "out of memory");
			r->der = n;
			r->der_cap = it->cert.len;
		}
		memcpy(r->der, it->cert.buf, it->cert.len);
		r->der_len = it->cert.len;
	}
	hsmca_issue_record_fill(iss, &it->parsed, &it->plan, it->serial, 20, it->cert.buf,
				it->cert.len, &r->rec);
	snprintf(r->note, sizeof(r->note), "%s", it->plan.note);
	r->idx = it->idx;
	g->n++;
	return 0;
}

static void *finish_thread(void *arg)
{
	struct pipeline *p = arg;
	struct engine *e = p->e;
	struct item *burst[ITEMS];
	size_t n = 0, b = 0;
	struct hsmca_fastverify fv;

	hsmca_fastverify_init(&fv, hsmca_key_pkey(p->key), e->iss->ca->sigalg);
	for (;;) {
		struct item *it;

		if (b == n) {
			n = q_pop_all(&p->q2, burst, ITEMS);
			b = 0;
		}
		it = burst[b++];
		if (it->end) {
			hand_over(p, true);
			p->cpu[2] = thread_cpu();
			hsmca_fastverify_free(&fv);
			q_push(&p->free, it);
			return NULL;
		}
		if (it->failed || finish(p, &fv, it) != 0)
			refuse(e, it);
		/* The result holds all the commit needs: the item can be reused. */
		q_push(&p->free, it);
		if (p->groups[p->fill].n == COMMIT_EVERY)
			hand_over(p, false);
	}
}

static void pipeline_free(struct pipeline *p)
{
	size_t i;

	for (i = 0; i < ITEMS; i++) {
		free(p->items[i].pem);
		hsmca_der_free(&p->items[i].scratch);
		hsmca_der_free(&p->items[i].tbs);
		hsmca_der_free(&p->items[i].cert);
	}
	for (i = 0; i < GROUPS * COMMIT_EVERY; i++)
		free(p->groups[i / COMMIT_EVERY].r[i % COMMIT_EVERY].der);
	pthread_mutex_destroy(&p->cm);
	pthread_cond_destroy(&p->cv);
	q_destroy(&p->free);
	q_destroy(&p->q1);
	q_destroy(&p->q2);
	hsmca_key_free(p->key);
	hsmca_token_close(p->session);
}

static int pipeline_init(struct pipeline *p, struct engine *e, hsmca_error *err)
{
	size_t i;

	/* No memset: *p comes zeroed from calloc, and writing all of it would make
	 * the result groups resident before they are used. */
	p->e = e;
	q_init(&p->free);
	q_init(&p->q1);
	q_init(&p->q2);
	pthread_mutex_init(&p->cm, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (i = 0; i < ITEMS; i++) {
		hsmca_der_init(&p->items[i].scratch);
		hsmca_der_init(&p->items[i].tbs);
		hsmca_der_init(&p->items[i].cert);
		q_push(&p->free, &p->items[i]);
	}
	if (hsmca_token_dup(e->iss->session->token, &p->session, err) != 0 ||
	    hsmca_key_rebind(e->iss->key, p->session, &p->key, err) != 0)
		return -1;
	return 0;
}

int hsmca_issue_run(const struct hsmca_issuer *iss, const struct hsmca_batch_opts *opts,
		    const struct hsmca_batch_ops *ops, struct hsmca_batch_stats *stats,
		    hsmca_error *err)
{
	struct engine e;
	struct pipeline *pipes;
	struct timespec t0, t1;
	unsigned jobs = opts->jobs ? opts->jobs : 1, i, k;
	int ret = -1;

	if (jobs > 64)
		return hsmca_error_set(err, "--jobs %u is more than 64", jobs);
	memset(&e, 0, sizeof(e));
	if (stats)
		memset(stats, 0, sizeof(*stats));
	e.iss = iss;
	e.opts = opts;
	e.ops = ops;
	e.in.validity = opts->validity;
	e.in.now = hsmca_now();
	atomic_init(&e.aborted, false);
	pthread_mutex_init(&e.lock, NULL);
	pipes = calloc(jobs, sizeof(*pipes));
	if (!pipes) {
		pthread_mutex_destroy(&e.lock);
		return hsmca_error_set(err, "out of memory");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < jobs; i++) {
		if (pipeline_init(&pipes[i], &e, err) != 0) {
			atomic_store(&e.aborted, true);
			jobs = i + 1;
			goto join;
		}
		if (pthread_create(&pipes[i].th[0], NULL, prepare_thread, &pipes[i]) != 0)
			goto join;
		pipes[i].started = 1;
		pthread_create(&pipes[i].th[1], NULL, sign_thread, &pipes[i]);
		pipes[i].started = 2;
		pthread_create(&pipes[i].th[2], NULL, finish_thread, &pipes[i]);
		pipes[i].started = 3;
		pthread_create(&pipes[i].th[3], NULL, commit_thread, &pipes[i]);
		pipes[i].started = 4;
		/* Named for top/perf: one line per stage. */
		pthread_setname_np(pipes[i].th[0], "hsmca-prepare");
		pthread_setname_np(pipes[i].th[1], "hsmca-sign");
		pthread_setname_np(pipes[i].th[2], "hsmca-finish");
		pthread_setname_np(pipes[i].th[3], "hsmca-commit");
	}
join:
	for (i = 0; i < jobs; i++)
		for (k = 0; k < (unsigned)pipes[i].started; k++)
			pthread_join(pipes[i].th[k], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < jobs && stats; i++) {
		for (k = 0; k < 3; k++)
			stats->cpu[k] += pipes[i].cpu[k];
		stats->cpu[2] += pipes[i].cpu[3]; /* finish includes its commits */
	}
	for (i = 0; i < jobs; i++)
		pipeline_free(&pipes[i]);
	free(pipes);
	if (stats) {
		stats->issued = e.issued;
		stats->commit_seconds = e.commit_s;
		stats->failed = e.failed;
		stats->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	hsmca_wipe(e.pool, sizeof(e.pool));
	if (atomic_load(&e.aborted)) {
		if (e.fatal.msg[0])
			*err = e.fatal;
		else if (!err->msg[0])
			hsmca_error_set(err, "batch aborted");
		goto out;
	}
	ret = 0;
out:
	pthread_mutex_destroy(&e.lock);
	return ret;
}

int hsmca_issue_batch(struct hsmca_session *s, const struct hsmca_batch_opts *opts,
		      const struct hsmca_batch_ops *ops, struct hsmca_batch_stats *stats,
		      hsmca_error *err)
{
	struct hsmca_issuer iss;
	struct hsmca_ca *ca = NULL;
	int ret;

	if (hsmca_issuer_open(s, opts->ca, opts->profile, &iss, &ca, err) != 0)
		return -1;
	ret = hsmca_issue_run(&iss, opts, ops, stats, err);
	hsmca_issuer_close(&iss);
	hsmca_ca_free(ca);
	return ret;
}
