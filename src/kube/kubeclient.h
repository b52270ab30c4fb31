/* A small Kubernetes API client on libcurl and json-c.
 *
 * TLS is always verified: against the kubeconfig's CA bundle (or the system
 * trust store when it has none), for the URL host or the kubeconfig's
 * tls-server-name.  Client certificates and bearer tokens come from the
 * hsmca_kubeconfig.  Only https is spoken; redirects are not followed.
 *
 * Errors: every call fills `err` as
 *   "<verb> <kind> <namespace>/<name>: <reason>: <server message> (HTTP <code>)"
 *   e.g. "delete secret cozy-tenant/foo-ca: forbidden: secrets \"foo-ca\" is
 *   forbidden: User \"x\" cannot delete ... (HTTP 403)"
 * and err->code is
 *   - the HTTP status for an answer from the server (401 = the credential was
 *     refused, 403 forbidden, 404 not found, 409 conflict, 410 expired, ...);
 *   - HSMCA_KUBE_ERR_TRANSPORT + CURLcode when no HTTP answer came (e.g.
 *     HSMCA_KUBE_ERR_TRANSPORT + 60 when the server's certificate did not
 *     verify, + 7 when the connection was refused);
 *   - HSMCA_KUBE_ERR_DEADLINE when a watch did not reach its condition in time;
 *   - 0 for local errors (bad arguments, out of memory, bad JSON).
 *
 * Retries: 429 answers are retried after Retry-After (capped, bounded count);
 * a 401 with an exec-plugin credential re-runs the plugin once; an update
 * that meets a 409 Conflict re-reads the object and re-applies the caller's
 * change (bounded count).
 *
 * Threads: a hsmca_kube is used by one thread at a time.  A watch callback
 * may call other functions on the same client (the watch has its own
 * connection).  curl_global_init() must have been called, or be safe to call
 * (libcurl >= 7.84 built thread-safe, as Debian's is); hsmca_kube_open() calls it.
 *
 * Secrets: key and token buffers are the kubeconfig's (passed to libcurl
 * without copying) and response buffers are wiped when freed; copies that
 * libcurl, OpenSSL and json-c make internally are outside our control (see
 * docs/kube-client.md). */
#ifndef HSMCA_KUBE_KUBECLIENT_H
#define HSMCA_KUBE_KUBECLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"
#include "kube/kubeconfig.h"

#define HSMCA_KUBE_ERR_TRANSPORT 100000UL /* + CURLcode */
#define HSMCA_KUBE_ERR_DEADLINE 200000UL

/* True if err holds an HTTP answer with this status. */
#define HSMCA_KUBE_IS_HTTP(err, status) ((err)->code == (unsigned long)(status))
/* True if the server's certificate did not verify (CURLE_PEER_FAILED_VERIFICATION). */
#define HSMCA_KUBE_IS_TLS_UNTRUSTED(err) ((err)->code == HSMCA_KUBE_ERR_TRANSPORT + 60)

typedef struct hsmca_kube hsmca_kube;

/* What a call is about.  api_version is "v1" for the core group, else
 * "group/version" ("kamaji.clastix.io/v1alpha1"); resource is the plural
 * ("secrets"); namespace is NULL for cluster-scoped resources or, for list
 * and watch, all namespaces; name is NULL for collection calls.  Names are
 * checked ([A-Za-z0-9._:-], at most 253) before they go into a URL. */
typedef struct hsmca_kube_ref {
	const char *api_version;
	const char *resource;
	const char *namespace;
	const char *name;
} hsmca_kube_ref;

typedef struct hsmca_kube_options {
	long timeout_ms;          /* whole request, default 30000 */
	long connect_timeout_ms;  /* default 10000 */
	int max_conflict_retries; /* update re-tries after 409 Conflict, default 5 */
	int max_throttle_retries; /* 429 re-tries, default 5 */
	long max_retry_after_s;   /* longest Retry-After honoured, default 30 */
	size_t max_response;      /* largest response body or watch event, default 64 MiB */
} hsmca_kube_options;

/* Create a client for kc (borrowed: it must outlive the client; the client
 * may refresh an exec credential in it).  `opt` may be NULL for defaults.
 * Fails on a server URL libcurl cannot parse.  No network traffic happens
 * here.  Free with hsmca_kube_free(). */
int hsmca_kube_open(hsmca_kubeconfig *kc, const hsmca_kube_options *opt, hsmca_kube **out,
		    hsmca_error *err);

/* Close connections and free.  NULL is accepted. */
void hsmca_kube_free(hsmca_kube *k);

/* GET /version; copies gitVersion ("v1.33.1") into buf (NULL to only probe). */
int hsmca_kube_version(hsmca_kube *k, char *buf, size_t buflen, hsmca_error *err);

/* GET an object.  *out is a new reference (json_object_put()). */
int hsmca_kube_get(hsmca_kube *k, const hsmca_kube_ref *ref, json_object **out,
		   hsmca_error *err);

/* LIST a collection, optionally filtered by a label selector ("a=b,c in (d,e)",
 * sent URL-encoded).  *out is the whole List object (items, metadata.resourceVersion). */
int hsmca_kube_list(hsmca_kube *k, const hsmca_kube_ref *ref, const char *label_selector,
		    json_object **out, hsmca_error *err);

/* POST obj into the collection of ref (ref->name is ignored; the name is
 * obj's metadata.name).  out may be NULL. */
int hsmca_kube_create(hsmca_kube *k, const hsmca_kube_ref *ref, json_object *obj,
		      json_object **out, hsmca_error *err);

/* Change an object in place: return 0 after editing obj, -1 with err set to
 * give up.  Called once per attempt with a freshly read object. */
typedef int (*hsmca_kube_mutate_fn)(json_object *obj, void *arg, hsmca_error *err);

/* Read-modify-write: GET, mutate, PUT with the read resourceVersion; on 409
 * Conflict read again and repeat, up to max_conflict_retries times.  out
 * (may be NULL) receives the stored object. */
int hsmca_kube_update(hsmca_kube *k, const hsmca_kube_ref *ref, hsmca_kube_mutate_fn mutate,
		      void *arg, json_object **out, hsmca_error *err);

/* PUT obj as is (its metadata.resourceVersion, if any, is the precondition). */
int hsmca_kube_replace(hsmca_kube *k, const hsmca_kube_ref *ref, json_object *obj,
		       json_object **out, hsmca_error *err);

/* PATCH with application/merge-patch+json (RFC 7386).  out may be NULL. */
int hsmca_kube_merge_patch(hsmca_kube *k, const hsmca_kube_ref *ref, json_object *patch,
			   json_object **out, hsmca_error *err);

/* DELETE an object; `uid` (may be NULL) is sent as a precondition so only
 * that incarnation is deleted.  A missing object is an error with code 404. */
int hsmca_kube_delete(hsmca_kube *k, const hsmca_kube_ref *ref, const char *uid,
		      hsmca_error *err);

/* ---- watch ---------------------------------------------------------------- */

/* Called on every change.  `type` is "LIST" after each (re-)list (object is
 * NULL), else "ADDED", "MODIFIED" or "DELETED" with the object.  `current`
 * is the client's view of the whole watched set after the change: a JSON
 * object mapping "<namespace>/<name>" to the object (borrowed; take a
 * reference to keep anything).  Return 1 when the awaited condition holds
 * (the watch ends successfully), 0 to go on, -1 with err set to abort. */
typedef int (*hsmca_kube_watch_fn)(void *arg, const char *type, json_object *object,
				   json_object *current, hsmca_error *err);

typedef struct hsmca_kube_watch_stats {
	unsigned lists;        /* LIST requests (1 + re-lists) */
	unsigned watches;      /* watch requests opened */
	unsigned events;       /* ADDED/MODIFIED/DELETED events received */
	unsigned bookmarks;    /* BOOKMARK events received */
	unsigned expired;      /* 410 answers: HTTP 410 or an ERROR event carrying 410 */
	unsigned reconnects;   /* streams that ended early or broke, then resumed */
	char resource_version[64]; /* last resourceVersion seen */
} hsmca_kube_watch_stats;

/* List, then watch ref's collection (or just ref->name, via a fieldSelector
 * metadata.name=...) with bookmarks, until fn returns 1 or timeout_ms
 * passes.  Streams that end are resumed from the last resourceVersion
 * (bookmarks keep it fresh); a 410 (expired resourceVersion) means list
 * again.  429 is honoured as elsewhere.  stats (may be NULL) is filled in
 * on every return.  Timeout: -1 with code HSMCA_KUBE_ERR_DEADLINE. */
int hsmca_kube_watch(hsmca_kube *k, const hsmca_kube_ref *ref, const char *label_selector,
		     long timeout_ms, hsmca_kube_watch_fn fn, void *arg,
		     hsmca_kube_watch_stats *stats, hsmca_error *err);

/* ---- reading objects -------------------------------------------------- */

/* The string at a dotted path ("metadata.uid", "status.phase"), or NULL if
 * missing or not a string.  Borrowed from obj. */
const char *hsmca_kube_str(json_object *obj, const char *path);

/* Decode data[key] of a Secret.  *out is NUL-terminated one past *len; the
 * caller wipes and frees it.  Missing key: -1 with code 404. */
int hsmca_kube_secret_data(json_object *secret, const char *key, uint8_t **out, size_t *len,
			   hsmca_error *err);

/* A pod is ready when condition Ready is "True" and it is not being deleted. */
bool hsmca_kube_pod_ready(json_object *pod);

#endif
