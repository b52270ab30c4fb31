/* Talos API client (talos.h): endpoints, deadlines and the three calls.
 * The gRPC transport is in grpc.c. */
#include "talos/talos.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/curl_dl.h"

#include "common/util.h"
#include "talos/grpc.h"
#include "talos/pb.h"
#include "talos/yamldoc.h"

static int parse_deadline_env(unsigned *ms, hsmca_error *err)
{
	const char *s = getenv("HSMCA_TALOS_DEADLINE");
	int64_t secs;
	char *end;
	long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == 0 && *end == '\0' && v > 0 && v <= 86400) {
		*ms = (unsigned)v * 1000u;
		return 0;
	}
	if (hsmca_parse_duration(s, "HSMCA_TALOS_DEADLINE", &secs, err) != 0)
		return -1;
	if (secs <= 0 || secs > 86400)
		return hsmca_error_set(err, "HSMCA_TALOS_DEADLINE: must be 1 s to 1 day");
	*ms = (unsigned)secs * 1000u;
	return 0;
}

/* "host", "host:port", "[v6]", "[v6]:port", or a bare IPv6 address. */
static int parse_endpoint(hsmca_talos_client *cl, const char *ep, hsmca_error *err)
{
	char host[256];
	const char *colon, *p;
	unsigned long port = HSMCA_TALOS_DEFAULT_PORT;
	bool v6 = false;
	size_t hl;

	if (!ep || !*ep)
		return hsmca_error_set(err, "talos endpoint is empty");
	if (ep[0] == '[') {
		const char *rb = strchr(ep, ']');

		if (!rb || rb == ep + 1)
			return hsmca_error_set(err, "talos endpoint \"%.64s\": unterminated [", ep);
		hl = (size_t)(rb - ep - 1);
		if (hl >= sizeof(host))
			return hsmca_error_set(err, "talos endpoint: host too long");
		memcpy(host, ep + 1, hl);
		host[hl] = '\0';
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] && !colon)
			return hsmca_error_set(err, "talos endpoint \"%.64s\": junk after ]", ep);
		v6 = true;
	} else if ((colon = strchr(ep, ':')) != NULL && strchr(colon + 1, ':')) {
		if (strlen(ep) >= sizeof(host)) /* bare IPv6 address */
			return hsmca_error_set(err, "talos endpoint: host too long");
		strcpy(host, ep);
		colon = NULL;
		v6 = true;
	} else {
		hl = colon ? (size_t)(colon - ep) : strlen(ep);
		if (hl == 0 || hl >= sizeof(host))
			return hsmca_error_set(err, "talos endpoint \"%.64s\": bad host", ep);
		memcpy(host, ep, hl);
		host[hl] = '\0';
	}
	for (p = host; *p; p++) {
		/* Only what a hostname or IP literal holds: nothing that could
		 * change the meaning of the URL we build. */
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || (v6 && *p == ':')))
			return hsmca_error_set(
				err, "talos endpoint \"%.64s\": bad character in host", ep);
	}
	if (colon) {
		char *end;

		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
			return hsmca_error_set(err, "talos endpoint \"%.64s\": bad port", ep);
	}
	if (v6) {
		snprintf(cl->endpoint, sizeof(cl->endpoint), "[%s]:%lu", host, port);
	} else {
		snprintf(cl->endpoint, sizeof(cl->endpoint), "%s:%lu", host, port);
	}
	snprintf(cl->url_base, sizeof(cl->url_base), "https://%s", cl->endpoint);
	return 0;
}

static int copy_str(char **dst, size_t *dlen, const char *src, size_t len)
{
	*dst = malloc(len + 1);
	if (!*dst)
		return -1;
	memcpy(*dst, src, len);
	(*dst)[len] = '\0';
	*dlen = len;
	return 0;
}

int hsmca_talos_client_new(const struct hsmca_talos_creds *c, const char *endpoint,
			   hsmca_talos_client **out, hsmca_error *err)
{
	hsmca_talos_client *cl;
	curl_version_info_data *vi;

	if (hsmca_curl_open(err) != 0) {
		err->code = HSMCA_TALOS_E_LOCAL;
		return hsmca_error_prefix(err, "talos client");
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_HTTP2) || !(vi->features & CURL_VERSION_SSL)) {
		hsmca_error_set(err, "talos client: libcurl %s lacks HTTP/2 or TLS", vi->version);
		err->code = HSMCA_TALOS_E_LOCAL;
		return -1;
	}
	if (!c || !c->ca_pem || !c->crt_pem || !c->key_pem) {
		hsmca_error_set(err, "talos client: credentials are incomplete");
		err->code = HSMCA_TALOS_E_LOCAL;
		return -1;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return hsmca_error_set(err, "talos client: out of memory");
	cl->deadline_ms = HSMCA_TALOS_DEFAULT_DEADLINE_MS;
	if (parse_endpoint(cl, endpoint, err) != 0 ||
	    parse_deadline_env(&cl->deadline_ms, err) != 0)
		goto fail;
	if (copy_str(&cl->creds.ca_pem, &cl->creds.ca_len, c->ca_pem, c->ca_len) != 0 ||
	    copy_str(&cl->creds.crt_pem, &cl->creds.crt_len, c->crt_pem, c->crt_len) != 0 ||
	    copy_str(&cl->creds.key_pem, &cl->creds.key_len, c->key_pem, c->key_len) != 0) {
		hsmca_error_set(err, "talos client: out of memory");
		goto fail;
	}
	*out = cl;
	return 0;
fail:
	err->code = HSMCA_TALOS_E_LOCAL;
	hsmca_talos_client_free(cl);
	return -1;
}

void hsmca_talos_client_free(hsmca_talos_client *cl)
{
	if (!cl)
		return;
	if (cl->easy)
		curl_easy_cleanup(cl->easy);
	hsmca_talos_pb_free(&cl->att.body);
	hsmca_talos_creds_clear(&cl->creds);
	free(cl);
}

void hsmca_talos_client_set_deadline(hsmca_talos_client *cl, unsigned ms)
{
	if (ms > 0)
		cl->deadline_ms = ms;
}

void hsmca_talos_client_set_reuse(hsmca_talos_client *cl, bool reuse)
{
	cl->reuse = reuse;
	if (!reuse && cl->easy) {
		curl_easy_cleanup(cl->easy);
		cl->easy = NULL;
	}
}

const char *hsmca_talos_client_endpoint(const hsmca_talos_client *cl)
{
	return cl->endpoint;
}

/* ---- libcurl callbacks */

static int proto_error(hsmca_talos_client *cl, const char *what, const char *node, const char *why,
		       hsmca_error *err)
{
	hsmca_talos_grpc_reset(&cl->att);
	if (node)
		hsmca_error_set(err, "%s on %s (node %s): malformed response: %s", what,
				cl->endpoint, node, why);
	else
		hsmca_error_set(err, "%s on %s: malformed response: %s", what, cl->endpoint, why);
	err->code = HSMCA_TALOS_E_PROTOCOL;
	return -1;
}

/* A per-node error apid reports inside the response metadata (field 2). */
static int metadata_error(hsmca_talos_client *cl, const char *what, const char *node,
			  const uint8_t *m, size_t mlen, hsmca_error *err)
{
	const uint8_t *md, *e;
	size_t mdlen, elen;

	if (hsmca_talos_pb_find(m, mlen, 1, &md, &mdlen) != 1)
		return 0;
	if (hsmca_talos_pb_find(md, mdlen, 2, &e, &elen) != 1 || elen == 0)
		return 0;
	hsmca_talos_grpc_reset(&cl->att);
	hsmca_error_set(err, "%s on %s%s%s%s: UNKNOWN: node reported an error (%zu bytes)", what,
			cl->endpoint, node ? " (node " : "", node ? node : "", node ? ")" : "",
			elen);
	err->code = 2;
	return -1;
}

int hsmca_talos_version(hsmca_talos_client *cl, const char *node, char *tag, size_t taglen,
			hsmca_error *err)
{
	static const char what[] = "version";
	struct hsmca_talos_pbuf req = {0};
	const uint8_t *msg, *m, *v, *t;
	size_t msglen, mlen, vlen, tlen;

	if (hsmca_talos_grpc_unary(cl, what, "/machine.MachineService/Version", node, &req, &msg,
				   &msglen, err) != 0)
		return -1;
	if (hsmca_talos_pb_find(msg, msglen, 1, &m, &mlen) != 1)
		return proto_error(cl, what, node, "no Version message", err);
	if (metadata_error(cl, what, node, m, mlen, err) != 0)
		return -1;
	if (hsmca_talos_pb_find(m, mlen, 2, &v, &vlen) != 1 ||
	    hsmca_talos_pb_find(v, vlen, 1, &t, &tlen) != 1)
		return proto_error(cl, what, node, "no version tag", err);
	if (tlen + 1 > taglen)
		return proto_error(cl, what, node, "version tag too long", err);
	memcpy(tag, t, tlen);
	tag[tlen] = '\0';
	hsmca_talos_grpc_reset(&cl->att);
	return 0;
}

/* Decode a COSI yaml_spec holding a MachineConfig: one YAML document whose
 * root is a string scalar (cosi-project/runtime pkg/resource/protobuf/
 * resource.go marshals the spec with yaml.Marshal; siderolabs/talos
 * pkg/machinery/resources/config/machine_config.go MarshalYAML returns the
 * config bytes as a string).  *out is malloc'ed, NUL-terminated, and holds
 * the node's keys. */
static int yaml_spec_config(hsmca_talos_client *cl, const char *what, const char *node,
			    const uint8_t *y, size_t ylen, uint8_t **out, size_t *outlen,
			    hsmca_error *err)
{
	struct hsmca_talos_ydocs d;
	hsmca_error e = { "", 0 };
	yaml_node_t *root;
	const char *s;
	size_t n;
	int ret = -1;

	memset(&d, 0, sizeof(d));
	if (hsmca_talos_yaml_load(y, ylen, "yaml_spec", &d, &e) != 0) {
		proto_error(cl, what, node, "yaml_spec is not YAML", err);
		goto out;
	}
	root = d.n == 1 ? hsmca_talos_yaml_root(&d, 0) : NULL;
	s = root ? hsmca_talos_yaml_str(root) : NULL;
	if (!s || hsmca_talos_yaml_is_null(root) ||
	    (root->tag && strcmp((const char *)root->tag, YAML_STR_TAG) != 0 &&
	     strcmp((const char *)root->tag, "!") != 0 && strcmp((const char *)root->tag, "?") != 0)) {
		proto_error(cl, what, node, "yaml_spec is not a YAML string", err);
		goto out;
	}
	n = strlen(s);
	if (n == 0) {
		proto_error(cl, what, node, "machine config is empty", err);
		goto out;
	}
	*out = malloc(n + 1);
	if (!*out) {
		hsmca_talos_grpc_reset(&cl->att);
		hsmca_error_set(err, "%s on %s: out of memory", what, cl->endpoint);
		err->code = HSMCA_TALOS_E_LOCAL;
		goto out;
	}
	memcpy(*out, s, n + 1);
	*outlen = n;
	ret = 0;
out:
	hsmca_talos_yaml_free(&d);
	return ret;
}

int hsmca_talos_get_machine_config(hsmca_talos_client *cl, const char *node, uint8_t **yaml,
				   size_t *len, hsmca_error *err)
{
	static const char what[] = "get machine config";
	static const char ns[] = "config", type[] = "MachineConfigs.config.talos.dev",
			  id[] = "v1alpha1";
	struct hsmca_talos_pbuf req = {0};
	const uint8_t *msg, *res, *spec, *ps, *y;
	size_t msglen, reslen, speclen, pslen, ylen;
	uint8_t *out;
	int ret = -1;

	hsmca_talos_pb_put_bytes(&req, 1, ns, sizeof(ns) - 1);
	hsmca_talos_pb_put_bytes(&req, 2, type, sizeof(type) - 1);
	hsmca_talos_pb_put_bytes(&req, 3, id, sizeof(id) - 1);
	if (hsmca_talos_grpc_unary(cl, what, "/cosi.resource.State/Get", node, &req, &msg, &msglen,
				   err) != 0)
		goto out;
	if (hsmca_talos_pb_find(msg, msglen, 1, &res, &reslen) != 1 ||
	    hsmca_talos_pb_find(res, reslen, 2, &spec, &speclen) != 1) {
		proto_error(cl, what, node, "no resource spec", err);
		goto out;
	}
	/* Spec.proto_spec = MachineConfigSpec{yaml_marshalled = 1}: the config. */
	if (hsmca_talos_pb_find(spec, speclen, 1, &ps, &pslen) == 1 &&
	    hsmca_talos_pb_find(ps, pslen, 1, &y, &ylen) == 1) {
		if (ylen == 0) {
			proto_error(cl, what, node, "machine config is empty", err);
			goto out;
		}
		out = malloc(ylen + 1);
		if (!out) {
			hsmca_talos_grpc_reset(&cl->att);
			hsmca_error_set(err, "%s on %s: out of memory", what, cl->endpoint);
			err->code = HSMCA_TALOS_E_LOCAL;
			goto out;
		}
		memcpy(out, y, ylen);
		out[ylen] = '\0';
	} else if (hsmca_talos_pb_find(spec, speclen, 2, &y, &ylen) == 1) {
		/* Spec.yaml_spec: the YAML encoding of the spec, which for a
		 * MachineConfig is the config as a string (a "|" block). */
		if (yaml_spec_config(cl, what, node, y, ylen, &out, &ylen, err) != 0)
			goto out;
	} else {
		proto_error(cl, what, node, "resource spec holds no YAML", err);
		goto out;
	}
	*yaml = out;
	*len = ylen;
	ret = 0;
out:
	hsmca_talos_grpc_reset(&cl->att); /* the response held the node's keys */
	hsmca_talos_pb_free(&req);
	return ret;
}

int hsmca_talos_apply_config(hsmca_talos_client *cl, const char *node, const uint8_t *yaml,
			     size_t len, int mode, hsmca_error *err)
{
	static const char what[] = "apply config";
	struct hsmca_talos_pbuf req = {0};
	const uint8_t *msg, *m;
	size_t msglen, mlen;
	int ret = -1;

	if (mode < HSMCA_TALOS_MODE_REBOOT || mode > HSMCA_TALOS_MODE_TRY) {
		hsmca_error_set(err, "%s on %s: bad mode %d", what, cl->endpoint, mode);
		err->code = HSMCA_TALOS_E_LOCAL;
		return -1;
	}
	hsmca_talos_pb_put_bytes(&req, 1, yaml, len);
	if (mode != 0)
		hsmca_talos_pb_put_uint(&req, 4, (uint64_t)mode);
	if (hsmca_talos_grpc_unary(cl, what, "/machine.MachineService/ApplyConfiguration", node,
				   &req, &msg, &msglen, err) != 0)
		goto out;
	if (hsmca_talos_pb_find(msg, msglen, 1, &m, &mlen) == 1 &&
	    metadata_error(cl, what, node, m, mlen, err) != 0)
		goto out;
	ret = 0;
out:
	hsmca_talos_grpc_reset(&cl->att);
	hsmca_talos_pb_free(&req); /* wipes the config copy */
	return ret;
}
