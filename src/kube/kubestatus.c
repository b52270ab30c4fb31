/* Paths, messages and errors of the Kubernetes client: what an API call is
 * called in a message, how a Status answer or a libcurl failure becomes an
 * hsmca_error, and bounded JSON parsing. */
#include "kube/kubeclient.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "kube/kubeclient_int.h"

#define KUBE_JSON_DEPTH 64
#define KUBE_STATUS_SNIPPET 120

/* ---- names, paths and messages ----------------------------------------- */

static bool valid_segment(const char *s, bool allow_upper)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 253 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(islower(c) || isdigit(c) || c == '.' || c == '-' ||
		      (allow_upper && (isupper(c) || c == '_' || c == ':'))))
			return false;
	}
	return true;
}

static bool valid_api_version(const char *s)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	char group[254];

	if (!s || !*s)
		return false;
	if (!slash)
		return valid_segment(s, false);
	if ((size_t)(slash - s) >= sizeof(group) || slash == s)
		return false;
	memcpy(group, s, (size_t)(slash - s));
	group[slash - s] = '\0';
	return valid_segment(group, false) && valid_segment(slash + 1, false) &&
	       !strchr(slash + 1, '/');
}

int kube_ref_path(const hsmca_kube_ref *ref, bool with_name, char *out, size_t outlen,
		  hsmca_error *err)
{
	bool core = ref->api_version && strchr(ref->api_version, '/') == NULL;
	int n;

	if (!valid_api_version(ref->api_version))
		return hsmca_error_set(err, "invalid apiVersion \"%s\"",
				       ref->api_version ? ref->api_version : "");
	if (!valid_segment(ref->resource, false))
		return hsmca_error_set(err, "invalid resource \"%s\"",
				       ref->resource ? ref->resource : "");
	if (ref->namespace && !valid_segment(ref->namespace, false))
		return hsmca_error_set(err, "invalid namespace \"%s\"", ref->namespace);
	if (with_name && !valid_segment(ref->name, true))
		return hsmca_error_set(err, "invalid %s name \"%s\"", ref->resource,
				       ref->name ? ref->name : "");
	n = snprintf(out, outlen, "/%s/%s%s%s/%s%s%s", core ? "api" : "apis", ref->api_version,
		     ref->namespace ? "/namespaces/" : "", ref->namespace ? ref->namespace : "",
		     ref->resource, with_name ? "/" : "", with_name ? ref->name : "");
	if (n < 0 || (size_t)n >= outlen)
		return hsmca_error_set(err, "API path too long");
	return 0;
}

void kube_ref_desc(const char *verb, const hsmca_kube_ref *ref, const char *name, char *out,
		   size_t outlen)
{
	char kind[128];
	size_t n;

	snprintf(kind, sizeof(kind), "%s", ref->resource ? ref->resource : "object");
	n = strlen(kind);
	if (name) {
		/* singular for messages: secrets -> secret, ingresses -> ingress */
		if (n > 4 && strcmp(kind + n - 4, "sses") == 0)
			kind[n - 2] = '\0';
		else if (n > 1 && kind[n - 1] == 's')
			kind[n - 1] = '\0';
		if (ref->namespace)
			snprintf(out, outlen, "%s %s %s/%s", verb, kind, ref->namespace, name);
		else
			snprintf(out, outlen, "%s %s %s", verb, kind, name);
	} else if (ref->namespace) {
		snprintf(out, outlen, "%s %s in %s", verb, kind, ref->namespace);
	} else {
		snprintf(out, outlen, "%s %s in all namespaces", verb, kind);
	}
}

static const char *reason_phrase(const char *reason, long status)
{
	static const struct {
		const char *reason;
		const char *phrase;
	} map[] = {
		{ "Unauthorized", "credential refused" },
		{ "Forbidden", "forbidden" },
		{ "NotFound", "not found" },
		{ "AlreadyExists", "already exists" },
		{ "Conflict", "conflict" },
		{ "Invalid", "invalid" },
		{ "BadRequest", "bad request" },
		{ "Expired", "resource version expired" },
		{ "Gone", "resource version expired" },
		{ "TooManyRequests", "too many requests" },
		{ "Timeout", "server timeout" },
		{ "ServerTimeout", "server timeout" },
		{ "InternalError", "server error" },
		{ "ServiceUnavailable", "server unavailable" },
		{ "MethodNotAllowed", "method not allowed" },
		{ "UnsupportedMediaType", "unsupported media type" },
		{ "RequestEntityTooLarge", "request too large" },
	};

	for (size_t i = 0; reason && i < HSMCA_ARRAY_LEN(map); i++)
		if (strcmp(reason, map[i].reason) == 0)
			return map[i].phrase;
	switch (status) {
	case 401: return "credential refused";
	case 403: return "forbidden";
	case 404: return "not found";
	case 409: return "conflict";
	case 410: return "resource version expired";
	case 429: return "too many requests";
	default: return "request failed";
	}
}

/* Printable, single-line copy of untrusted text for a message. */
static void printable(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 4 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	if (o + 4 >= outlen && len > o)
		memcpy(out + o, "...", 4);
	else
		out[o] = '\0';
}

int kube_status_error(const char *desc, long status, const char *body, size_t len,
		      hsmca_error *err)
{
	json_object *o = NULL, *v;
	const char *reason = NULL, *message = NULL;
	char text[512];

	if (body && len && kube_parse_json(desc, body, len, &o, NULL) == 0 &&
	    json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "kind", &v) &&
		    strcmp(json_object_get_string(v), "Status") == 0) {
			if (json_object_object_get_ex(o, "reason", &v))
				reason = json_object_get_string(v);
			if (json_object_object_get_ex(o, "message", &v))
				message = json_object_get_string(v);
		}
	}
	if (message && *message)
		printable(message, strlen(message), text, sizeof(text));
	else if (body && len && !o)
		printable(body, len < KUBE_STATUS_SNIPPET ? len : KUBE_STATUS_SNIPPET, text,
			  sizeof(text));
	else
		snprintf(text, sizeof(text), "%s", reason ? reason : "no message");
	hsmca_error_set(err, "%s: %s: %s (HTTP %ld)", desc, reason_phrase(reason, status), text,
			status);
	if (err)
		err->code = (unsigned long)status;
	json_object_put(o);
	return -1;
}

static const char *curl_code_name(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL: return "CURLE_UNSUPPORTED_PROTOCOL";
	case CURLE_URL_MALFORMAT: return "CURLE_URL_MALFORMAT";
	case CURLE_COULDNT_RESOLVE_HOST: return "CURLE_COULDNT_RESOLVE_HOST";
	case CURLE_COULDNT_CONNECT: return "CURLE_COULDNT_CONNECT";
	case CURLE_HTTP2: return "CURLE_HTTP2";
	case CURLE_PARTIAL_FILE: return "CURLE_PARTIAL_FILE";
	case CURLE_WRITE_ERROR: return "CURLE_WRITE_ERROR";
	case CURLE_OUT_OF_MEMORY: return "CURLE_OUT_OF_MEMORY";
	case CURLE_OPERATION_TIMEDOUT: return "CURLE_OPERATION_TIMEDOUT";
	case CURLE_SSL_CONNECT_ERROR: return "CURLE_SSL_CONNECT_ERROR";
	case CURLE_GOT_NOTHING: return "CURLE_GOT_NOTHING";
	case CURLE_SEND_ERROR: return "CURLE_SEND_ERROR";
	case CURLE_RECV_ERROR: return "CURLE_RECV_ERROR";
	case CURLE_SSL_CERTPROBLEM: return "CURLE_SSL_CERTPROBLEM";
	case CURLE_SSL_CIPHER: return "CURLE_SSL_CIPHER";
	case CURLE_PEER_FAILED_VERIFICATION: return "CURLE_PEER_FAILED_VERIFICATION";
	case CURLE_SSL_CACERT_BADFILE: return "CURLE_SSL_CACERT_BADFILE";
	case CURLE_SSL_CLIENTCERT: return "CURLE_SSL_CLIENTCERT";
	default: return NULL;
	}
}

int kube_transport_error(const char *desc, CURLcode rc, const char *errbuf, hsmca_error *err)
{
	const char *name = curl_code_name(rc);
	char num[32];
	const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);

	if (!name) {
		snprintf(num, sizeof(num), "CURLE %d", (int)rc);
		name = num;
	}
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		hsmca_error_set(err, "%s: the API server's certificate did not verify: %s (curl %s)",
				desc, why, name);
	else
		hsmca_error_set(err, "%s: %s (curl %s)", desc, why, name);
	if (err)
		err->code = HSMCA_KUBE_ERR_TRANSPORT + (unsigned long)rc;
	return -1;
}

int kube_parse_json(const char *desc, const char *text, size_t len, json_object **out,
		    hsmca_error *err)
{
	json_tokener *tok;
	json_object *o;
	enum json_tokener_error e;

	if (len > INT32_MAX)
		return hsmca_error_set(err, "%s: response too large", desc);
	tok = json_tokener_new_ex(KUBE_JSON_DEPTH);
	if (!tok)
		return hsmca_error_set(err, "%s: out of memory", desc);
	o = json_tokener_parse_ex(tok, text, (int)len);
	e = json_tokener_get_error(tok);
	if (o && e == json_tokener_success) {
		size_t end = json_tokener_get_parse_end(tok);

		while (end < len && isspace((unsigned char)text[end]))
			end++;
		if (end != len)
			e = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	if (!o || e != json_tokener_success) {
		json_object_put(o);
		return hsmca_error_set(err, "%s: the server's answer is not valid JSON (%s)", desc,
				       o || e != json_tokener_success
					       ? json_tokener_error_desc(e)
					       : "empty");
	}
	*out = o;
	return 0;
}
