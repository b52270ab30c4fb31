/* Shared between kubeclient.c and kubewatch.c; not for other modules. */
#ifndef HSMCA_KUBE_KUBECLIENT_INT_H
#define HSMCA_KUBE_KUBECLIENT_INT_H

#include "common/curl_dl.h"

#include "kube/kubeclient.h"

#define KUBE_DESC_MAX 384
#define KUBE_PATH_MAX 2048

struct hsmca_kube {
	hsmca_kubeconfig *kc;          /* borrowed */
	hsmca_kube_options opt;
	CURL *h;                       /* request handle (keeps its connection) */
	char *base_url;                /* server URL, host replaced by tls-server-name if set */
	char *host_header;             /* "Host: <original authority>" with tls-server-name */
	struct curl_slist *connect_to; /* tls-server-name:port -> real host:port */
	char errbuf[CURL_ERROR_SIZE];
};

/* A bounded response buffer, wiped when freed (responses can hold Secrets). */
struct kube_buf {
	char *data;
	size_t len, cap, max;
	bool overflow;
};

size_t kube_buf_write(char *p, size_t size, size_t n, void *userdata);
int kube_buf_append(struct kube_buf *b, const char *p, size_t n);
void kube_buf_free(struct kube_buf *b);

/* Apply TLS, credentials, timeouts and protocol limits to a handle. */
int kube_setup_handle(hsmca_kube *k, CURL *h, char *errbuf, hsmca_error *err);
/* Accept, Authorization, Host, Expect and (optionally) Content-Type. */
struct curl_slist *kube_headers(hsmca_kube *k, const char *content_type, hsmca_error *err);
/* Wipe (the Authorization header holds the token) and free. */
void kube_headers_free(struct curl_slist *l);

/* "/api/v1/namespaces/ns/secrets[/name]" into out. */
int kube_ref_path(const hsmca_kube_ref *ref, bool with_name, char *out, size_t outlen,
		  hsmca_error *err);
/* "get secret ns/name", "list pods in ns", for messages. */
void kube_ref_desc(const char *verb, const hsmca_kube_ref *ref, const char *name, char *out,
		   size_t outlen);

/* err from an HTTP answer (its Status body if there is one); returns -1. */
int kube_status_error(const char *desc, long status, const char *body, size_t len,
		      hsmca_error *err);
/* err from a libcurl failure; returns -1. */
int kube_transport_error(const char *desc, CURLcode rc, const char *errbuf, hsmca_error *err);

/* Parse a JSON document (depth-limited) into *out. */
int kube_parse_json(const char *desc, const char *text, size_t len, json_object **out,
		    hsmca_error *err);

/* LIST with label and field selectors; deadline_ms (monotonic, 0 = none)
 * caps the request and its 429 waits. */
int kube_list_sel(hsmca_kube *k, const hsmca_kube_ref *ref, const char *label_selector,
		  const char *field_selector, int64_t deadline_ms, json_object **out,
		  hsmca_error *err);

/* Re-run the exec plugin and re-apply the credential to k->h. */
int kube_refresh(hsmca_kube *k, hsmca_error *err);

/* The Retry-After of the last answer on h, capped by the options, in ms. */
long kube_retry_after_ms(hsmca_kube *k, CURL *h);

/* Sleep ms milliseconds, but not past deadline_ms (0 = none).  Returns
 * false if the deadline cut the sleep short. */
bool kube_sleep_ms(long ms, int64_t deadline_ms);

/* URL-encode s and append "&<name>=<encoded>" (or "?" first) to url. */
int kube_query_add(char *url, size_t urllen, const char *name, const char *value,
		   hsmca_error *err);

#endif
