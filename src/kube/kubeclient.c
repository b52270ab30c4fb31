/* Kubernetes API requests over libcurl: handles and TLS setup, one request
 * with its retries, and the CRUD calls built on it. */
#include "kube/kubeclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "kube/kube_internal.h"
#include "kube/kubeclient_int.h"

/* ---- buffers ------------------------------------------------------------- */

int kube_buf_append(struct kube_buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->max) {
		b->overflow = true;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *nb;

		while (cap < b->len + n + 1)
			cap *= 2;
		/* No realloc: the old block may hold a Secret and must be wiped. */
		nb = malloc(cap);
		if (!nb)
			return -1;
		if (b->data) {
			memcpy(nb, b->data, b->len);
			hsmca_wipe(b->data, b->cap);
			free(b->data);
		}
		b->data = nb;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

size_t kube_buf_write(char *p, size_t size, size_t n, void *userdata)
{
	struct kube_buf *b = userdata;

	if (kube_buf_append(b, p, size * n) < 0)
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	return size * n;
}

void kube_buf_free(struct kube_buf *b)
{
	kube_free_secret(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- handles ------------------------------------------------------------ */

int kube_setup_handle(hsmca_kube *k, CURL *h, char *errbuf, hsmca_error *err)
{
	hsmca_kubeconfig *kc = k->kc;
	CURLcode rc = CURLE_OK;
	struct curl_blob blob;

#define SET(opt, val)                                    \
	do {                                             \
		if (rc == CURLE_OK)                      \
			rc = curl_easy_setopt(h, opt, val); \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_CONNECTTIMEOUT_MS, k->opt.connect_timeout_ms);
	SET(CURLOPT_USERAGENT, "hsmca/" HSMCA_VERSION);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	if (kc->ca_pem) {
		blob.data = kc->ca_pem;
		blob.len = kc->ca_len;
		blob.flags = CURL_BLOB_COPY;
		SET(CURLOPT_CAINFO_BLOB, &blob);
	}
	if (kc->cert_pem && kc->key_pem) {
		/* NOCOPY: libcurl reads the kubeconfig's buffers, which are wiped
		 * on free, instead of keeping its own unwiped copy of the key. */
		blob.data = kc->cert_pem;
		blob.len = kc->cert_len;
		blob.flags = CURL_BLOB_NOCOPY;
		SET(CURLOPT_SSLCERT_BLOB, &blob);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		blob.data = kc->key_pem;
		blob.len = kc->key_len;
		blob.flags = CURL_BLOB_NOCOPY;
		SET(CURLOPT_SSLKEY_BLOB, &blob);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (k->connect_to)
		SET(CURLOPT_CONNECT_TO, k->connect_to);
#undef SET
	if (rc != CURLE_OK)
		return kube_transport_error("set up the HTTPS client", rc, NULL, err);
	return 0;
}

struct curl_slist *kube_headers(hsmca_kube *k, const char *content_type, hsmca_error *err)
{
	struct curl_slist *l = NULL, *n;
	char *auth = NULL, ct[128];
	const char *tok = k->kc->token;

	n = curl_slist_append(l, "Accept: application/json");
	if (n)
		l = n;
	if (n && (n = curl_slist_append(l, "Expect:")))
		l = n;
	if (n && k->host_header && (n = curl_slist_append(l, k->host_header)))
		l = n;
	if (n && content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		if ((n = curl_slist_append(l, ct)))
			l = n;
	}
	if (n && tok) {
		for (const char *p = tok; *p; p++) {
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
				kube_headers_free(l);
				hsmca_error_set(err, "the bearer token holds a character that "
						     "cannot go into an HTTP header");
				return NULL;
			}
		}
		if (asprintf(&auth, "Authorization: Bearer %s", tok) < 0) {
			auth = NULL;
			n = NULL;
		} else if ((n = curl_slist_append(l, auth))) {
			l = n;
		}
		kube_free_secret_str(auth);
	}
	if (!n) {
		kube_headers_free(l);
		hsmca_error_set(err, "out of memory");
		return NULL;
	}
	return l;
}

void kube_headers_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		hsmca_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Base URL and, with tls-server-name, the CONNECT_TO mapping: the URL names
 * the TLS name (so libcurl sends it as SNI and verifies the certificate for
 * it) while the connection goes to the kubeconfig's host and port. */
static int prepare_url(hsmca_kube *k, hsmca_error *err)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *url = NULL, *ct = NULL;
	int ret = -1;

	if (!u)
		return hsmca_error_set(err, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, k->kc->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		hsmca_error_set(err, "cannot parse the server URL %s", k->kc->server);
		goto out;
	}
	if (k->kc->tls_server_name) {
		const char *tn = k->kc->tls_server_name;
		bool v6 = strchr(tn, ':') != NULL;
		char *authority = NULL;

		if (strpbrk(tn, "/@?#[] \t\r\n")) {
			hsmca_error_set(err, "invalid tls-server-name \"%s\"", tn);
			goto out;
		}
		if (asprintf(&ct, "%s%s%s:%s:%s:%s", v6 ? "[" : "", tn, v6 ? "]" : "", port, host,
			     port) < 0) {
			ct = NULL;
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		k->connect_to = curl_slist_append(NULL, ct);
		if (!k->connect_to || curl_url_set(u, CURLUPART_HOST, tn, 0) != CURLUE_OK) {
			hsmca_error_set(err, "cannot use tls-server-name \"%s\"", tn);
			goto out;
		}
		if (asprintf(&authority, "Host: %s:%s", host, port) < 0) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		k->host_header = authority;
	}
	if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
		hsmca_error_set(err, "cannot parse the server URL %s", k->kc->server);
		goto out;
	}
	k->base_url = strdup(url);
	if (!k->base_url) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (size_t n = strlen(k->base_url); n > 0 && k->base_url[n - 1] == '/'; n--)
		k->base_url[n - 1] = '\0';
	ret = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(url);
	free(ct);
	curl_url_cleanup(u);
	return ret;
}

int hsmca_kube_open(hsmca_kubeconfig *kc, const hsmca_kube_options *opt, hsmca_kube **out,
		    hsmca_error *err)
{
	hsmca_kube *k;

	if (hsmca_curl_open(err) != 0)
		return hsmca_error_prefix(err, "Kubernetes client");
	k = calloc(1, sizeof(*k));
	if (!k)
		return hsmca_error_set(err, "out of memory");
	k->kc = kc;
	if (opt)
		k->opt = *opt;
	if (k->opt.timeout_ms <= 0)
		k->opt.timeout_ms = 30000;
	if (k->opt.connect_timeout_ms <= 0)
		k->opt.connect_timeout_ms = 10000;
	if (k->opt.max_conflict_retries <= 0)
		k->opt.max_conflict_retries = 5;
	if (k->opt.max_throttle_retries <= 0)
		k->opt.max_throttle_retries = 5;
	if (k->opt.max_retry_after_s <= 0)
		k->opt.max_retry_after_s = 30;
	if (k->opt.max_response == 0)
		k->opt.max_response = 64u << 20;
	if (prepare_url(k, err) < 0)
		goto fail;
	k->h = curl_easy_init();
	if (!k->h) {
		hsmca_error_set(err, "cannot create a libcurl handle");
		goto fail;
	}
	if (kube_setup_handle(k, k->h, k->errbuf, err) < 0)
		goto fail;
	*out = k;
	return 0;
fail:
	hsmca_error_prefix(err, "connect to %s", kc->server);
	hsmca_kube_free(k);
	return -1;
}

void hsmca_kube_free(hsmca_kube *k)
{
	if (!k)
		return;
	if (k->h)
		curl_easy_cleanup(k->h);
	curl_slist_free_all(k->connect_to);
	free(k->host_header);
	free(k->base_url);
	free(k);
}

int kube_refresh(hsmca_kube *k, hsmca_error *err)
{
	if (hsmca_kubeconfig_refresh(k->kc, err) < 0)
		return -1;
	return kube_setup_handle(k, k->h, k->errbuf, err);
}

long kube_retry_after_ms(hsmca_kube *k, CURL *h)
{
	curl_off_t ra = 0;

	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0)
		ra = 1;
	if (ra > k->opt.max_retry_after_s)
		ra = k->opt.max_retry_after_s;
	return (long)ra * 1000;
}

bool kube_sleep_ms(long ms, int64_t deadline_ms)
{
	int64_t now = kube_now_ms();
	bool cut = false;
	struct timespec ts;

	if (deadline_ms && now + ms > deadline_ms) {
		ms = deadline_ms > now ? (long)(deadline_ms - now) : 0;
		cut = true;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return !cut;
}

int kube_query_add(char *url, size_t urllen, const char *name, const char *value,
		   hsmca_error *err)
{
	char *enc = curl_easy_escape(NULL, value, 0);
	size_t n = strlen(url);
	int w;

	if (!enc)
		return hsmca_error_set(err, "out of memory");
	w = snprintf(url + n, urllen - n, "%c%s=%s", strchr(url, '?') ? '&' : '?', name, enc);
	curl_free(enc);
	if (w < 0 || (size_t)w >= urllen - n)
		return hsmca_error_set(err, "request URL too long");
	return 0;
}

/* ---- one request ----------------------------------------------------- */

/* Perform method on path (with query) and parse a JSON answer into *out
 * (out may be NULL).  Retries 429 and, once, 401 with an exec credential. */
static int kube_request(hsmca_kube *k, const char *desc, const char *method, const char *path,
			json_object *body, const char *content_type, int64_t deadline_ms,
			json_object **out, hsmca_error *err)
{
	const char *payload = body ? json_object_to_json_string_ext(
					     body, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE)
				   : NULL;
	struct kube_buf resp = { .max = k->opt.max_response };
	struct curl_slist *hdr = NULL;
	int throttled = 0, ret = -1;
	bool refreshed = false;
	char url[KUBE_PATH_MAX + 512];
	long status = 0;

	if (snprintf(url, sizeof(url), "%s%s", k->base_url, path) >= (int)sizeof(url))
		return hsmca_error_set(err, "%s: request URL too long", desc);
	if (body && !payload)
		return hsmca_error_set(err, "%s: out of memory", desc);
	for (;;) {
		CURLcode rc;
		long timeout = k->opt.timeout_ms;

		if (hsmca_kubeconfig_expiring(k->kc, time(NULL), 10) && !refreshed) {
			refreshed = true;
			if (kube_refresh(k, err) < 0)
				goto out;
		}
		if (deadline_ms) {
			int64_t left = deadline_ms - kube_now_ms();

			if (left <= 0) {
				hsmca_error_set(err, "%s: no time left", desc);
				if (err)
					err->code = HSMCA_KUBE_ERR_DEADLINE;
				goto out;
			}
			if (left < timeout)
				timeout = (long)left;
		}
		kube_buf_free(&resp);
		resp.overflow = false;
		kube_headers_free(hdr);
		hdr = kube_headers(k, payload ? content_type : NULL, err);
		if (!hdr) {
			hsmca_error_prefix(err, "%s", desc);
			goto out;
		}
		k->errbuf[0] = '\0';
		curl_easy_setopt(k->h, CURLOPT_URL, url);
		curl_easy_setopt(k->h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(k->h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(k->h, CURLOPT_TIMEOUT_MS, timeout);
		curl_easy_setopt(k->h, CURLOPT_WRITEFUNCTION, kube_buf_write);
		curl_easy_setopt(k->h, CURLOPT_WRITEDATA, &resp);
		if (payload) {
			curl_easy_setopt(k->h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
			curl_easy_setopt(k->h, CURLOPT_POSTFIELDS, payload);
		} else {
			curl_easy_setopt(k->h, CURLOPT_POSTFIELDS, NULL);
			curl_easy_setopt(k->h, CURLOPT_NOBODY, 0L);
			curl_easy_setopt(k->h, CURLOPT_HTTPGET, 1L);
			curl_easy_setopt(k->h, CURLOPT_CUSTOMREQUEST, method);
		}
		rc = curl_easy_perform(k->h);
		if (rc == CURLE_WRITE_ERROR && resp.overflow) {
			hsmca_error_set(err, "%s: answer larger than %zu bytes", desc,
					k->opt.max_response);
			goto out;
		}
		if (rc != CURLE_OK) {
			kube_transport_error(desc, rc, k->errbuf, err);
			goto out;
		}
		curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &status);
		if (status == 429 && throttled < k->opt.max_throttle_retries) {
			throttled++;
			if (kube_sleep_ms(kube_retry_after_ms(k, k->h), deadline_ms))
				continue;
		}
		if (status == 401 && k->kc->exec && !refreshed) {
			refreshed = true;
			if (kube_refresh(k, err) < 0)
				goto out;
			continue;
		}
		break;
	}
	if (status < 200 || status > 299) {
		kube_status_error(desc, status, resp.data, resp.len, err);
		goto out;
	}
	if (out && kube_parse_json(desc, resp.data ? resp.data : "", resp.len, out, err) < 0)
		goto out;
	ret = 0;
out:
	kube_headers_free(hdr);
	kube_buf_free(&resp);
	return ret;
}

/* ---- calls ---------------------------------------------------------------- */

int hsmca_kube_version(hsmca_kube *k, char *buf, size_t buflen, hsmca_error *err)
{
	json_object *o = NULL;
	const char *v;
	int ret = -1;

	if (kube_request(k, "get /version", "GET", "/version", NULL, NULL, 0, &o, err) < 0)
		return -1;
	v = hsmca_kube_str(o, "gitVersion");
	if (!v) {
		hsmca_error_set(err, "get /version: the answer has no gitVersion");
		goto out;
	}
	if (buf && snprintf(buf, buflen, "%s", v) >= (int)buflen) {
		hsmca_error_set(err, "get /version: version string too long");
		goto out;
	}
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

int hsmca_kube_get(hsmca_kube *k, const hsmca_kube_ref *ref, json_object **out,
		   hsmca_error *err)
{
	char path[KUBE_PATH_MAX], desc[KUBE_DESC_MAX];

	kube_ref_desc("get", ref, ref->name ? ref->name : "?", desc, sizeof(desc));
	if (kube_ref_path(ref, true, path, sizeof(path), err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	return kube_request(k, desc, "GET", path, NULL, NULL, 0, out, err);
}

int kube_list_sel(hsmca_kube *k, const hsmca_kube_ref *ref, const char *label_selector,
		  const char *field_selector, int64_t deadline_ms, json_object **out,
		  hsmca_error *err)
{
	char path[KUBE_PATH_MAX], desc[KUBE_DESC_MAX];
	json_object *o = NULL, *items;

	kube_ref_desc("list", ref, NULL, desc, sizeof(desc));
	if (kube_ref_path(ref, false, path, sizeof(path), err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	if (label_selector && *label_selector &&
	    kube_query_add(path, sizeof(path), "labelSelector", label_selector, err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	if (field_selector && *field_selector &&
	    kube_query_add(path, sizeof(path), "fieldSelector", field_selector, err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	if (kube_request(k, desc, "GET", path, NULL, NULL, deadline_ms, &o, err) < 0)
		return -1;
	if (!json_object_object_get_ex(o, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		json_object_put(o);
		return hsmca_error_set(err, "%s: the answer is not a list", desc);
	}
	*out = o;
	return 0;
}

int hsmca_kube_list(hsmca_kube *k, const hsmca_kube_ref *ref, const char *label_selector,
		    json_object **out, hsmca_error *err)
{
	return kube_list_sel(k, ref, label_selector, NULL, 0, out, err);
}

int hsmca_kube_create(hsmca_kube *k, const hsmca_kube_ref *ref, json_object *obj,
		      json_object **out, hsmca_error *err)
{
	hsmca_kube_ref coll = *ref;
	char path[KUBE_PATH_MAX], desc[KUBE_DESC_MAX];
	const char *name = hsmca_kube_str(obj, "metadata.name");

	coll.name = NULL;
	kube_ref_desc("create", ref, name ? name : "(generated name)", desc, sizeof(desc));
	if (kube_ref_path(&coll, false, path, sizeof(path), err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	return kube_request(k, desc, "POST", path, obj, "application/json", 0, out, err);
}

int hsmca_kube_replace(hsmca_kube *k, const hsmca_kube_ref *ref, json_object *obj,
		       json_object **out, hsmca_error *err)
{
	char path[KUBE_PATH_MAX], desc[KUBE_DESC_MAX];

	kube_ref_desc("update", ref, ref->name ? ref->name : "?", desc, sizeof(desc));
	if (kube_ref_path(ref, true, path, sizeof(path), err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	return kube_request(k, desc, "PUT", path, obj, "application/json", 0, out, err);
}

int hsmca_kube_update(hsmca_kube *k, const hsmca_kube_ref *ref, hsmca_kube_mutate_fn mutate,
		      void *arg, json_object **out, hsmca_error *err)
{
	char desc[KUBE_DESC_MAX];
	hsmca_error local = { 0 };
	int attempt;

	if (!err)
		err = &local;
	kube_ref_desc("update", ref, ref->name ? ref->name : "?", desc, sizeof(desc));
	for (attempt = 0; attempt <= k->opt.max_conflict_retries; attempt++) {
		json_object *obj = NULL, *md = NULL;
		const char *rv;
		char *saved;
		int rc;

		if (hsmca_kube_get(k, ref, &obj, err) < 0)
			return hsmca_error_prefix(err, "update: read");
		rv = hsmca_kube_str(obj, "metadata.resourceVersion");
		saved = rv ? strdup(rv) : NULL;
		if (!saved) {
			json_object_put(obj);
			return hsmca_error_set(err, "%s: the object has no resourceVersion", desc);
		}
		if (mutate(obj, arg, err) < 0) {
			free(saved);
			json_object_put(obj);
			return hsmca_error_prefix(err, "%s", desc);
		}
		/* The read version is the precondition, whatever the callback did. */
		if (!json_object_object_get_ex(obj, "metadata", &md) ||
		    !json_object_is_type(md, json_type_object)) {
			free(saved);
			json_object_put(obj);
			return hsmca_error_set(err, "%s: the callback removed metadata", desc);
		}
		json_object_object_add(md, "resourceVersion", json_object_new_string(saved));
		free(saved);
		rc = hsmca_kube_replace(k, ref, obj, out, err);
		json_object_put(obj);
		if (rc == 0)
			return 0;
		if (err->code != 409 || !strstr(err->msg, ": conflict: "))
			return -1;
	}
	return hsmca_error_prefix(err, "gave up after %d conflicting updates", attempt);
}

int hsmca_kube_merge_patch(hsmca_kube *k, const hsmca_kube_ref *ref, json_object *patch,
			   json_object **out, hsmca_error *err)
{
	char path[KUBE_PATH_MAX], desc[KUBE_DESC_MAX];

	kube_ref_desc("patch", ref, ref->name ? ref->name : "?", desc, sizeof(desc));
	if (kube_ref_path(ref, true, path, sizeof(path), err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	return kube_request(k, desc, "PATCH", path, patch, "application/merge-patch+json", 0, out,
			    err);
}

int hsmca_kube_delete(hsmca_kube *k, const hsmca_kube_ref *ref, const char *uid,
		      hsmca_error *err)
{
	char path[KUBE_PATH_MAX], desc[KUBE_DESC_MAX];
	json_object *opts = NULL, *pre;
	int ret;

	kube_ref_desc("delete", ref, ref->name ? ref->name : "?", desc, sizeof(desc));
	if (kube_ref_path(ref, true, path, sizeof(path), err) < 0)
		return hsmca_error_prefix(err, "%s", desc);
	if (uid) {
		opts = json_object_new_object();
		pre = json_object_new_object();
		if (!opts || !pre) {
			json_object_put(opts);
			json_object_put(pre);
			return hsmca_error_set(err, "%s: out of memory", desc);
		}
		json_object_object_add(opts, "kind", json_object_new_string("DeleteOptions"));
		json_object_object_add(opts, "apiVersion", json_object_new_string("v1"));
		json_object_object_add(pre, "uid", json_object_new_string(uid));
		json_object_object_add(opts, "preconditions", pre);
	}
	ret = kube_request(k, desc, "DELETE", path, opts, "application/json", 0, NULL, err);
	json_object_put(opts);
	return ret;
}
