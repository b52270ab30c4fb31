/* List-then-watch with bookmarks, resume, re-list on 410, and a deadline.
 *
 * The client keeps the watched set ("<namespace>/<name>" -> object) so the
 * caller's condition is always evaluated over the whole current state, also
 * after a re-list that may have skipped events. */
#include "kube/kubeclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "kube/kube_internal.h"
#include "kube/kubeclient_int.h"

#define WATCH_MAX_SERVER_TIMEOUT_S 300 /* timeoutSeconds asked of the server */
#define WATCH_MAX_FAILURES 5           /* broken streams in a row without progress */

struct wctx {
	hsmca_kube *k;
	CURL *h;
	const char *desc;
	hsmca_kube_watch_fn fn;
	void *arg;
	json_object *cache;
	hsmca_kube_watch_stats *st;
	struct kube_buf line;    /* the event being received */
	struct kube_buf errbody; /* body of a non-200 answer */
	int done;                /* 1: condition met, -1: error in err */
	bool expired;            /* ERROR event with 410 */
	bool progress;           /* any event or bookmark on this stream */
	hsmca_error *err;
};

static void object_key(json_object *obj, char *out, size_t outlen)
{
	const char *ns = hsmca_kube_str(obj, "metadata.namespace");
	const char *name = hsmca_kube_str(obj, "metadata.name");

	snprintf(out, outlen, "%s/%s", ns ? ns : "", name ? name : "");
}

static void remember_rv(hsmca_kube_watch_stats *st, json_object *obj)
{
	const char *rv = hsmca_kube_str(obj, "metadata.resourceVersion");

	if (rv && strlen(rv) < sizeof(st->resource_version))
		snprintf(st->resource_version, sizeof(st->resource_version), "%s", rv);
}

/* Returns 0 to go on reading the stream, 1 to stop it. */
static int handle_event(struct wctx *w, const char *text, size_t len)
{
	json_object *ev = NULL, *obj = NULL;
	const char *type;
	char key[600];
	int ret = 1;

	while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if (kube_parse_json(w->desc, text, len, &ev, w->err) < 0) {
		w->done = -1;
		return 1;
	}
	type = hsmca_kube_str(ev, "type");
	if (!type || !json_object_object_get_ex(ev, "object", &obj) ||
	    !json_object_is_type(obj, json_type_object)) {
		hsmca_error_set(w->err, "%s: malformed watch event", w->desc);
		w->done = -1;
		goto out;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		remember_rv(w->st, obj);
		w->st->bookmarks++;
		w->progress = true;
		ret = 0;
	} else if (strcmp(type, "ERROR") == 0) {
		json_object *code = NULL;
		long status = json_object_object_get_ex(obj, "code", &code)
				      ? (long)json_object_get_int64(code)
				      : 500;

		if (status == 410) {
			w->expired = true;
		} else {
			kube_status_error(w->desc, status, text, len, w->err);
			w->done = -1;
		}
	} else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0 ||
		   strcmp(type, "DELETED") == 0) {
		int rc;

		object_key(obj, key, sizeof(key));
		if (type[0] == 'D')
			json_object_object_del(w->cache, key);
		else
			json_object_object_add(w->cache, key, json_object_get(obj));
		remember_rv(w->st, obj);
		w->st->events++;
		w->progress = true;
		rc = w->fn(w->arg, type, obj, w->cache, w->err);
		if (rc > 0)
			w->done = 1;
		else if (rc < 0)
			w->done = -1;
		else
			ret = 0;
	} else {
		hsmca_error_set(w->err, "%s: unknown watch event type \"%.32s\"", w->desc, type);
		w->done = -1;
	}
out:
	json_object_put(ev);
	return ret;
}

static size_t watch_write(char *p, size_t size, size_t n, void *userdata)
{
	struct wctx *w = userdata;
	size_t len = size * n, i = 0;
	long code = 0;

	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		return kube_buf_append(&w->errbody, p, len) < 0 ? 0 : len;
	while (i < len) {
		char *nl = memchr(p + i, '\n', len - i);
		size_t chunk = nl ? (size_t)(nl - (p + i)) : len - i;
		int stop;

		if (kube_buf_append(&w->line, p + i, chunk) < 0) {
			hsmca_error_set(w->err, "%s: watch event larger than %zu bytes", w->desc,
					w->k->opt.max_response);
			w->done = -1;
			return 0;
		}
		i += chunk;
		if (!nl)
			break;
		i++;
		stop = handle_event(w, w->line.data, w->line.len);
		hsmca_wipe(w->line.data, w->line.len);
		w->line.len = 0;
		if (stop)
			return 0; /* ends the transfer (CURLE_WRITE_ERROR) */
	}
	return len;
}

/* Replace the cache with the items of a fresh LIST. */
static int relist(hsmca_kube *k, const hsmca_kube_ref *coll, const char *lsel, const char *fsel,
		  int64_t deadline, struct wctx *w, hsmca_error *err)
{
	json_object *list = NULL, *items, *cache;
	const char *rv;

	if (kube_list_sel(k, coll, lsel, fsel, deadline, &list, err) < 0)
		return -1;
	cache = json_object_new_object();
	if (!cache) {
		json_object_put(list);
		return hsmca_error_set(err, "%s: out of memory", w->desc);
	}
	json_object_object_get_ex(list, "items", &items);
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *it = json_object_array_get_idx(items, i);
		char key[600];

		object_key(it, key, sizeof(key));
		json_object_object_add(cache, key, json_object_get(it));
	}
	rv = hsmca_kube_str(list, "metadata.resourceVersion");
	if (!rv || !*rv || strlen(rv) >= sizeof(w->st->resource_version)) {
		json_object_put(list);
		json_object_put(cache);
		return hsmca_error_set(err, "%s: the list has no usable resourceVersion", w->desc);
	}
	snprintf(w->st->resource_version, sizeof(w->st->resource_version), "%s", rv);
	json_object_put(list);
	json_object_put(w->cache);
	w->cache = cache;
	w->st->lists++;
	return 0;
}

/* One watch request.  Returns the CURLcode; *status is the HTTP status. */
static CURLcode watch_once(hsmca_kube *k, const char *url, int64_t deadline, struct wctx *w,
			   long *status, long *retry_ms, hsmca_error *err)
{
	struct curl_slist *hdr = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc = CURLE_FAILED_INIT;

	*status = 0;
	w->h = curl_easy_init();
	if (!w->h)
		return CURLE_FAILED_INIT;
	if (kube_setup_handle(k, w->h, errbuf, err) < 0)
		goto out;
	hdr = kube_headers(k, NULL, err);
	if (!hdr)
		goto out;
	curl_easy_setopt(w->h, CURLOPT_URL, url);
	curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, (long)(deadline - kube_now_ms()));
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	w->st->watches++;
	rc = curl_easy_perform(w->h);
	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, status);
	*retry_ms = kube_retry_after_ms(k, w->h);
	if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR && w->done == 0)
		kube_transport_error(w->desc, rc, errbuf, err);
out:
	kube_headers_free(hdr);
	curl_easy_cleanup(w->h);
	w->h = NULL;
	return rc;
}

/* The watch request: from rv, bookmarks on, the server ending the stream
 * a little after our own deadline at the latest. */
static int watch_url(hsmca_kube *k, const char *path, const char *rv, int64_t left_ms,
		     const char *lsel, const char *fsel, char *url, size_t urllen,
		     hsmca_error *err)
{
	char num[32];

	snprintf(url, urllen, "%s%s?watch=1&allowWatchBookmarks=true", k->base_url, path);
	snprintf(num, sizeof(num), "%lld",
		 (long long)(left_ms / 1000 > WATCH_MAX_SERVER_TIMEOUT_S
				     ? WATCH_MAX_SERVER_TIMEOUT_S
				     : left_ms / 1000 + 1));
	if (kube_query_add(url, urllen, "resourceVersion", rv, err) < 0 ||
	    kube_query_add(url, urllen, "timeoutSeconds", num, err) < 0 ||
	    (lsel && *lsel && kube_query_add(url, urllen, "labelSelector", lsel, err) < 0) ||
	    (fsel && *fsel && kube_query_add(url, urllen, "fieldSelector", fsel, err) < 0))
		return -1;
	return 0;
}

static int deadline_error(struct wctx *w, long timeout_ms, hsmca_error *err)
{
	hsmca_error_set(err, "%s: condition not reached within %ld ms (%u lists, %u events, "
			     "%u bookmarks)", w->desc, timeout_ms, w->st->lists, w->st->events,
			w->st->bookmarks);
	if (err)
		err->code = HSMCA_KUBE_ERR_DEADLINE;
	return -1;
}

int hsmca_kube_watch(hsmca_kube *k, const hsmca_kube_ref *ref, const char *label_selector,
		     long timeout_ms, hsmca_kube_watch_fn fn, void *arg,
		     hsmca_kube_watch_stats *stats, hsmca_error *err)
{
	hsmca_kube_watch_stats local_stats;
	hsmca_error local_err = { 0 };
	hsmca_kube_ref coll = *ref;
	int64_t deadline = kube_now_ms() + timeout_ms;
	char desc[KUBE_DESC_MAX], path[KUBE_PATH_MAX], fsel[300] = "";
	struct wctx w = { 0 };
	bool need_list = true, refreshed = false;
	int failures = 0, ret = -1;

	if (!err)
		err = &local_err;
	if (!stats)
		stats = &local_stats;
	memset(stats, 0, sizeof(*stats));
	kube_ref_desc("watch", ref, ref->name, desc, sizeof(desc));
	w.k = k;
	w.desc = desc;
	w.fn = fn;
	w.arg = arg;
	w.st = stats;
	w.err = err;
	w.line.max = k->opt.max_response;
	w.errbody.max = 1u << 20;
	coll.name = NULL;
	if (ref->name) {
		if (kube_ref_path(ref, true, path, sizeof(path), err) < 0)
			return hsmca_error_prefix(err, "%s", desc);
		snprintf(fsel, sizeof(fsel), "metadata.name=%s", ref->name);
	}
	if (kube_ref_path(&coll, false, path, sizeof(path), err) < 0)
		return hsmca_error_prefix(err, "%s", desc);

	for (;;) {
		char url[KUBE_PATH_MAX + 1024];
		int64_t left = deadline - kube_now_ms();
		long status, retry_ms = 1000;
		CURLcode rc;

		if (left <= 0) {
			deadline_error(&w, timeout_ms, err);
			goto out;
		}
		if (need_list) {
			int rc2;

			if (relist(k, &coll, label_selector, fsel, deadline, &w, err) < 0) {
				if (err->code == HSMCA_KUBE_ERR_DEADLINE)
					deadline_error(&w, timeout_ms, err);
				goto out;
			}
			need_list = false;
			rc2 = fn(arg, "LIST", NULL, w.cache, err);
			if (rc2 != 0) {
				ret = rc2 > 0 ? 0 : -1;
				goto out;
			}
			continue; /* re-check the deadline */
		}
		if (watch_url(k, path, stats->resource_version, left, label_selector, fsel, url,
			      sizeof(url), err) < 0)
			goto out;
		w.expired = false;
		w.progress = false;
		kube_buf_free(&w.errbody);
		w.line.len = 0;
		rc = watch_once(k, url, deadline, &w, &status, &retry_ms, err);
		if (w.done != 0) {
			ret = w.done > 0 ? 0 : -1;
			goto out;
		}
		if (w.progress)
			failures = 0;
		if (status == 410 || w.expired) {
			stats->expired++;
			need_list = true;
			continue;
		}
		if (status == 429) {
			kube_sleep_ms(retry_ms, deadline);
			continue;
		}
		if (status == 401 && k->kc->exec && !refreshed) {
			refreshed = true;
			if (kube_refresh(k, err) < 0)
				goto out;
			continue;
		}
		if (status != 0 && status != 200) {
			kube_status_error(desc, status, w.errbody.data, w.errbody.len, err);
			goto out;
		}
		if (rc == CURLE_OPERATION_TIMEDOUT && kube_now_ms() >= deadline) {
			deadline_error(&w, timeout_ms, err);
			goto out;
		}
		if (rc != CURLE_OK) {
			/* A broken stream: resume from the last resourceVersion. */
			if (++failures >= WATCH_MAX_FAILURES)
				goto out; /* err holds the last transport error */
			kube_sleep_ms(100L << failures, deadline);
		}
		stats->reconnects++;
	}
out:
	json_object_put(w.cache);
	kube_buf_free(&w.line);
	kube_buf_free(&w.errbody);
	return ret;
}
