/* gRPC unary calls over libcurl HTTP/2 + mutual TLS (grpc.h).
 * Why libcurl rather than grpc-c / protobuf-c: docs/talos-client.md. */
#include "talos/grpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>

#include "common/util.h"

#define RESPONSE_MAX           (64u << 20) /* a machine config is well under 1 MiB */
#define BACKOFF_FIRST_MS       100
#define BACKOFF_MAX_MS         5000
#define CONNECT_TIMEOUT_MAX_MS 10000

/* What ended an attempt, for the retry decision. */
enum outcome {
	OUT_OK,
	OUT_RETRY, /* err filled, code set */
	OUT_FAIL,  /* err filled, code set */
};

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *hsmca_talos_status_name(unsigned long code)
{
	if (code < HSMCA_ARRAY_LEN(status_names))
		return status_names[code];
	switch (code) {
	case HSMCA_TALOS_E_TLS_REFUSED:
		return "TLS_REFUSED";
	case HSMCA_TALOS_E_UNREACHABLE:
		return "UNREACHABLE";
	case HSMCA_TALOS_E_SERVER_CERT:
		return "SERVER_CERT_UNVERIFIED";
	case HSMCA_TALOS_E_TRANSPORT:
		return "TRANSPORT";
	case HSMCA_TALOS_E_PROTOCOL:
		return "PROTOCOL";
	case HSMCA_TALOS_E_LOCAL:
		return "LOCAL";
	}
	return "UNKNOWN_STATUS";
}

/* hsmca_error_set() clears err->code: set the message, then the code. */
int hsmca_talos_seterr(hsmca_error *err, unsigned long code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hsmca_error_vset(err, fmt, ap);
	va_end(ap);
	err->code = code;
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hsmca_talos_attempt *a = arg;
	size_t n = size * nmemb;

	if (n > RESPONSE_MAX - a->body.len) {
		a->body_too_large = true;
		return 0;
	}
	hsmca_talos_pb_put_raw(&a->body, data, n);
	return a->body.failed ? 0 : n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* grpc-message is percent-encoded; decode into a printable one-line form. */
static void set_message(struct hsmca_talos_attempt *a, const char *v, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < sizeof(a->grpc_message); i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '%' && i + 2 < len && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
			c = (unsigned char)(hexval(v[i + 1]) << 4 | hexval(v[i + 2]));
			i += 2;
		}
		if (c == '\n' || c == '\t' || c == '\r')
			c = ' ';
		else if (c < 0x20 || c == 0x7f)
			c = '?';
		if (c == ' ' && o > 0 && a->grpc_message[o - 1] == ' ')
			continue;
		a->grpc_message[o++] = (char)c;
	}
	while (o > 0 && a->grpc_message[o - 1] == ' ')
		o--;
	a->grpc_message[o] = '\0';
}

/* Headers and, for HTTP/2, trailers: both arrive here. */
static size_t on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct hsmca_talos_attempt *a = arg;
	size_t n = size * nitems, len = n;
	const char *v;

	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len > 12 && strncasecmp(data, "grpc-status:", 12) == 0) {
		int st = 0;
		size_t i;

		for (i = 12; i < len && data[i] == ' '; i++)
			;
		for (; i < len && data[i] >= '0' && data[i] <= '9' && st < 1000; i++)
			st = st * 10 + (data[i] - '0');
		a->grpc_status = st;
	} else if (len > 13 && strncasecmp(data, "grpc-message:", 13) == 0) {
		for (v = data + 13; v < data + len && *v == ' '; v++)
			;
		set_message(a, v, (size_t)(data + len - v));
	}
	return n;
}

static void on_tls_message(int write_p, int version, int content_type, const void *buf, size_t len,
			   SSL *ssl, void *arg)
{
	struct hsmca_talos_attempt *a = arg;
	const uint8_t *b = buf;

	(void)ssl;
	if (!a || len == 0)
		return;
	if (content_type == SSL3_RT_HANDSHAKE) {
		if (write_p && b[0] == SSL3_MT_CERTIFICATE)
			a->cert_sent = true;
		/* TLS 1.3: a session ticket comes after the server accepted our
		 * Finished (and so our certificate).  TLS 1.2: the server's
		 * Finished comes after it checked our certificate. */
		if (!write_p &&
		    (b[0] == SSL3_MT_NEWSESSION_TICKET ||
		     (b[0] == SSL3_MT_FINISHED && version <= TLS1_2_VERSION && a->cert_sent)))
			a->server_spoke = true;
	} else if (content_type == SSL3_RT_ALERT && !write_p && len >= 2) {
		if (b[0] == SSL3_AL_FATAL)
			a->alert = b[1];
	} else if (content_type == SSL3_RT_INNER_CONTENT_TYPE && !write_p &&
		   b[0] == SSL3_RT_APPLICATION_DATA) {
		a->server_spoke = true;
	}
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
	(void)curl;
	SSL_CTX_set_msg_callback(sslctx, on_tls_message);
	SSL_CTX_set_msg_callback_arg(sslctx, arg);
	return CURLE_OK;
}

/* ---- one exchange */

static bool alert_is_certificate(int alert)
{
	switch (alert) {
	case SSL3_AD_HANDSHAKE_FAILURE:
	case SSL3_AD_BAD_CERTIFICATE:
	case SSL3_AD_UNSUPPORTED_CERTIFICATE:
	case SSL3_AD_CERTIFICATE_REVOKED:
	case SSL3_AD_CERTIFICATE_EXPIRED:
	case SSL3_AD_CERTIFICATE_UNKNOWN:
	case TLS1_AD_UNKNOWN_CA:
	case TLS1_AD_ACCESS_DENIED:
	case TLS13_AD_CERTIFICATE_REQUIRED:
		return true;
	}
	return false;
}

void hsmca_talos_grpc_reset(struct hsmca_talos_attempt *a)
{
	hsmca_talos_pb_free(&a->body);
	a->body_too_large = false;
	a->grpc_status = -1;
	a->grpc_message[0] = '\0';
	a->cert_sent = a->server_spoke = false;
	a->alert = -1;
	a->errbuf[0] = '\0';
}

static int setup_easy(hsmca_talos_client *cl, CURL *h, const char *path, struct curl_slist *hdrs,
		      const struct hsmca_talos_pbuf *frame, uint64_t remaining)
{
	char url[512];
	struct curl_blob crt = {cl->creds.crt_pem, cl->creds.crt_len, CURL_BLOB_NOCOPY};
	struct curl_blob key = {cl->creds.key_pem, cl->creds.key_len, CURL_BLOB_NOCOPY};
	struct curl_blob ca = {cl->creds.ca_pem, cl->creds.ca_len, CURL_BLOB_NOCOPY};
	long connect_ms =
		remaining < CONNECT_TIMEOUT_MAX_MS ? (long)remaining : CONNECT_TIMEOUT_MAX_MS;
	CURLcode rc = CURLE_OK;

	snprintf(url, sizeof(url), "%s%s", cl->url_base, path);
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(h, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, (const char *)frame->p);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)frame->len);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &cl->att);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, &cl->att);
	SET(CURLOPT_ERRORBUFFER, cl->att.errbuf);
	SET(CURLOPT_TIMEOUT_MS, (long)remaining);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 1L);
	/* Trust exactly the talosconfig CA: no system bundle, no CA path. */
	SET(CURLOPT_CAINFO, NULL);
	SET(CURLOPT_CAPATH, NULL);
	SET(CURLOPT_CAINFO_BLOB, &ca);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSLCERTTYPE, "PEM");
	SET(CURLOPT_SSLCERT_BLOB, &crt);
	SET(CURLOPT_SSLKEYTYPE, "PEM");
	SET(CURLOPT_SSLKEY_BLOB, &key);
	/* A resumed session skips the client-certificate check. */
	SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
	SET(CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	SET(CURLOPT_SSL_CTX_DATA, &cl->att);
	if (!cl->reuse) {
		SET(CURLOPT_FRESH_CONNECT, 1L);
		SET(CURLOPT_FORBID_REUSE, 1L);
	}
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

static bool curl_is_transport(CURLcode rc)
{
	switch (rc) {
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Map a finished exchange to an outcome; err gets the reason. */
static enum outcome classify(hsmca_talos_client *cl, CURL *h, CURLcode rc, uint64_t deadline,
			     hsmca_error *err)
{
	struct hsmca_talos_attempt *a = &cl->att;
	long http = 0;
	int st = a->grpc_status;

	if (rc != CURLE_OK) {
		const char *why = a->errbuf[0] ? a->errbuf : curl_easy_strerror(rc);

		/* We showed our certificate and the node hung up (or sent a
		 * certificate alert) before saying anything else. */
		if (a->cert_sent && !a->server_spoke &&
		    ((a->alert >= 0 && alert_is_certificate(a->alert)) ||
		     (a->alert < 0 && curl_is_transport(rc)))) {
			hsmca_talos_seterr(
				err, HSMCA_TALOS_E_TLS_REFUSED,
				"node refused the client certificate (TLS handshake failed: %s)",
				a->alert >= 0 ? SSL_alert_desc_string_long(a->alert)
					      : "connection closed after our certificate");
			return OUT_FAIL;
		}
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
			hsmca_talos_seterr(
				err, HSMCA_TALOS_E_SERVER_CERT,
				"node certificate not verified by the talosconfig CA (%s)", why);
			return OUT_FAIL;
		}
		if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
			hsmca_talos_seterr(err, HSMCA_TALOS_E_UNREACHABLE, "cannot connect (%s)",
					   why);
			return OUT_RETRY;
		}
		if (rc == CURLE_OPERATION_TIMEDOUT && now_ms() + 5 >= deadline) {
			hsmca_talos_seterr(err, HSMCA_GRPC_DEADLINE_EXCEEDED,
					   "DEADLINE_EXCEEDED: no answer in time (%s)", why);
			return OUT_FAIL;
		}
		if (rc == CURLE_WRITE_ERROR && a->body_too_large) {
			hsmca_talos_seterr(err, HSMCA_TALOS_E_PROTOCOL,
					   "response larger than %u bytes", RESPONSE_MAX);
			return OUT_FAIL;
		}
		if (rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_ENGINE_INITFAILED ||
		    rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR ||
		    rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
			hsmca_talos_seterr(err, HSMCA_TALOS_E_LOCAL, "%s", why);
			return OUT_FAIL;
		}
		hsmca_talos_seterr(err, HSMCA_TALOS_E_TRANSPORT, "transport failure (%s)", why);
		return OUT_RETRY;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
	if (st < 0) {
		/* No gRPC status: map the HTTP status as gRPC clients do. */
		if (http == 502 || http == 503 || http == 504) {
			hsmca_talos_seterr(err, HSMCA_GRPC_UNAVAILABLE,
					   "UNAVAILABLE: HTTP status %ld", http);
			return OUT_RETRY;
		}
		hsmca_talos_seterr(err, HSMCA_TALOS_E_PROTOCOL,
				   "no grpc-status in the response (HTTP status %ld)", http);
		return OUT_FAIL;
	}
	if (st != 0) {
		hsmca_talos_seterr(err, (unsigned long)st, "%s: %s",
				   hsmca_talos_status_name((unsigned long)st),
				   a->grpc_message[0] ? a->grpc_message : "(no message)");
		return st == HSMCA_GRPC_UNAVAILABLE ? OUT_RETRY : OUT_FAIL;
	}
	if (http != 200) {
		hsmca_talos_seterr(err, HSMCA_TALOS_E_PROTOCOL,
				   "grpc-status 0 with HTTP status %ld", http);
		return OUT_FAIL;
	}
	return OUT_OK;
}

static struct curl_slist *make_headers(const char *node, uint64_t remaining)
{
	struct curl_slist *h = NULL, *t;
	char line[300];
	const char *fixed[] = {"content-type: application/grpc", "te: trailers",
			       "user-agent: hsmca/" HSMCA_VERSION " grpc-curl",
			       "Accept:", "Expect:"};
	size_t i;

	for (i = 0; i < HSMCA_ARRAY_LEN(fixed); i++) {
		if (!(t = curl_slist_append(h, fixed[i])))
			goto fail;
		h = t;
	}
	snprintf(line, sizeof(line), "grpc-timeout: %lum",
		 (unsigned long)(remaining > 99999999 ? 99999999 : remaining));
	if (!(t = curl_slist_append(h, line)))
		goto fail;
	h = t;
	if (node) {
		snprintf(line, sizeof(line), "node: %s", node);
		if (!(t = curl_slist_append(h, line)))
			goto fail;
		h = t;
	}
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

/* Reject what could break the header or smuggle another one; whether the
 * value is acceptable (e.g. has a port) is the node's call. */
static int check_node(const char *node, hsmca_error *err)
{
	const unsigned char *p;

	if (!node)
		return 0;
	if (!*node || strlen(node) > 253)
		return hsmca_error_set(err, "node name must be 1 to 253 characters");
	for (p = (const unsigned char *)node; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return hsmca_error_set(err, "node name holds a space or control character");
	}
	return 0;
}

/* One exchange on a fresh (or, with reuse, the kept) connection. */
static enum outcome exchange(hsmca_talos_client *cl, const char *path, const char *node,
			     const struct hsmca_talos_pbuf *frame, uint64_t deadline,
			     hsmca_error *err)
{
	uint64_t remaining = deadline - now_ms();
	struct curl_slist *hdrs;
	enum outcome oc;
	CURL *h;

	hsmca_talos_grpc_reset(&cl->att);
	if (cl->reuse && cl->easy) {
		h = cl->easy;
		curl_easy_reset(h);
	} else {
		h = curl_easy_init();
	}
	hdrs = make_headers(node, remaining);
	if (!h || !hdrs || setup_easy(cl, h, path, hdrs, frame, remaining) != 0) {
		curl_slist_free_all(hdrs);
		if (h && h != cl->easy)
			curl_easy_cleanup(h);
		hsmca_talos_seterr(err, HSMCA_TALOS_E_LOCAL, "cannot set up libcurl");
		return OUT_FAIL;
	}
	oc = classify(cl, h, curl_easy_perform(h), deadline, err);
	curl_slist_free_all(hdrs);
	if (cl->reuse)
		cl->easy = h;
	else
		curl_easy_cleanup(h);
	return oc;
}

/* The request as one gRPC message: flag 0, 4-byte big-endian length. */
static int frame_request(const struct hsmca_talos_pbuf *req, struct hsmca_talos_pbuf *frame,
			 hsmca_error *err)
{
	uint8_t hdr[5];

	if (req->failed || req->len > UINT32_MAX)
		return hsmca_talos_seterr(err, HSMCA_TALOS_E_LOCAL,
					  "request too large or out of memory");
	hdr[0] = 0;
	hdr[1] = (uint8_t)(req->len >> 24);
	hdr[2] = (uint8_t)(req->len >> 16);
	hdr[3] = (uint8_t)(req->len >> 8);
	hdr[4] = (uint8_t)req->len;
	hsmca_talos_pb_put_raw(frame, hdr, sizeof(hdr));
	hsmca_talos_pb_put_raw(frame, req->p, req->len);
	if (frame->failed)
		return hsmca_talos_seterr(err, HSMCA_TALOS_E_LOCAL, "out of memory");
	return 0;
}

/* The single response message, flag 0 (we never ask for compression). */
static int unframe_response(const struct hsmca_talos_pbuf *body, const uint8_t **msg,
			    size_t *msglen, hsmca_error *err)
{
	if (body->len < 5 || body->p[0] != 0 ||
	    ((size_t)body->p[1] << 24 | (size_t)body->p[2] << 16 | (size_t)body->p[3] << 8 |
	     body->p[4]) != body->len - 5)
		return hsmca_talos_seterr(err, HSMCA_TALOS_E_PROTOCOL,
					  "malformed gRPC response body (%zu bytes)", body->len);
	*msg = body->p + 5;
	*msglen = body->len - 5;
	return 0;
}

/* One unary call with retries until the deadline.  On success *msg and
 * *msglen point at the response message inside cl->att.body (valid until
 * the next call; callers wipe it with hsmca_talos_grpc_reset). */
int hsmca_talos_grpc_unary(hsmca_talos_client *cl, const char *what, const char *path,
			   const char *node, const struct hsmca_talos_pbuf *req,
			   const uint8_t **msg, size_t *msglen, hsmca_error *err)
{
	struct hsmca_talos_pbuf frame = {0};
	uint64_t start = now_ms(), deadline = start + cl->deadline_ms, backoff = BACKOFF_FIRST_MS;
	enum outcome oc = OUT_RETRY;
	hsmca_error retried = {0}; /* why the last retried attempt failed */
	unsigned tries = 0;
	bool cut = false;
	int ret = -1;

	hsmca_error_clear(err);
	if (check_node(node, err) != 0) {
		err->code = HSMCA_TALOS_E_LOCAL;
		goto out;
	}
	if (frame_request(req, &frame, err) != 0)
		goto out;
	while (now_ms() < deadline) {
		uint64_t now;

		tries++;
		oc = exchange(cl, path, node, &frame, deadline, err);
		if (oc == OUT_FAIL && err->code == HSMCA_GRPC_DEADLINE_EXCEEDED && tries > 1) {
			/* The deadline cut a retry short.  Whether it falls in a
			 * backoff or in an attempt is a matter of timing: either way
			 * the call is still failing for the reason the earlier
			 * attempts gave (a node that stays down is UNAVAILABLE). */
			*err = retried;
			oc = OUT_RETRY;
			cut = true;
			break;
		}
		if (oc != OUT_RETRY)
			break;
		retried = *err;
		now = now_ms();
		if (now + backoff >= deadline) {
			if (now < deadline)
				sleep_ms(deadline - now);
			break;
		}
		sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	if (oc == OUT_FAIL)
		goto out;
	if (oc == OUT_RETRY) {
		/* Deadline reached while retrying: keep the last cause. */
		unsigned long code = err->code;
		char last[HSMCA_ERROR_MAX];

		if (tries == 0) {
			hsmca_talos_seterr(err, HSMCA_GRPC_DEADLINE_EXCEEDED,
					   "DEADLINE_EXCEEDED: no time left");
			goto out;
		}
		snprintf(last, sizeof(last), "%s", err->msg);
		hsmca_talos_seterr(err, code, "%.900s (still failing after %u attempt%s in %.1f s%s)",
				   last, tries, tries == 1 ? "" : "s",
				   (double)(now_ms() - start) / 1000.0,
				   cut ? ", the deadline cut the last one short" : "");
		goto out;
	}
	ret = unframe_response(&cl->att.body, msg, msglen, err);
out:
	hsmca_talos_pb_free(&frame);
	if (ret != 0) {
		unsigned long code = err->code;

		hsmca_talos_grpc_reset(&cl->att);
		if (node)
			hsmca_error_prefix(err, "%s on %s (node %s)", what, cl->endpoint, node);
		else
			hsmca_error_prefix(err, "%s on %s", what, cl->endpoint);
		err->code = code;
	}
	return ret;
}
