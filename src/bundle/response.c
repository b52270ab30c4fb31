/* Signing a request offline: issue, CRL, checkpoint, signed response. */
#include "bundle/bundle.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit/checkpoint.h"
#include "ca/ca.h"
#include "common/b64.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "issue/issue.h"
#include "issue/profile.h"
#include "store/crl.h"
#include "x509/der.h"

#define RESP_FORMAT "hsmca-response-v1"
/* Domain separation: the CA key signs X.509 structures (DER, starting with
 * 0x30) and these manifests, which start with this text. */
#define MANIFEST_DOMAIN "hsmca-response-manifest-v1\n"
#define CRL_NEXT_UPDATE (30 * 86400)

/* chain.pem: the issuing CA, then its parents up to the root. */
static int chain_pem(const char *home, const struct hsmca_ca *ca, struct hsmca_bundle *b,
		     hsmca_error *err)
{
	char *all = NULL, *pem;
	size_t used = 0, len, depth;
	struct hsmca_ca *cur = NULL;
	const struct hsmca_ca *c = ca;
	int ret = -1;

	for (depth = 0; c && depth < 8; depth++) {
		char *p;

		pem = hsmca_pem_encode("CERTIFICATE", c->der, c->der_len, &len);
		p = pem ? realloc(all, used + len + 1) : NULL;
		if (!p) {
			free(pem);
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		all = p;
		memcpy(all + used, pem, len);
		used += len;
		free(pem);
		if (!c->parent[0])
			break;
		{
			struct hsmca_ca *next = NULL;

			if (hsmca_ca_load(home, c->parent, &next, err) != 0)
				goto out;
			hsmca_ca_free(cur);
			cur = next;
			c = cur;
		}
	}
	ret = hsmca_bundle_add(b, "chain.pem", all, used, err);
out:
	hsmca_ca_free(cur);
	free(all);
	return ret;
}

static size_t audit_lines_now(const char *home, hsmca_error *err, int *rc)
{
	char path[PATH_MAX];
	size_t lines = 0, bad = 0;

	*rc = hsmca_path_join(path, sizeof(path), err, "%s/audit.log", home);
	if (*rc == 0)
		*rc = hsmca_audit_verify(path, &lines, &bad, err);
	return lines;
}

struct signing {
	struct hsmca_session *s;
	struct hsmca_bundle_request req;
	struct hsmca_bundle out;
	json_object *certs, *refused;
	size_t issued, n_refused;
};

static int issue_all(struct signing *g, const struct hsmca_bundle_sign_ops *ops, hsmca_error *err)
{
	size_t i;

	for (i = 0; i < g->req.n; i++) {
		struct hsmca_bundle_csr *c = &g->req.csrs[i];
		struct hsmca_issue_request ir;
		struct hsmca_bundle_result r;
		struct hsmca_issued cert;
		hsmca_error why = { "", 0 };

		memset(&ir, 0, sizeof(ir));
		memset(&r, 0, sizeof(r));
		memset(&cert, 0, sizeof(cert));
		ir.ca = g->req.ca;
		ir.profile = g->req.profile;
		ir.csr = c->data;
		ir.csr_len = c->len;
		ir.validity = g->req.validity;
		if (hsmca_issue_one(g->s, &ir, &cert, &why) == 0) {
			char name[32], spki[65];
			size_t pem_len = 0;
			char *pem = hsmca_pem_encode("CERTIFICATE", cert.der, cert.der_len, &pem_len);
			json_object *o;

			r.issued = true;
			hsmca_hex(cert.serial, cert.serial_len, r.serial);
			snprintf(name, sizeof(name), "certs/%04u.pem", c->index);
			if (!pem || hsmca_bundle_add(&g->out, name, pem, pem_len, err) != 0) {
				free(pem);
				hsmca_issued_clear(&cert);
				return pem ? -1 : hsmca_error_set(err, "out of memory");
			}
			free(pem);
			memcpy(spki, c->spki_sha256, sizeof(spki));
			o = json_object_new_object();
			json_object_object_add(o, "index", json_object_new_int(c->index));
			json_object_object_add(o, "file", json_object_new_string(name));
			json_object_object_add(o, "serial", json_object_new_string(r.serial));
			json_object_object_add(o, "subject", json_object_new_string(cert.subject));
			json_object_object_add(o, "spki_sha256", json_object_new_string(spki));
			json_object_array_add(g->certs, o);
			g->issued++;
		} else {
			json_object *o = json_object_new_object();

			snprintf(r.reason, sizeof(r.reason), "%s", why.msg);
			json_object_object_add(o, "index", json_object_new_int(c->index));
			json_object_object_add(o, "reason", json_object_new_string(why.msg));
			json_object_array_add(g->refused, o);
			g->n_refused++;
		}
		hsmca_issued_clear(&cert);
		if (ops && ops->result)
			ops->result(ops->arg, c, &r);
	}
	return 0;
}

/* The manifest over every file so far, signed by the CA key in the token. */
static int seal(struct signing *g, const struct hsmca_ca *ca, const struct hsmca_checkpoint *cp,
		hsmca_error *err)
{
	json_object *m = json_object_new_object(), *files = json_object_new_array(), *c;
	const char *text;
	uint8_t sig[HSMCA_SIG_MAX], *msg = NULL;
	size_t siglen = sizeof(sig), tlen, i;
	hsmca_key *key = NULL;
	char *b64 = NULL, *sigfile = NULL, now[21];
	int ret = -1;

	json_object_object_add(m, "format", json_object_new_string(RESP_FORMAT));
	json_object_object_add(m, "request_id", json_object_new_string(g->req.id));
	json_object_object_add(m, "request_sha256", json_object_new_string(g->req.sha256));
	json_object_object_add(m, "ca", json_object_new_string(ca->name));
	json_object_object_add(m, "profile", json_object_new_string(g->req.profile));
	hsmca_format_time(hsmca_now(), now);
	json_object_object_add(m, "time", json_object_new_string(now));
	json_object_object_add(m, "token_serial",
			       json_object_new_string(hsmca_token_get_info(g->s->token)->serial));
	json_object_object_add(m, "signature_algorithm",
			       json_object_new_string(hsmca_sigalg_id(ca->sigalg)));
	for (i = 0; i < g->out.n; i++) {
		json_object *f = json_object_new_object();
		char h[65];

		hsmca_bundle_sha256(g->out.files[i].data, g->out.files[i].len, h);
		json_object_object_add(f, "name", json_object_new_string(g->out.files[i].name));
		json_object_object_add(f, "sha256", json_object_new_string(h));
		json_object_array_add(files, f);
	}
	json_object_object_add(m, "files", files);
	json_object_object_add(m, "certs", json_object_get(g->certs));
	json_object_object_add(m, "refused", json_object_get(g->refused));
	c = json_object_new_object();
	json_object_object_add(c, "number", json_object_new_int64((int64_t)cp->number));
	json_object_object_add(c, "seq", json_object_new_int64((int64_t)cp->seq));
	json_object_object_add(c, "hash", json_object_new_string(cp->hash));
	json_object_object_add(m, "checkpoint", c);
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	tlen = strlen(text);
	msg = malloc(sizeof(MANIFEST_DOMAIN) + tlen);
	if (!msg) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(msg, MANIFEST_DOMAIN, sizeof(MANIFEST_DOMAIN) - 1);
	memcpy(msg + sizeof(MANIFEST_DOMAIN) - 1, text, tlen);
	if (hsmca_ca_open_key(g->s, ca, &key, err) != 0 ||
	    hsmca_key_sign(key, ca->sigalg, msg, sizeof(MANIFEST_DOMAIN) - 1 + tlen, sig, &siglen,
			   err) != 0 ||
	    hsmca_verify_sig(hsmca_key_pkey(key), ca->sigalg, msg, sizeof(MANIFEST_DOMAIN) - 1 + tlen,
			     sig, siglen, err) != 0 ||
	    hsmca_b64_encode(sig, siglen, &b64, err) != 0)
		goto out;
	if (asprintf(&sigfile, "%s\n%s\n", hsmca_sigalg_id(ca->sigalg), b64) < 0) {
		sigfile = NULL;
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	{
		/* manifest.json and its signature lead the archive. */
		struct hsmca_bundle ordered = { NULL, 0 };
		int rc = hsmca_bundle_add(&ordered, "manifest.json", text, tlen, err);

		if (rc == 0)
			rc = hsmca_bundle_add(&ordered, "manifest.sig", sigfile, strlen(sigfile), err);
		for (i = 0; rc == 0 && i < g->out.n; i++)
			rc = hsmca_bundle_add(&ordered, g->out.files[i].name, g->out.files[i].data,
					      g->out.files[i].len, err);
		hsmca_bundle_clear(&g->out);
		g->out = ordered;
		if (rc != 0)
			goto out;
	}
	ret = 0;
out:
	hsmca_key_free(key);
	free(sigfile);
	free(b64);
	free(msg);
	json_object_put(m);
	return ret;
}

int hsmca_bundle_sign(struct hsmca_session *s, const char *req_path, const char *out,
		      const struct hsmca_bundle_sign_ops *ops, size_t *issued, size_t *refused,
		      bool *declined, hsmca_error *err)
{
	struct signing g;
	struct hsmca_bundle in = { NULL, 0 };
	struct hsmca_profile_def prof;
	struct hsmca_checkpoint cp;
	struct hsmca_ca *ca = NULL;
	struct hsmca_der crl;
	char *excerpt = NULL, *crl_pem = NULL, logp[PATH_MAX], count[2][24];
	size_t first, elen = 0, crl_len = 0;
	hsmca_key *key = NULL;
	int rc, ret = -1;

	memset(&g, 0, sizeof(g));
	hsmca_der_init(&crl);
	*declined = false;
	g.s = s;
	g.certs = json_object_new_array();
	g.refused = json_object_new_array();
	if (hsmca_bundle_read(req_path, &in, err) != 0 ||
	    hsmca_bundle_request_load(&in, &g.req, err) != 0) {
		hsmca_error_prefix(err, "request %s", req_path);
		goto out;
	}
	/* Everything checkable before the review: the CA, its key, the profile. */
	if (hsmca_ca_load(s->home, g.req.ca, &ca, err) != 0 ||
	    hsmca_ca_open_key(s, ca, &key, err) != 0 ||
	    hsmca_profile_get(s->home, g.req.profile, &prof, err) != 0)
		goto out;
	if (ops && ops->review && !ops->review(ops->arg, &g.req)) {
		*declined = true;
		hsmca_error_set(err, "not confirmed; nothing was signed");
		goto out;
	}
	first = audit_lines_now(s->home, err, &rc) + 1;
	if (rc != 0)
		goto out;
	{
		char nreq[24];
		const char *d[] = { "request_id", g.req.id, "request_sha256", g.req.sha256,
				    "csrs", nreq, "profile", g.req.profile, "requester",
				    g.req.requester, NULL };

		snprintf(nreq, sizeof(nreq), "%zu", g.req.n);
		if (hsmca_session_audit(s, "bundle-sign-begin", g.req.ca, "ok", d, err) != 0)
			goto out;
	}
	if (issue_all(&g, ops, err) != 0 || chain_pem(s->home, ca, &g.out, err) != 0)
		goto out;
	if (hsmca_crl_build(s, ca, CRL_NEXT_UPDATE, &crl, NULL, err) != 0)
		goto out;
	crl_pem = hsmca_pem_encode("X509 CRL", crl.buf, crl.len, &crl_len);
	if (!crl_pem || hsmca_bundle_add(&g.out, "crl.pem", crl_pem, crl_len, err) != 0) {
		if (!crl_pem)
			hsmca_error_set(err, "out of memory");
		goto out;
	}
	snprintf(count[0], sizeof(count[0]), "%zu", g.issued);
	snprintf(count[1], sizeof(count[1]), "%zu", g.n_refused);
	{
		const char *d[] = { "request_id", g.req.id, "issued", count[0], "refused", count[1],
				    NULL };

		if (hsmca_session_audit(s, "bundle-sign-end", g.req.ca, "ok", d, err) != 0)
			goto out;
	}
	if (hsmca_checkpoint_sign(s->token, s->home, s->audit, &cp, err) != 0 ||
	    hsmca_path_join(logp, sizeof(logp), err, "%s/audit.log", s->home) != 0 ||
	    hsmca_audit_lines(logp, first, cp.seq, &excerpt, &elen, err) != 0)
		goto out;
	{
		char *all = malloc(elen + strlen(cp.line) + 2);

		if (!all) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		memcpy(all, excerpt, elen);
		elen += (size_t)sprintf(all + elen, "%s\n", cp.line);
		rc = hsmca_bundle_add(&g.out, "audit.jsonl", all, elen, err);
		free(all);
		if (rc != 0)
			goto out;
	}
	if (seal(&g, ca, &cp, err) != 0 || hsmca_bundle_write(out, &g.out, err) != 0)
		goto out;
	*issued = g.issued;
	*refused = g.n_refused;
	ret = 0;
out:
	free(excerpt);
	free(crl_pem);
	hsmca_der_free(&crl);
	hsmca_key_free(key);
	hsmca_ca_free(ca);
	json_object_put(g.certs);
	json_object_put(g.refused);
	hsmca_bundle_clear(&g.out);
	hsmca_bundle_request_clear(&g.req);
	hsmca_bundle_clear(&in);
	return ret;
}
