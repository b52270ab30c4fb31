/* Verifying a response bundle online, against the anchor and the request. */
#include "bundle/bundle.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "audit/checkpoint.h"
#include "ca/ca.h"
#include "common/b64.h"
#include "common/util.h"

#define RESP_FORMAT "hsmca-response-v1"
#define MANIFEST_DOMAIN "hsmca-response-manifest-v1\n"

struct resp {
	json_object *m;
	X509 *anchor, *ca;
	STACK_OF(X509) *chain; /* chain.pem after the issuing CA */
};

static const char *jget(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

static X509 *pem_cert(const uint8_t *data, size_t len)
{
	BIO *b = BIO_new_mem_buf(data, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

static void spki_of(X509 *x, char out[65])
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

	out[0] = '\0';
	if (n > 0)
		hsmca_bundle_sha256(der, (size_t)n, out);
	OPENSSL_free(der);
}

/* Does x chain to the anchor, through chain.pem? */
static int chains(struct resp *r, X509 *x, const char *what, hsmca_error *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0, code = 0;

	if (st && ctx && X509_STORE_add_cert(st, r->anchor) == 1) {
		STACK_OF(X509) *untrusted = sk_X509_dup(r->chain);

		if (untrusted && sk_X509_push(untrusted, r->ca) &&
		    X509_STORE_CTX_init(ctx, st, x, untrusted) == 1) {
			ok = X509_verify_cert(ctx) == 1;
			code = X509_STORE_CTX_get_error(ctx);
		}
		sk_X509_free(untrusted);
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	if (!ok)
		return hsmca_error_set(err, "%s does not chain to the anchor (%s)", what,
				       X509_verify_cert_error_string(code));
	return 0;
}

static int load_chain(struct resp *r, const struct hsmca_bundle *b, const char *anchor,
		      hsmca_error *err)
{
	const struct hsmca_bundle_file *f = hsmca_bundle_get(b, "chain.pem");
	FILE *af = fopen(anchor, "re");
	BIO *bio;
	X509 *x;

	if (!af)
		return hsmca_error_errno(err, "cannot open the anchor %s", anchor);
	r->anchor = PEM_read_X509(af, NULL, NULL, NULL);
	fclose(af);
	if (!r->anchor)
		return hsmca_error_set(err, "anchor %s is not a PEM certificate", anchor);
	if (!f)
		return hsmca_error_set(err, "chain.pem: missing");
	r->chain = sk_X509_new_null();
	bio = BIO_new_mem_buf(f->data, (int)f->len);
	if (!r->chain || !bio) {
		BIO_free(bio);
		return hsmca_error_set(err, "out of memory");
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!r->ca)
			r->ca = x;
		else
			sk_X509_push(r->chain, x);
	}
	BIO_free(bio);
	if (!r->ca)
		return hsmca_error_set(err, "chain.pem: no certificate in it");
	return chains(r, r->ca, "chain.pem: the issuing CA", err);
}

static int check_signature(struct resp *r, const struct hsmca_bundle *b, hsmca_error *err)
{
	const struct hsmca_bundle_file *mf = hsmca_bundle_get(b, "manifest.json");
	const struct hsmca_bundle_file *sf = hsmca_bundle_get(b, "manifest.sig");
	enum hsmca_sigalg alg;
	char algid[64], *nl;
	uint8_t *sig = NULL, *msg = NULL;
	size_t siglen = 0;
	int ret = -1;

	if (!mf || !sf)
		return hsmca_error_set(err, "%s: missing", mf ? "manifest.sig" : "manifest.json");
	nl = memchr(sf->data, '\n', sf->len);
	if (!nl || (size_t)(nl - (char *)sf->data) >= sizeof(algid))
		return hsmca_error_set(err, "manifest.sig: malformed");
	memcpy(algid, sf->data, (size_t)(nl - (char *)sf->data));
	algid[nl - (char *)sf->data] = '\0';
	if (hsmca_sigalg_from_id(algid, &alg, err) != 0 ||
	    hsmca_b64_decode(nl + 1, sf->len - (size_t)(nl + 1 - (char *)sf->data), "manifest.sig",
			     &sig, &siglen, err) != 0)
		return hsmca_error_prefix(err, "manifest.sig");
	msg = malloc(sizeof(MANIFEST_DOMAIN) + mf->len);
	if (!msg) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(msg, MANIFEST_DOMAIN, sizeof(MANIFEST_DOMAIN) - 1);
	memcpy(msg + sizeof(MANIFEST_DOMAIN) - 1, mf->data, mf->len);
	if (hsmca_verify_sig(X509_get0_pubkey(r->ca), alg, msg, sizeof(MANIFEST_DOMAIN) - 1 + mf->len,
			     sig, siglen, err) != 0) {
		hsmca_error_set(err, "manifest.json: its signature does not verify with the issuing "
				     "CA's key (the manifest was edited, or not signed by this CA)");
		goto out;
	}
	r->m = json_tokener_parse((const char *)mf->data);
	if (!r->m || !json_object_is_type(r->m, json_type_object) || !jget(r->m, "format") ||
	    strcmp(jget(r->m, "format"), RESP_FORMAT) != 0) {
		hsmca_error_set(err, "manifest.json: not an %s manifest", RESP_FORMAT);
		goto out;
	}
	ret = 0;
out:
	free(sig);
	free(msg);
	return ret;
}

static const char *listed_hash(json_object *files, const char *name)
{
	size_t i;

	for (i = 0; i < json_object_array_length(files); i++) {
		json_object *f = json_object_array_get_idx(files, i);
		const char *n = jget(f, "name");

		if (n && strcmp(n, name) == 0)
			return jget(f, "sha256");
	}
	return NULL;
}

static int check_certs(struct resp *r, const struct hsmca_bundle *b,
		       const struct hsmca_bundle_request *req, json_object *files, size_t *issued,
		       size_t *refused, hsmca_error *err)
{
	json_object *certs, *ref;
	unsigned char *answered = calloc(req->n + 1, 1);
	size_t i;
	int ret = -1;

	if (!answered)
		return hsmca_error_set(err, "out of memory");
	if (!json_object_object_get_ex(r->m, "certs", &certs) ||
	    !json_object_is_type(certs, json_type_array) ||
	    !json_object_object_get_ex(r->m, "refused", &ref) ||
	    !json_object_is_type(ref, json_type_array)) {
		hsmca_error_set(err, "manifest.json: \"certs\" or \"refused\" is missing");
		goto out;
	}
	for (i = 0; i < json_object_array_length(certs); i++) {
		json_object *c = json_object_array_get_idx(certs, i);
		int64_t idx = jint(c, "index");
		const char *file = jget(c, "file"), *want;
		const struct hsmca_bundle_file *f = file ? hsmca_bundle_get(b, file) : NULL;
		char h[65], spki[65], what[160];
		X509 *x;

		if (idx < 1 || (size_t)idx > req->n || answered[idx] || !file) {
			hsmca_error_set(err, "manifest.json: certificate entry %zu answers CSR %lld, "
					     "which the request does not have or which is answered twice",
					i + 1, (long long)idx);
			goto out;
		}
		answered[idx] = 1;
		if (!f) {
			hsmca_error_set(err, "%s: listed but missing from the bundle", file);
			goto out;
		}
		want = req->csrs[idx - 1].spki_sha256;
		x = pem_cert(f->data, f->len);
		hsmca_bundle_sha256(f->data, f->len, h);
		if (x)
			spki_of(x, spki);
		/* A certificate the CA really signed, for another key, is a
		 * substitution; anything else that does not hash as listed is an
		 * alteration. */
		if (!listed_hash(files, file) || strcmp(listed_hash(files, file), h) != 0) {
			if (x && X509_verify(x, X509_get0_pubkey(r->ca)) == 1 && strcmp(spki, want) != 0)
				hsmca_error_set(err, "%s: a certificate for another key (SPKI SHA-256 "
						     "%.16s…) substituted for the one answering CSR %lld "
						     "(%s, key %.16s…)",
						file, spki, (long long)idx, req->csrs[idx - 1].source, want);
			else
				hsmca_error_set(err, "%s: altered (its SHA-256 does not match the manifest)",
						file);
			X509_free(x);
			goto out;
		}
		if (x && strcmp(spki, want) != 0) {
			hsmca_error_set(err, "%s: its key is not the key of CSR %lld (%s)", file,
					(long long)idx, req->csrs[idx - 1].source);
			X509_free(x);
			goto out;
		}
		if (!x) {
			hsmca_error_set(err, "%s: not a PEM certificate", file);
			goto out;
		}
		snprintf(what, sizeof(what), "%s (CSR %lld)", file, (long long)idx);
		if (X509_verify(x, X509_get0_pubkey(r->ca)) != 1) {
			hsmca_error_set(err, "%s: not signed by the issuing CA", what);
			X509_free(x);
			goto out;
		}
		if (chains(r, x, what, err) != 0) {
			X509_free(x);
			goto out;
		}
		X509_free(x);
		(*issued)++;
	}
	for (i = 0; i < json_object_array_length(ref); i++) {
		int64_t idx = jint(json_object_array_get_idx(ref, i), "index");

		if (idx < 1 || (size_t)idx > req->n || answered[idx]) {
			hsmca_error_set(err, "manifest.json: refused entry %zu names CSR %lld, which the "
					     "request does not have or which is answered twice",
					i + 1, (long long)idx);
			goto out;
		}
		answered[idx] = 1;
		(*refused)++;
	}
	for (i = 1; i <= req->n; i++) {
		if (!answered[i]) {
			hsmca_error_set(err, "CSR %zu (%s) is neither issued nor refused in the response",
					i, req->csrs[i - 1].source);
			goto out;
		}
	}
	ret = 0;
out:
	free(answered);
	return ret;
}

static int check_files(const struct hsmca_bundle *b, json_object *files, hsmca_error *err)
{
	size_t i;

	for (i = 0; i < json_object_array_length(files); i++) {
		json_object *o = json_object_array_get_idx(files, i);
		const char *name = jget(o, "name"), *want = jget(o, "sha256");
		const struct hsmca_bundle_file *f = name ? hsmca_bundle_get(b, name) : NULL;
		char h[65];

		if (!name || !want)
			return hsmca_error_set(err, "manifest.json: file entry %zu is malformed", i + 1);
		if (!f)
			return hsmca_error_set(err, "%s: listed in the manifest but missing", name);
		hsmca_bundle_sha256(f->data, f->len, h);
		if (strcmp(h, want) != 0)
			return hsmca_error_set(err, "%s: altered (its SHA-256 does not match the "
						    "manifest)", name);
	}
	for (i = 0; i < b->n; i++) {
		const char *name = b->files[i].name;

		if (strcmp(name, "manifest.json") != 0 && strcmp(name, "manifest.sig") != 0 &&
		    !listed_hash(files, name))
			return hsmca_error_set(err, "%s: in the bundle but not in its manifest (added)",
					       name);
	}
	return 0;
}

static int check_crl(struct resp *r, const struct hsmca_bundle *b, hsmca_error *err)
{
	const struct hsmca_bundle_file *f = hsmca_bundle_get(b, "crl.pem");
	BIO *bio = f ? BIO_new_mem_buf(f->data, (int)f->len) : NULL;
	X509_CRL *crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
	int ok = crl && X509_CRL_verify(crl, X509_get0_pubkey(r->ca)) == 1 &&
		 X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(r->ca)) == 0;

	X509_CRL_free(crl);
	BIO_free(bio);
	return ok ? 0 : hsmca_error_set(err, "crl.pem: missing, or not a CRL signed by the issuing CA");
}

static int check_audit(struct resp *r, const struct hsmca_bundle *b, const char *audit_anchor,
		       const char *request_id, struct hsmca_bundle_verified *v, hsmca_error *err)
{
	const struct hsmca_bundle_file *f = hsmca_bundle_get(b, "audit.jsonl");
	json_object *mc;
	struct hsmca_checkpoint cp;
	EVP_PKEY *key = NULL;
	int ret = -1;

	if (!f)
		return hsmca_error_set(err, "audit.jsonl: missing");
	if (!json_object_object_get_ex(r->m, "checkpoint", &mc))
		return hsmca_error_set(err, "manifest.json: no checkpoint");
	if (!strstr((const char *)f->data, request_id))
		return hsmca_error_set(err, "audit.jsonl: does not record the signing of this request");
	if (!audit_anchor)
		return 0;
	if (hsmca_checkpoint_load_anchor(audit_anchor, &key, err) != 0)
		return -1;
	if (hsmca_checkpoint_verify_excerpt((const char *)f->data, f->len, key, &cp, &v->audit_first,
					    &v->audit_last, err) != 0) {
		hsmca_error_prefix(err, "audit.jsonl");
		goto out;
	}
	if ((size_t)jint(mc, "seq") != cp.seq || !jget(mc, "hash") || strcmp(jget(mc, "hash"), cp.hash) != 0) {
		hsmca_error_set(err, "audit.jsonl: its checkpoint is not the one the manifest names");
		goto out;
	}
	v->checkpoint = cp.number;
	v->checkpoint_verified = true;
	ret = 0;
out:
	EVP_PKEY_free(key);
	return ret;
}

int hsmca_bundle_verify(const struct hsmca_bundle *resp, const char *anchor_pem,
			const struct hsmca_bundle_request *req, const char *audit_anchor,
			struct hsmca_bundle_verified *out, hsmca_error *err)
{
	struct resp r;
	struct hsmca_bundle_verified v;
	json_object *files;
	const char *rid, *rsha, *ca;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	memset(&v, 0, sizeof(v));
	if (load_chain(&r, resp, anchor_pem, err) != 0 || check_signature(&r, resp, err) != 0)
		goto out;
	rid = jget(r.m, "request_id");
	rsha = jget(r.m, "request_sha256");
	ca = jget(r.m, "ca");
	if (!rid || !rsha || !ca || !json_object_object_get_ex(r.m, "files", &files) ||
	    !json_object_is_type(files, json_type_array)) {
		hsmca_error_set(err, "manifest.json: request_id, request_sha256, ca or files missing");
		goto out;
	}
	if (strcmp(rsha, req->sha256) != 0 || strcmp(rid, req->id) != 0) {
		hsmca_error_set(err, "manifest.json: the response answers request %s (SHA-256 %.16s…), "
				     "not this request %s (SHA-256 %.16s…): a replayed or misdirected "
				     "response", rid, rsha, req->id, req->sha256);
		goto out;
	}
	if (strcmp(ca, req->ca) != 0) {
		hsmca_error_set(err, "manifest.json: signed by CA %s, the request asked for %s", ca,
				req->ca);
		goto out;
	}
	if (check_certs(&r, resp, req, files, &v.issued, &v.refused, err) != 0 ||
	    check_files(resp, files, err) != 0 || check_crl(&r, resp, err) != 0 ||
	    check_audit(&r, resp, audit_anchor, req->id, &v, err) != 0)
		goto out;
	snprintf(v.request_id, sizeof(v.request_id), "%s", rid);
	snprintf(v.ca, sizeof(v.ca), "%s", ca);
	*out = v;
	ret = 0;
out:
	json_object_put(r.m);
	X509_free(r.anchor);
	X509_free(r.ca);
	sk_X509_pop_free(r.chain, X509_free);
	return ret;
}

int hsmca_bundle_response_request_id(const struct hsmca_bundle *resp, char id[33],
				     hsmca_error *err)
{
	const struct hsmca_bundle_file *mf = hsmca_bundle_get(resp, "manifest.json");
	json_object *m = mf ? json_tokener_parse((const char *)mf->data) : NULL;
	const char *rid = m ? jget(m, "request_id") : NULL;
	int ret = 0;

	if (!rid || strlen(rid) != 32)
		ret = hsmca_error_set(err, "manifest.json: missing, or without a request_id");
	else
		memcpy(id, rid, 33);
	json_object_put(m);
	return ret;
}
