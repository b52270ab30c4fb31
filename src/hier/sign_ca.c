/* CA certificates signed by a CA of this state directory: a sub-CA made in
 * one step (`ca init --issuer`) and cross-signatures (`ca cross-sign`). */
#include "hier/hier_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "common/sha2.h"
#include "common/util.h"
#include "store/records.h"
#include "x509/x509.h"

/* Clock skew tolerated for notBefore, as issuance does. */
#define SKEW 300

static int fresh_serial(hsmca_token *tok, hsmca_records *r, uint8_t serial[20], hsmca_error *err)
{
	int i, rc = 1;

	for (i = 0; rc == 1 && i < 8; i++) {
		if (hsmca_serial_random(tok, serial, 20, err) != 0)
			return -1;
		rc = hsmca_records_reserve_serial(r, serial, 20, err);
		if (rc < 0)
			return -1;
	}
	if (rc == 1)
		return hsmca_error_set(err, "the token's random generator returned 8 serials already "
					    "in use; refusing to issue (is the token's RNG broken?)");
	return 0;
}

static void ca_extensions(struct hsmca_der *d, const struct hsmca_ca *signer,
			  const struct hsmca_hier_cacert *req)
{
	size_t seq = hsmca_der_begin(d, DER_SEQUENCE);

	hsmca_ext_basic_constraints(d, true, req->path_len);
	hsmca_ext_key_usage(d, HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN);
	hsmca_ext_ski(d, req->ski);
	hsmca_ext_aki(d, signer->ski);
	hsmca_ext_ca_urls(d, signer->crl_url, signer->issuer_url);
	hsmca_der_end(d, seq);
}

static int record(struct hsmca_session *s, const struct hsmca_ca *signer, hsmca_records *r,
		  const char *uri, const struct hsmca_hier_cacert *req, const uint8_t serial[20],
		  const struct hsmca_der *cert, hsmca_error *err)
{
	struct hsmca_record rec;
	char serial_hex[41];

	memset(&rec, 0, sizeof(rec));
	memcpy(rec.serial, serial, 20);
	rec.serial_len = 20;
	hsmca_name_format(req->subject, req->subject_len, rec.subject, sizeof(rec.subject));
	snprintf(rec.profile, sizeof(rec.profile), "%s", req->kind);
	rec.not_before = req->not_before;
	rec.not_after = req->not_after;
	rec.issued_at = hsmca_now();
	hsmca_sha2(256, req->spki, req->spki_len, rec.csr_key_sha256);
	hsmca_sha2(256, cert->buf, cert->len, rec.cert_sha256);
	hsmca_hex(serial, 20, serial_hex);
	{
		const char *d[] = { "ca", signer->name, "kind", req->kind, "serial", serial_hex,
				    "subject", rec.subject, NULL };

		if (hsmca_session_audit(s, "sign", uri, "ok", d, err) != 0)
			return -1;
	}
	if (hsmca_records_append(r, &rec, err) != 0 || hsmca_records_sync(r, err) != 0)
		return -1;
	return 0;
}

int hsmca_hier_sign_ca(struct hsmca_session *s, const struct hsmca_ca *signer,
		       const struct hsmca_hier_cacert *req, struct hsmca_der *out, hsmca_error *err)
{
	struct hsmca_der exts, tbs, cert;
	struct hsmca_lint_expect ex;
	struct hsmca_tbs t;
	hsmca_records *r = NULL;
	hsmca_key *key = NULL;
	uint8_t serial[20];
	char uri[1024];
	int ret = -1;

	hsmca_der_init(&exts);
	hsmca_der_init(&tbs);
	hsmca_der_init(&cert);
	if (signer->not_after <= hsmca_now())
		return hsmca_error_set(err, "CA '%s' expired; it can no longer sign", signer->name);
	if (hsmca_ca_open_key(s, signer, &key, err) != 0 || hsmca_key_uri(key, uri, sizeof(uri), err) != 0 ||
	    hsmca_records_open(signer->dir, &r, err) != 0 || fresh_serial(s->token, r, serial, err) != 0)
		goto out;
	ca_extensions(&exts, signer, req);
	memset(&t, 0, sizeof(t));
	t.sigalg = signer->sigalg;
	memcpy(t.serial, serial, 20);
	t.serial_len = 20;
	t.issuer = signer->subject_der;
	t.issuer_len = signer->subject_der_len;
	t.subject = req->subject;
	t.subject_len = req->subject_len;
	t.not_before = req->not_before;
	t.not_after = req->not_after;
	t.spki = req->spki;
	t.spki_len = req->spki_len;
	t.extensions = exts.buf;
	t.extensions_len = exts.len;
	hsmca_tbs_encode(&tbs, &t);
	if (!hsmca_der_ok(&exts) || !hsmca_der_ok(&tbs)) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memset(&ex, 0, sizeof(ex));
	ex.ca = true;
	ex.path_len = req->path_len;
	ex.ku = HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN;
	ex.issuer_not_after = signer->not_after;
	if (hsmca_lint_tbs(tbs.buf, tbs.len, &ex, err) != 0)
		goto out;
	if (hsmca_signed_assemble(key, signer->sigalg, tbs.buf, tbs.len, &cert, err) != 0) {
		const char *d[] = { "ca", signer->name, "kind", req->kind, "reason", err->msg, NULL };

		hsmca_session_audit(s, "sign", uri, "failed", d, NULL);
		goto out;
	}
	if (!hsmca_signed_holds_tbs(cert.buf, cert.len, tbs.buf, tbs.len)) {
		hsmca_error_set(err, "internal: the signed certificate does not hold the linted TBS");
		goto out;
	}
	if (hsmca_cert_check(cert.buf, cert.len, X509_get0_pubkey(signer->x509), NULL, err) != 0 ||
	    record(s, signer, r, uri, req, serial, &cert, err) != 0)
		goto out;
	hsmca_der_free(out);
	*out = cert;
	hsmca_der_init(&cert);
	ret = 0;
out:
	hsmca_records_close(r);
	hsmca_key_free(key);
	hsmca_der_free(&exts);
	hsmca_der_free(&tbs);
	hsmca_der_free(&cert);
	return ret;
}

static long cert_path_len(X509 *x, bool *is_ca)
{
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	long pl = bc && bc->ca && bc->pathlen ? ASN1_INTEGER_get(bc->pathlen) : -1;

	*is_ca = bc && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	return pl;
}

/* The parent's certificate and its issuers, nearest first. */
static int parent_chain(const struct hsmca_ca *parent, STACK_OF(X509) **out, hsmca_error *err)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	STACK_OF(X509) *chain = NULL;
	X509 *self = X509_dup(parent->x509);
	int ret = -1;

	if (hsmca_path_join(path, sizeof(path), err, "%s/issuers.pem", parent->dir) != 0)
		goto out;
	if (access(path, F_OK) == 0) {
		if (hsmca_read_file(path, 1024 * 1024, &buf, &len, err) != 0 ||
		    hsmca_hier_read_certs(buf, len, &chain, err) != 0)
			goto out;
	} else if (!(chain = sk_X509_new_null())) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (!self || !sk_X509_insert(chain, self, 0)) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	self = NULL;
	*out = chain;
	chain = NULL;
	ret = 0;
out:
	X509_free(self);
	sk_X509_pop_free(chain, X509_free);
	free(buf);
	return ret;
}

int hsmca_hier_create_sub(struct hsmca_session *s, const struct hsmca_ceremony *c,
			  const char *parent_name, struct hsmca_ca **out, bool *clamped,
			  hsmca_error *err)
{
	struct hsmca_ca *parent = NULL;
	struct hier_newkey nk;
	struct hsmca_hier_cacert req;
	struct hier_bind b;
	struct hsmca_der cert;
	STACK_OF(X509) *chain = NULL;
	X509 *x = NULL;
	const unsigned char *p;
	bool parent_ca, cut = false;
	long ppl;
	int ret = -1;

	hsmca_der_init(&cert);
	memset(&nk, 0, sizeof(nk));
	memset(&req, 0, sizeof(req));
	if (hsmca_ca_load(s->home, parent_name, &parent, err) != 0)
		goto out;
	ppl = cert_path_len(parent->x509, &parent_ca);
	req.path_len = c->path_len;
	if (ppl == 0) {
		hsmca_error_set(err, "CA '%s' has pathLen 0: it may not certify another CA", parent_name);
		goto out;
	}
	if (ppl > 0) {
		if (c->path_len > ppl - 1) {
			hsmca_error_set(err, "--path-len %d is deeper than CA '%s' allows (its pathLen "
					     "is %ld, so at most %ld below it)", c->path_len, parent_name,
				       ppl, ppl - 1);
			goto out;
		}
		if (c->path_len < 0)
			req.path_len = (int)(ppl - 1);
	}
	req.not_before = c->not_before ? c->not_before : hsmca_now() - SKEW;
	if (req.not_before < parent->not_before)
		req.not_before = parent->not_before;
	req.not_after = c->not_after ? c->not_after : req.not_before + (time_t)c->validity;
	if (req.not_after > parent->not_after) {
		req.not_after = parent->not_after;
		cut = true;
	}
	if (req.not_after <= req.not_before) {
		hsmca_error_set(err, "CA '%s' expires before the new CA would start", parent_name);
		goto out;
	}
	if (hier_newkey_begin(s, c, &nk, err) != 0)
		goto out;
	req.subject = nk.name.buf;
	req.subject_len = nk.name.len;
	hsmca_key_spki(nk.key, &req.spki, &req.spki_len);
	req.kind = "intermediate";
	if (hsmca_key_id(req.spki, req.spki_len, req.ski, err) != 0 ||
	    hsmca_hier_sign_ca(s, parent, &req, &cert, err) != 0 || parent_chain(parent, &chain, err) != 0)
		goto out;
	p = cert.buf;
	x = d2i_X509(NULL, &p, (long)cert.len);
	if (!x) {
		hsmca_error_openssl(err, "the new certificate does not parse");
		goto out;
	}
	memset(&b, 0, sizeof(b));
	b.name = c->name;
	b.dir = nk.dir;
	b.parent = parent_name;
	b.key_label = c->key_label;
	b.key_uri = nk.uri;
	b.sigalg = nk.alg;
	b.crl_url = c->crl_url;
	b.issuer_url = c->issuer_url;
	b.want_subject = nk.name.buf;
	b.want_subject_len = nk.name.len;
	b.key = nk.key;
	nk.dir_made = true; /* from here a failure removes whatever bind wrote */
	if (hier_bind(&b, x, chain, out, err) != 0)
		goto out;
	*clamped = cut;
	ret = 0;
out:
	if (nk.key || nk.name.buf)
		hier_newkey_end(s, &nk, ret == 0);
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	hsmca_der_free(&cert);
	hsmca_ca_free(parent);
	return ret;
}

int hsmca_hier_cross_sign(struct hsmca_session *s, const char *signer_name, const uint8_t *subject_cert,
			  size_t subject_cert_len, int64_t validity, struct hsmca_der *out,
			  hsmca_error *err)
{
	struct hsmca_ca *signer = NULL;
	struct hsmca_hier_cacert req;
	STACK_OF(X509) *certs = NULL;
	const ASN1_OCTET_STRING *ski;
	unsigned char *spki = NULL;
	const unsigned char *name = NULL;
	size_t name_len = 0;
	X509 *x;
	bool is_ca;
	int n, ret = -1;

	memset(&req, 0, sizeof(req));
	if (hsmca_ca_load(s->home, signer_name, &signer, err) != 0 ||
	    hsmca_hier_read_certs(subject_cert, subject_cert_len, &certs, err) != 0)
		goto out;
	if (sk_X509_num(certs) != 1) {
		hsmca_error_set(err, "the subject certificate file holds %d certificates; give one",
				sk_X509_num(certs));
		goto out;
	}
	x = sk_X509_value(certs, 0);
	req.path_len = (int)cert_path_len(x, &is_ca);
	if (!is_ca) {
		hsmca_error_set(err, "the subject is not a CA certificate (CA:FALSE); only CAs are "
				     "cross-signed");
		goto out;
	}
	ski = X509_get0_subject_key_id(x);
	if (!ski || ASN1_STRING_length(ski) != 20) {
		hsmca_error_set(err, "the subject certificate lacks a 20-byte subjectKeyIdentifier to "
				     "keep in the cross certificate");
		goto out;
	}
	memcpy(req.ski, ASN1_STRING_get0_data(ski), 20);
	if (memcmp(req.ski, signer->ski, 20) == 0) {
		hsmca_error_set(err, "CA '%s' and the subject are the same key: nothing to cross-sign",
				signer_name);
		goto out;
	}
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	if (n <= 0 || !X509_NAME_get0_der(X509_get_subject_name(x), &name, &name_len)) {
		hsmca_error_openssl(err, "the subject certificate's key or name");
		goto out;
	}
	req.spki = spki;
	req.spki_len = (size_t)n;
	req.subject = name;
	req.subject_len = name_len;
	req.kind = "cross-sign";
	req.not_before = hsmca_now() - SKEW;
	if (req.not_before < signer->not_before)
		req.not_before = signer->not_before;
	if (validity) {
		req.not_after = req.not_before + (time_t)validity;
		if (req.not_after > signer->not_after) {
			char na[21];

			hsmca_format_time(signer->not_after, na);
			hsmca_error_set(err, "--validity runs past CA '%s''s notAfter (%s); ask for less",
					signer_name, na);
			goto out;
		}
	} else {
		struct tm tm;

		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
			hsmca_error_set(err, "the subject certificate has a bad notAfter");
			goto out;
		}
		req.not_after = timegm(&tm);
		if (req.not_after > signer->not_after)
			req.not_after = signer->not_after;
	}
	if (req.not_after <= req.not_before) {
		hsmca_error_set(err, "the cross certificate would end before it starts (an expired "
				     "subject or signer?)");
		goto out;
	}
	if (hsmca_hier_sign_ca(s, signer, &req, out, err) != 0)
		goto out;
	ret = 0;
out:
	OPENSSL_free(spki);
	sk_X509_pop_free(certs, X509_free);
	hsmca_ca_free(signer);
	return ret;
}
