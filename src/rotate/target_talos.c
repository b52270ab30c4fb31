/* The Talos API as a rotation target: machine.acceptedCAs on every node,
 * a talosconfig as the credential file, talm node files kept in step.
 *
 * Nodes are reached as talosctl reaches them (reach.c): directly when the
 * node is its own endpoint, else through the endpoints with `node`
 * metadata, failing over from one endpoint to the next.  A proxied call is
 * authenticated by the ENDPOINT's apid, so it proves nothing about what the
 * target node itself accepts: the proofs (probe_direct) use a fresh direct
 * TLS connection wherever one can be made, and report when none can. */
#include "rotate/target.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/sha.h>

#include "common/util.h"
#include "talos/mconfig.h"
#include "talos/talm.h"
#include "talos/talos.h"
#include "x509/x509.h"

static int talos_creds_load(const struct hsmca_rot_plan *p, const char *path, void **out,
			    hsmca_error *err)
{
	struct hsmca_talos_creds *c = calloc(1, sizeof(*c));

	if (!c)
		return hsmca_error_set(err, "out of memory");
	if (hsmca_talos_creds_from_talosconfig(path, p->context[0] ? p->context : NULL, c, NULL,
					       NULL, err) != 0) {
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

static int talos_creds_from_pem(const char *ca_pem, const char *crt_pem, const char *key_pem,
				void **out, hsmca_error *err)
{
	struct hsmca_talos_creds *c = calloc(1, sizeof(*c));

	if (!c)
		return hsmca_error_set(err, "out of memory");
	if (hsmca_talos_creds_from_pem(ca_pem, crt_pem, key_pem, c, err) != 0) {
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

static void talos_creds_free(void *p)
{
	hsmca_talos_creds_clear(p);
	free(p);
}

static const char *talos_creds_cert(const void *p)
{
	return ((const struct hsmca_talos_creds *)p)->crt_pem;
}

static const char *talos_creds_ca(const void *p)
{
	return ((const struct hsmca_talos_creds *)p)->ca_pem;
}

static int talos_creds_write(const struct hsmca_rot_plan *p, const char *path, const char *crt_pem,
			     const char *key_pem, hsmca_error *err)
{
	return hsmca_talm_write_talosconfig(path, p->context, (const char *const *)p->endpoints,
					    (const char *const *)p->tc_nodes, p->node_ca_pem,
					    crt_pem, key_pem, err);
}

/* Whether a failure means "this endpoint cannot be used, try the next". */
static bool endpoint_down(const hsmca_error *e)
{
	return e->code == HSMCA_TALOS_E_UNREACHABLE || e->code == HSMCA_TALOS_E_TRANSPORT ||
	       e->code == HSMCA_GRPC_UNAVAILABLE || e->code == HSMCA_GRPC_DEADLINE_EXCEEDED;
}

/* A client for node n's calls, its Version already answered (into tag):
 * directly at n->dial (*node = NULL), or through the first endpoint of
 * n->via that answers, *node = n->addr for the `node` metadata.  The
 * connection is kept for the caller's further calls (reuse on).  A refusal
 * of the credential by an endpoint is an answer, not a reason to fail over. */
static int reach_node(const struct hsmca_rot_node *n, const void *creds, hsmca_talos_client **out,
		      const char **node, char *tag, size_t taglen, hsmca_error *err)
{
	const char *p = n->via;
	hsmca_error first = { "", 0 };

	if (!n->via[0]) {
		hsmca_talos_client *cl = NULL;

		if (hsmca_talos_client_new(creds, n->dial, &cl, err) != 0)
			return hsmca_error_prefix(err, "node %s", n->addr);
		hsmca_talos_client_set_reuse(cl, true);
		if (hsmca_talos_version(cl, NULL, tag, taglen, err) != 0) {
			hsmca_talos_client_free(cl);
			return -1;
		}
		*out = cl;
		*node = NULL;
		return 0;
	}
	while (*p) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		char ep[256];
		hsmca_talos_client *cl = NULL;
		hsmca_error e = { "", 0 };

		snprintf(ep, sizeof(ep), "%.*s", (int)(l < sizeof(ep) - 1 ? l : sizeof(ep) - 1), p);
		p += l + (c ? 1 : 0);
		if (hsmca_talos_client_new(creds, ep, &cl, &e) == 0) {
			hsmca_talos_client_set_reuse(cl, true);
			if (hsmca_talos_version(cl, n->addr, tag, taglen, &e) == 0) {
				*out = cl;
				*node = n->addr;
				return 0;
			}
			hsmca_talos_client_free(cl);
		}
		if (!first.msg[0])
			first = e;
		if (!endpoint_down(&e)) {
			*err = e;
			return -1;
		}
	}
	*err = first;
	return hsmca_error_prefix(err, "no endpoint of %s reaches node %s", n->via, n->addr);
}

static int talos_probe(const struct hsmca_rot_node *n, const void *creds, char *info,
		       size_t infolen, hsmca_error *err)
{
	hsmca_talos_client *cl = NULL;
	const char *node;
	char tag[64] = "";

	if (reach_node(n, creds, &cl, &node, tag, sizeof(tag), err) != 0)
		return -1;
	if (info && infolen)
		snprintf(info, infolen, "Version %s%s%s", tag, node ? " via " : "",
			 node ? hsmca_talos_client_endpoint(cl) : "");
	hsmca_talos_client_free(cl);
	return 0;
}

/* How long a direct attempt at a proxied node may take: such a node is
 * often simply not routable from here. */
#define DIRECT_TRY_MS 500u

/* The credential on a fresh direct TLS connection to the node's own apid.
 * For a node reached through endpoints, a node that cannot be dialled
 * (no route, nothing listening, another certificate) gives
 * HSMCA_ROT_E_NO_DIRECT: only a read-back of its config can then stand in. */
static int talos_probe_direct(const struct hsmca_rot_node *n, const void *creds, char *info,
			      size_t infolen, hsmca_error *err)
{
	hsmca_talos_client *cl = NULL;
	char tag[64] = "";
	int ret = -1;

	if (!n->via[0])
		return talos_probe(n, creds, info, infolen, err);
	if (hsmca_talos_client_new(creds, n->dial, &cl, err) != 0)
		return hsmca_error_prefix(err, "node %s", n->addr);
	hsmca_talos_client_set_deadline(cl, DIRECT_TRY_MS);
	if (hsmca_talos_version(cl, NULL, tag, sizeof(tag), err) != 0) {
		if (endpoint_down(err) || err->code == HSMCA_TALOS_E_SERVER_CERT)
			err->code = HSMCA_ROT_E_NO_DIRECT;
		goto out;
	}
	if (info && infolen)
		snprintf(info, infolen, "Version %s, direct", tag);
	ret = 0;
out:
	hsmca_talos_client_free(cl);
	return ret;
}

static bool talos_is_refusal(const hsmca_error *err)
{
	return err->code == HSMCA_TALOS_E_TLS_REFUSED;
}

static bool role_matches(const char *live, enum hsmca_rot_role want)
{
	if (want == HSMCA_ROT_CONTROLPLANE)
		return strcmp(live, "controlplane") == 0 || strcmp(live, "init") == 0;
	return strcmp(live, "worker") == 0;
}

/* SHA-256 of the DER of the first certificate in `pem`. */
static int pem_fp(const char *pem, uint8_t fp[32], hsmca_error *err)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int len = x ? i2d_X509(x, &der) : -1;

	BIO_free(b);
	X509_free(x);
	if (len <= 0) {
		OPENSSL_free(der);
		return hsmca_error_openssl(err, "CA certificate does not parse");
	}
	SHA256(der, (size_t)len, fp);
	OPENSSL_free(der);
	return 0;
}

static bool fp_listed(const uint8_t (*fps)[32], size_t n, const uint8_t fp[32])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(fps[i], fp, 32) == 0)
			return true;
	return false;
}

/* Read the machine config and check the role.  *yaml must be wiped by the
 * caller (it holds the node's keys). */
static int read_config(hsmca_talos_client *cl, const struct hsmca_rot_node *n, const char *node,
		       uint8_t **yaml, size_t *len, char *type, size_t typelen, hsmca_error *err)
{
	if (hsmca_talos_get_machine_config(cl, node, yaml, len, err) != 0)
		return -1;
	if (hsmca_mconfig_machine_type(*yaml, *len, type, typelen, err) != 0)
		return hsmca_error_prefix(err, "node %s: machine config", n->addr);
	return 0;
}

static void wipe_free(uint8_t **p, size_t *len)
{
	if (*p) {
		hsmca_wipe(*p, *len);
		free(*p);
	}
	*p = NULL;
	*len = 0;
}

int hsmca_rot_talos_set_trust(const struct hsmca_rot_node *n, const void *creds,
			      enum hsmca_mconfig_target which, const char *ca_pem, bool add,
			      bool *changed, hsmca_error *err)
{
	const char *list = which == HSMCA_MCONFIG_MACHINE_ACCEPTED ? "machine.acceptedCAs"
								   : "the Kubernetes API accepted CAs";
	hsmca_talos_client *cl = NULL;
	uint8_t *cfg = NULL, *edited = NULL, (*fps)[32] = NULL;
	size_t cfg_len = 0, edited_len = 0, nfp = 0;
	uint8_t fp[32];
	char type[32], tag[64];
	const char *node = NULL;
	bool ch = false;
	int ret = -1;

	if (pem_fp(ca_pem, fp, err) != 0 ||
	    reach_node(n, creds, &cl, &node, tag, sizeof(tag), err) != 0)
		return -1;
	/* Read, apply and read back on one connection (no trust question there);
	 * the confirmation below takes a new one. */
	if (read_config(cl, n, node, &cfg, &cfg_len, type, sizeof(type), err) != 0)
		goto out;
	if (!role_matches(type, n->role)) {
		hsmca_error_set(err, "node %s: its machine.type is \"%s\" but the plan says %s "
				     "(roles are never guessed: fix the node file or the "
				     "--control-plane-nodes/--worker-nodes lists)",
				n->addr, type, hsmca_rot_role_name(n->role));
		goto out;
	}
	if ((add ? hsmca_mconfig_accepted_add : hsmca_mconfig_accepted_remove)(
		    cfg, cfg_len, which, ca_pem, &edited, &edited_len, &ch, err) != 0) {
		hsmca_error_prefix(err, "node %s: %s", n->addr, list);
		goto out;
	}
	wipe_free(&cfg, &cfg_len);
	if (ch && hsmca_talos_apply_config(cl, node, edited, edited_len, HSMCA_TALOS_MODE_NO_REBOOT,
					   err) != 0)
		goto out;
	wipe_free(&edited, &edited_len);
	/* Read back: the node must now (not) list the CA. */
	if (read_config(cl, n, node, &cfg, &cfg_len, type, sizeof(type), err) != 0)
		goto out;
	if (hsmca_mconfig_accepted_list(cfg, cfg_len, which, &fps, &nfp, err) != 0) {
		hsmca_error_prefix(err, "node %s: %s", n->addr, list);
		goto out;
	}
	if (fp_listed((const uint8_t(*)[32])fps, nfp, fp) != add) {
		hsmca_error_set(err, "node %s: the CA is %s %s after the apply was accepted", n->addr,
				add ? "still missing from" : "still in", list);
		goto out;
	}
	/* The same credentials still open a new connection. */
	hsmca_talos_client_set_reuse(cl, false);
	if (hsmca_talos_version(cl, node, tag, sizeof(tag), err) != 0) {
		hsmca_error_prefix(err, "node %s: confirming Version after the change", n->addr);
		goto out;
	}
	*changed = ch;
	ret = 0;
out:
	free(fps);
	wipe_free(&cfg, &cfg_len);
	wipe_free(&edited, &edited_len);
	hsmca_talos_client_free(cl);
	return ret;
}

static int talos_set_trust(const struct hsmca_rot_node *n, const void *creds, const char *ca_pem,
			   bool add, bool *changed, hsmca_error *err)
{
	return hsmca_rot_talos_set_trust(n, creds, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem, add,
					 changed, err);
}

int hsmca_rot_talos_inspect(const struct hsmca_rot_node *n, const void *creds,
			    enum hsmca_mconfig_target which, const char *old_pem, const char *new_pem,
			    struct hsmca_rot_node_view *v, hsmca_error *err)
{
	hsmca_talos_client *cl = NULL;
	uint8_t *cfg = NULL, (*fps)[32] = NULL;
	size_t cfg_len = 0, nfp = 0;
	uint8_t fp[32];
	const char *node = NULL;
	int ret = -1;

	memset(v, 0, sizeof(*v));
	if (reach_node(n, creds, &cl, &node, v->version, sizeof(v->version), err) != 0)
		return -1;
	v->reachable = true;
	if (node)
		snprintf(v->reach, sizeof(v->reach), "through %s (node metadata %s)",
			 hsmca_talos_client_endpoint(cl), node);
	else
		snprintf(v->reach, sizeof(v->reach), "direct at %s", n->dial);
	if (read_config(cl, n, node, &cfg, &cfg_len, v->live_type, sizeof(v->live_type), err) != 0)
		goto out;
	/* Which proof the real run can give: a fresh direct TLS connection,
	 * or (no route to the node's own apid) its config read back. */
	v->direct = !node;
	if (node) {
		hsmca_error e = { "", 0 };

		v->direct = talos_probe_direct(n, creds, NULL, 0, &e) == 0 ||
			    talos_is_refusal(&e);
	}
	v->role_ok = role_matches(v->live_type, n->role);
	if (hsmca_mconfig_accepted_list(cfg, cfg_len, which, &fps, &nfp, err) != 0)
		goto out;
	v->n_accepted = nfp;
	if (old_pem) {
		if (pem_fp(old_pem, fp, err) != 0)
			goto out;
		v->trusts_old = fp_listed((const uint8_t(*)[32])fps, nfp, fp);
	}
	if (new_pem) {
		if (pem_fp(new_pem, fp, err) != 0)
			goto out;
		v->trusts_new = fp_listed((const uint8_t(*)[32])fps, nfp, fp);
	}
	ret = 0;
out:
	free(fps);
	wipe_free(&cfg, &cfg_len);
	hsmca_talos_client_free(cl);
	return ret;
}

static int talos_inspect(const struct hsmca_rot_node *n, const void *creds, const char *old_pem,
			 const char *new_pem, struct hsmca_rot_node_view *v, hsmca_error *err)
{
	return hsmca_rot_talos_inspect(n, creds, HSMCA_MCONFIG_MACHINE_ACCEPTED, old_pem, new_pem, v,
				       err);
}

static int talos_file_trust(const char *path, const char *ca_pem, bool add, bool *changed,
			    hsmca_error *err)
{
	return (add ? hsmca_talm_node_accepted_add : hsmca_talm_node_accepted_remove)(
		path, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem, changed, err);
}

const struct hsmca_rot_target hsmca_rot_target_talos = {
	.name = "talos",
	.title = "Talos API",
	.client_profile = "talos-admin",
	.client_cn = "hsmca-admin",
	.probe_profile = "talos-reader",
	.cred_kind = "talosconfig",
	.settle_seconds = 30,
	.creds_load = talos_creds_load,
	.creds_from_pem = talos_creds_from_pem,
	.creds_free = talos_creds_free,
	.creds_cert = talos_creds_cert,
	.creds_ca = talos_creds_ca,
	.creds_write = talos_creds_write,
	.probe = talos_probe,
	.probe_direct = talos_probe_direct,
	.is_refusal = talos_is_refusal,
	.set_trust = talos_set_trust,
	.inspect = talos_inspect,
	.file_trust = talos_file_trust,
};

const struct hsmca_rot_target *hsmca_rot_target_find(const char *name)
{
	if (name && strcmp(name, "talos") == 0)
		return &hsmca_rot_target_talos;
	if (name && strcmp(name, "kubernetes") == 0)
		return &hsmca_rot_target_kube;
	return NULL;
}
