/* The Lease lock (lease.h).  Expiry is judged as client-go's leader election
 * judges it in spirit (tools/leaderelection/leaderelection.go,
 * tryAcquireOrRenew): a Lease with a holder is left alone until
 * leaseDurationSeconds after its last renewal; a one-shot command has no
 * earlier observation to time from, so the renewTime written by the holder is
 * compared with our own clock -- the clock-skew caveat is in docs/rotation.md. */
#include "fleet/lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"

struct hsmca_lease {
	char ns[254], name[254], identity[HSMCA_LEASE_IDENTITY_MAX];
	int duration_s;
	hsmca_kubeconfig *kc;
	hsmca_kube *k;
	json_object *obj;         /* the Lease as last written by us */
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool lost;
	char lost_why[HSMCA_ERROR_MAX / 2];
	long long last_renew_ms;  /* monotonic */
};

static long long now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hsmca_lease_format_time(long long usec, char out[static 32])
{
	time_t s = (time_t)(usec / 1000000);
	struct tm tm;
	char buf[24];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%06lldZ", buf, usec % 1000000);
}

int hsmca_lease_parse_time(const char *s, long long *usec)
{
	struct tm tm;
	const char *p;
	long long frac = 0, scale = 1000000, off = 0;
	time_t t;

	if (!s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if (*p == '+' || *p == '-') {
		int hh, mm;

		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(p) != 6)
			return -1;
		off = (long long)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
	} else if (strcmp(p, "Z") != 0) {
		return -1;
	}
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*usec = ((long long)t - off) * 1000000 + frac;
	return 0;
}

int hsmca_lease_make_identity(char *buf, size_t len, hsmca_error *err)
{
	char host[128];
	unsigned char r[8];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown-host");
	host[sizeof(host) - 1] = '\0';
	if (RAND_bytes(r, sizeof(r)) != 1)
		return hsmca_error_openssl(err, "lease identity: random run id");
	if ((size_t)snprintf(buf, len, "%s/%ld/%02x%02x%02x%02x%02x%02x%02x%02x", host,
			     (long)getpid(), r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) >= len)
		return hsmca_error_set(err, "lease identity: host name too long");
	return 0;
}

static hsmca_kube_ref lease_ref(const hsmca_lease *l)
{
	hsmca_kube_ref ref = { "coordination.k8s.io/v1", "leases", l->ns, l->name };

	return ref;
}

static json_object *spec_of(json_object *obj)
{
	json_object *spec;

	if (!json_object_object_get_ex(obj, "spec", &spec) || !json_object_is_type(spec, json_type_object)) {
		spec = json_object_new_object();
		json_object_object_add(obj, "spec", spec);
	}
	return spec;
}

static long long spec_int(json_object *obj, const char *field)
{
	json_object *spec, *v;

	if (json_object_object_get_ex(obj, "spec", &spec) && json_object_object_get_ex(spec, field, &v))
		return json_object_get_int64(v);
	return 0;
}

/* Set holder, duration and times; acquire: also acquireTime and a transition. */
static void stamp(json_object *obj, const char *holder, int duration_s, bool acquire)
{
	json_object *spec = spec_of(obj);
	char ts[32];

	hsmca_lease_format_time(now_usec(), ts);
	if (acquire) {
		long long tr = spec_int(obj, "leaseTransitions");
		const char *prev = hsmca_kube_str(obj, "spec.holderIdentity");

		if (prev && prev[0] && strcmp(prev, holder) != 0)
			tr++;
		json_object_object_add(spec, "acquireTime", json_object_new_string(ts));
		json_object_object_add(spec, "leaseTransitions", json_object_new_int64(tr));
	}
	json_object_object_add(spec, "holderIdentity", json_object_new_string(holder));
	json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(duration_s));
	json_object_object_add(spec, "renewTime", json_object_new_string(ts));
}

/* "held by X (renewed T, expires T+d, in N s)" for a refusal. */
static void describe_holder(json_object *obj, char *buf, size_t len)
{
	const char *h = hsmca_kube_str(obj, "spec.holderIdentity");
	const char *rt = hsmca_kube_str(obj, "spec.renewTime");
	long long d = spec_int(obj, "leaseDurationSeconds"), r;
	char exp[32];

	if (!h || !h[0]) {
		snprintf(buf, len, "no holder");
		return;
	}
	if (!rt)
		rt = hsmca_kube_str(obj, "spec.acquireTime");
	if (hsmca_lease_parse_time(rt, &r) == 0) {
		long long left = (r + d * 1000000 - now_usec()) / 1000000;

		hsmca_lease_format_time(r + d * 1000000, exp);
		snprintf(buf, len, "held by %s (renewed %s, expires %s, %s %lld s by this machine's clock)",
			 h, rt, exp, left >= 0 ? "in" : "expired", left >= 0 ? left : -left);
	} else {
		snprintf(buf, len, "held by %s (no renewTime)", h);
	}
}

/* True if a holder is set and its lease has not run out by our clock.  A
 * holder without a parsable renewTime is treated as live (client-go, too,
 * waits a full duration before it takes over a record it cannot date). */
static bool held(json_object *obj)
{
	const char *h = hsmca_kube_str(obj, "spec.holderIdentity");
	const char *rt = hsmca_kube_str(obj, "spec.renewTime");
	long long d = spec_int(obj, "leaseDurationSeconds"), r;

	if (!h || !h[0])
		return false;
	if (!rt)
		rt = hsmca_kube_str(obj, "spec.acquireTime");
	if (d <= 0 || hsmca_lease_parse_time(rt, &r) != 0)
		return true;
	return r + d * 1000000 > now_usec();
}

static int refuse(hsmca_lease *l, json_object *obj, const char *how, hsmca_error *err)
{
	char who[512];

	describe_holder(obj, who, sizeof(who));
	hsmca_error_set(err, "Lease %s/%s %s: %s", l->ns, l->name, how, who);
	err->code = EWOULDBLOCK;
	return -1;
}

/* After a 409: read who won, for the message. */
static int refuse_after_conflict(hsmca_lease *l, const char *how, hsmca_error *err)
{
	hsmca_kube_ref ref = lease_ref(l);
	json_object *cur = NULL;
	hsmca_error e2 = { 0 };
	int ret;

	if (hsmca_kube_get(l->k, &ref, &cur, &e2) != 0) {
		hsmca_error_set(err, "Lease %s/%s %s (409 Conflict), and reading it again failed: %s",
				l->ns, l->name, how, e2.msg);
		err->code = EWOULDBLOCK;
		return -1;
	}
	ret = refuse(l, cur, how, err);
	json_object_put(cur);
	return ret;
}

static int try_acquire(hsmca_lease *l, const char *reclaim, hsmca_error *err)
{
	hsmca_kube_ref ref = lease_ref(l);
	json_object *cur = NULL, *out = NULL;
	int ret = -1;

	if (hsmca_kube_get(l->k, &ref, &cur, err) != 0) {
		json_object *obj, *md;

		if (!HSMCA_KUBE_IS_HTTP(err, 404))
			return hsmca_error_prefix(err, "read Lease %s/%s", l->ns, l->name);
		obj = json_object_new_object();
		md = json_object_new_object();
		json_object_object_add(obj, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
		json_object_object_add(obj, "kind", json_object_new_string("Lease"));
		json_object_object_add(md, "name", json_object_new_string(l->name));
		json_object_object_add(md, "namespace", json_object_new_string(l->ns));
		json_object_object_add(obj, "metadata", md);
		stamp(obj, l->identity, l->duration_s, true);
		json_object_object_add(spec_of(obj), "leaseTransitions", json_object_new_int(0));
		ret = hsmca_kube_create(l->k, &ref, obj, &out, err);
		json_object_put(obj);
		if (ret != 0) {
			if (HSMCA_KUBE_IS_HTTP(err, 409))
				return refuse_after_conflict(l, "was created by another run first", err);
			return hsmca_error_prefix(err, "create Lease %s/%s", l->ns, l->name);
		}
		l->obj = out;
		return 0;
	}
	if (held(cur) && !(reclaim && reclaim[0] &&
			   strcmp(reclaim, hsmca_kube_str(cur, "spec.holderIdentity")) == 0)) {
		ret = refuse(l, cur, "is taken", err);
		goto out;
	}
	/* Expired or released: take it over with the resourceVersion just read. */
	stamp(cur, l->identity, l->duration_s, true);
	if (hsmca_kube_replace(l->k, &ref, cur, &out, err) != 0) {
		if (HSMCA_KUBE_IS_HTTP(err, 409))
			ret = refuse_after_conflict(l, "was taken over by another run at the same moment", err);
		else
			hsmca_error_prefix(err, "take over expired Lease %s/%s", l->ns, l->name);
		goto out;
	}
	l->obj = out;
	ret = 0;
out:
	json_object_put(cur);
	return ret;
}

static void mark_lost(hsmca_lease *l, const char *why)
{
	pthread_mutex_lock(&l->mu);
	if (!l->lost) {
		l->lost = true;
		snprintf(l->lost_why, sizeof(l->lost_why), "%s", why);
	}
	pthread_mutex_unlock(&l->mu);
}

static void renew_once(hsmca_lease *l)
{
	hsmca_kube_ref ref = lease_ref(l);
	json_object *obj = NULL, *out = NULL;
	hsmca_error e = { 0 };
	char why[HSMCA_ERROR_MAX / 2];

	if (json_object_deep_copy(l->obj, &obj, NULL) != 0)
		return;
	stamp(obj, l->identity, l->duration_s, false);
	if (hsmca_kube_replace(l->k, &ref, obj, &out, &e) == 0) {
		json_object_put(l->obj);
		l->obj = out;
		pthread_mutex_lock(&l->mu);
		l->last_renew_ms = mono_ms();
		pthread_mutex_unlock(&l->mu);
	} else if (HSMCA_KUBE_IS_HTTP(&e, 409) || HSMCA_KUBE_IS_HTTP(&e, 404)) {
		hsmca_error e2 = { 0 };

		refuse_after_conflict(l, "was written by someone else", &e2);
		snprintf(why, sizeof(why), "%s", HSMCA_KUBE_IS_HTTP(&e, 404) ? "the Lease was deleted" : e2.msg);
		mark_lost(l, why);
	} else if (mono_ms() - l->last_renew_ms >= (long long)l->duration_s * 1000) {
		snprintf(why, sizeof(why), "not renewed within its %d s: %s", l->duration_s, e.msg);
		mark_lost(l, why);
	}
	json_object_put(obj);
}

static void *renew_thread(void *arg)
{
	hsmca_lease *l = arg;
	long long period_ms = (long long)l->duration_s * 1000 / 3;

	pthread_mutex_lock(&l->mu);
	while (!l->stop && !l->lost) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += period_ms / 1000;
		ts.tv_nsec += (period_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT && !l->stop) {
			pthread_mutex_unlock(&l->mu);
			renew_once(l);
			pthread_mutex_lock(&l->mu);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void stop_thread(hsmca_lease *l)
{
	if (!l->running)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	l->running = false;
}

void hsmca_lease_free(hsmca_lease *l)
{
	if (!l)
		return;
	stop_thread(l);
	json_object_put(l->obj);
	hsmca_kube_free(l->k);
	hsmca_kubeconfig_free(l->kc);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int hsmca_lease_acquire(const hsmca_lease_opts *o, hsmca_lease **out, hsmca_error *err)
{
	hsmca_lease *l;
	pthread_condattr_t ca;

	if (!o->kubeconfig || !o->namespace || !o->name)
		return hsmca_error_set(err, "lease: kubeconfig, namespace and name are required");
	l = calloc(1, sizeof(*l));
	if (!l)
		return hsmca_error_set(err, "lease: out of memory");
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->duration_s = o->duration_s > 0 ? o->duration_s : HSMCA_LEASE_DEFAULT_DURATION_S;
	if ((size_t)snprintf(l->ns, sizeof(l->ns), "%s", o->namespace) >= sizeof(l->ns) ||
	    (size_t)snprintf(l->name, sizeof(l->name), "%s", o->name) >= sizeof(l->name)) {
		hsmca_error_set(err, "lease: namespace or name too long");
		goto fail;
	}
	if (o->identity) {
		if ((size_t)snprintf(l->identity, sizeof(l->identity), "%s", o->identity) >=
		    sizeof(l->identity)) {
			hsmca_error_set(err, "lease: identity too long");
			goto fail;
		}
	} else if (hsmca_lease_make_identity(l->identity, sizeof(l->identity), err) != 0) {
		goto fail;
	}
	/* A client of its own: the renewal thread uses it while the caller
	 * uses its own client (and may refresh its own exec credential). */
	if (hsmca_kubeconfig_load(o->kubeconfig, NULL, &l->kc, err) != 0 ||
	    hsmca_kube_open(l->kc, NULL, &l->k, err) != 0 || try_acquire(l, o->reclaim, err) != 0)
		goto fail;
	l->last_renew_ms = mono_ms();
	if (pthread_create(&l->thread, NULL, renew_thread, l) != 0) {
		hsmca_error_set(err, "lease: cannot start the renewal thread");
		hsmca_lease_release(l, NULL);
		return -1;
	}
	l->running = true;
	*out = l;
	return 0;
fail:
	hsmca_lease_free(l);
	return -1;
}

int hsmca_lease_check(hsmca_lease *l, hsmca_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&l->mu);
	if (!l->lost && mono_ms() - l->last_renew_ms >= (long long)l->duration_s * 1000) {
		l->lost = true;
		snprintf(l->lost_why, sizeof(l->lost_why), "not renewed within its %d s", l->duration_s);
	}
	if (l->lost) {
		hsmca_error_set(err, "Lease %s/%s is no longer ours: %s", l->ns, l->name, l->lost_why);
		err->code = ENOLCK;
		ret = -1;
	}
	pthread_mutex_unlock(&l->mu);
	return ret;
}

const char *hsmca_lease_identity(const hsmca_lease *l)
{
	return l->identity;
}

int hsmca_lease_release(hsmca_lease *l, hsmca_error *err)
{
	hsmca_kube_ref ref;
	json_object *obj = NULL, *spec;
	hsmca_error local = { 0 };
	int ret = -1;

	if (!l)
		return 0;
	if (!err)
		err = &local;
	stop_thread(l);
	ref = lease_ref(l);
	if (l->lost) {
		hsmca_error_set(err, "Lease %s/%s was not released: it is no longer ours (%s)", l->ns,
				l->name, l->lost_why);
		err->code = ENOLCK;
		goto out;
	}
	if (json_object_deep_copy(l->obj, &obj, NULL) != 0) {
		hsmca_error_set(err, "lease: out of memory");
		goto out;
	}
	/* client-go's ReleaseOnCancel: holder cleared, duration 1 s. */
	stamp(obj, "", 1, false);
	spec = spec_of(obj);
	json_object_object_add(spec, "holderIdentity", json_object_new_string(""));
	if (hsmca_kube_replace(l->k, &ref, obj, NULL, err) != 0) {
		hsmca_error_prefix(err, "release Lease %s/%s", l->ns, l->name);
		goto out;
	}
	ret = 0;
out:
	json_object_put(obj);
	hsmca_lease_free(l);
	return ret;
}
