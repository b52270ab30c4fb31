/* Pre-signing lint: the TBS is parsed back by OpenSSL inside a dummy
 * certificate, so the rules are checked on exactly the bytes to be signed. */
#include "x509/x509.h"

#include <string.h>

#include <openssl/x509v3.h>

static int check_ext(X509 *x, int nid, bool must, bool critical, const char *name, hsmca_error *err)
{
	int idx = X509_get_ext_by_NID(x, nid, -1);

	if (idx < 0) {
		if (must)
			return hsmca_error_set(err, "lint: %s extension missing", name);
		return 0;
	}
	if (X509_get_ext_by_NID(x, nid, idx) >= 0)
		return hsmca_error_set(err, "lint: %s extension appears twice", name);
	if (critical && !X509_EXTENSION_get_critical(X509_get_ext(x, idx)))
		return hsmca_error_set(err, "lint: %s extension must be critical", name);
	return 0;
}

/* The key the certificate binds: one that decodes, in a BIT STRING without
 * unused bits (Go refuses one with them). */
static int spki_check(X509 *x, hsmca_error *err)
{
	ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);

	if (!bits || ((bits->flags & ASN1_STRING_FLAG_BITS_LEFT) && (bits->flags & 0x07)))
		return hsmca_error_set(err, "lint: the subjectPublicKey BIT STRING has unused bits");
	if (!X509_get0_pubkey(x))
		return hsmca_error_openssl(err, "lint: the subjectPublicKeyInfo does not decode");
	return 0;
}

/* What the issuer allows below it: no CA under pathLenConstraint 0, and
 * every name within its nameConstraints (as a verifier will check). */
static int issuer_check(X509 *x, const struct hsmca_lint_expect *ex, hsmca_error *err)
{
	NAME_CONSTRAINTS *nc;
	int rc;

	if (!ex->issuer)
		return 0;
	/* NAME_CONSTRAINTS_check reads the SANs cached with the extension flags. */
	if (X509_get_extension_flags(x) & EXFLAG_INVALID)
		return hsmca_error_set(err, "lint: the extensions are invalid or duplicated");
	if (ex->ca && X509_get_pathlen(ex->issuer) == 0)
		return hsmca_error_set(err, "lint: the issuer's pathLenConstraint is 0: it cannot "
					    "issue a CA");
	nc = X509_get_ext_d2i(ex->issuer, NID_name_constraints, NULL, NULL);
	if (!nc)
		return 0;
	rc = NAME_CONSTRAINTS_check(x, nc);
	if (rc == X509_V_OK && !ex->ca)
		rc = NAME_CONSTRAINTS_check_CN(x, nc);
	NAME_CONSTRAINTS_free(nc);
	if (rc != X509_V_OK)
		return hsmca_error_set(err, "lint: a name is outside the issuer's nameConstraints (%s)",
				       X509_verify_cert_error_string(rc));
	return 0;
}

int hsmca_lint_tbs(const uint8_t *tbs, size_t len, const struct hsmca_lint_expect *ex,
		   hsmca_error *err)
{
	struct hsmca_der wrap;
	const unsigned char *p;
	X509 *x = NULL;
	const ASN1_INTEGER *serial;
	BASIC_CONSTRAINTS *bc = NULL;
	const X509_ALGOR *inner;
	const ASN1_OBJECT *alg_obj;
	uint8_t zero = 0;
	int ret = -1;
	size_t seq;

	hsmca_der_init(&wrap);
	seq = hsmca_der_begin(&wrap, DER_SEQUENCE);
	hsmca_der_raw(&wrap, tbs, len);
	/* Any AlgorithmIdentifier: the dummy is never verified. */
	{
		size_t a = hsmca_der_begin(&wrap, DER_SEQUENCE);
		static const uint8_t oid_ed25519[] = { 0x2b, 0x65, 0x70 };

		hsmca_der_tlv(&wrap, DER_OID, oid_ed25519, sizeof(oid_ed25519));
		hsmca_der_end(&wrap, a);
	}
	hsmca_der_bits(&wrap, &zero, 1);
	hsmca_der_end(&wrap, seq);
	if (!hsmca_der_ok(&wrap)) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	p = wrap.buf;
	x = d2i_X509(NULL, &p, (long)wrap.len);
	if (!x) {
		hsmca_error_openssl(err, "lint: the TBSCertificate does not parse");
		goto out;
	}
	if (X509_get_version(x) != X509_VERSION_3) {
		hsmca_error_set(err, "lint: not a v3 certificate");
		goto out;
	}
	serial = X509_get0_serialNumber(x);
	if (ASN1_STRING_type(serial) != V_ASN1_INTEGER || ASN1_STRING_length(serial) == 0) {
		hsmca_error_set(err, "lint: serial number must be positive (RFC 5280 4.1.2.2)");
		goto out;
	}
	if (ASN1_STRING_length(serial) > 20) {
		hsmca_error_set(err, "lint: serial number longer than 20 octets (RFC 5280 4.1.2.2)");
		goto out;
	}
	if (ASN1_STRING_length(serial) < 8) {
		hsmca_error_set(err, "lint: serial number has less than 64 bits of entropy");
		goto out;
	}
	if (ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notAfter(x)) >= 0) {
		hsmca_error_set(err, "lint: notBefore is not before notAfter");
		goto out;
	}
	if (ex->issuer_not_after &&
	    X509_cmp_time(X509_get0_notAfter(x), (time_t *)&ex->issuer_not_after) > 0) {
		hsmca_error_set(err, "lint: notAfter runs past the issuer's notAfter");
		goto out;
	}
	if (X509_NAME_entry_count(X509_get_issuer_name(x)) == 0) {
		hsmca_error_set(err, "lint: empty issuer name (RFC 5280 4.1.2.4)");
		goto out;
	}
	if (ex->root && X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)) != 0) {
		hsmca_error_set(err, "lint: a root's issuer must equal its subject");
		goto out;
	}
	if (ex->ca && X509_NAME_entry_count(X509_get_subject_name(x)) == 0) {
		hsmca_error_set(err, "lint: a CA needs a non-empty subject (RFC 5280 4.1.2.6)");
		goto out;
	}
	if (X509_NAME_entry_count(X509_get_subject_name(x)) == 0) {
		int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);

		if (idx < 0 || !X509_EXTENSION_get_critical(X509_get_ext(x, idx))) {
			hsmca_error_set(err, "lint: an empty subject needs a critical subjectAltName "
					     "(RFC 5280 4.2.1.6)");
			goto out;
		}
	}
	if (spki_check(x, err) != 0 || issuer_check(x, ex, err) != 0)
		goto out;
	inner = X509_get0_tbs_sigalg(x);
	X509_ALGOR_get0(&alg_obj, NULL, NULL, inner);
	if (OBJ_obj2nid(alg_obj) == NID_undef) {
		hsmca_error_set(err, "lint: unknown signature algorithm in the TBS");
		goto out;
	}
	if (X509_get_extension_flags(x) & EXFLAG_INVALID) {
		hsmca_error_set(err, "lint: the extensions are invalid or duplicated");
		goto out;
	}
	if (check_ext(x, NID_basic_constraints, ex->ca, true, "basicConstraints", err) != 0 ||
	    check_ext(x, NID_key_usage, true, true, "keyUsage", err) != 0 ||
	    check_ext(x, NID_subject_key_identifier, ex->ca, false, "subjectKeyIdentifier", err) != 0 ||
	    check_ext(x, NID_authority_key_identifier, !ex->root, false, "authorityKeyIdentifier", err) != 0)
		goto out;
	bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	if (ex->ca) {
		long pl = bc && bc->pathlen ? ASN1_INTEGER_get(bc->pathlen) : -1;

		if (!bc || !bc->ca) {
			hsmca_error_set(err, "lint: basicConstraints must say CA:TRUE");
			goto out;
		}
		if (pl != ex->path_len) {
			hsmca_error_set(err, "lint: pathLenConstraint is %ld, expected %d", pl, ex->path_len);
			goto out;
		}
		if ((X509_get_key_usage(x) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) !=
		    (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
			hsmca_error_set(err, "lint: a CA's keyUsage must include keyCertSign and cRLSign");
			goto out;
		}
	} else {
		if (bc && bc->ca) {
			hsmca_error_set(err, "lint: a leaf must not say CA:TRUE");
			goto out;
		}
		if (X509_get_key_usage(x) & KU_KEY_CERT_SIGN) {
			hsmca_error_set(err, "lint: a leaf must not have keyCertSign");
			goto out;
		}
	}
	ret = 0;
out:
	BASIC_CONSTRAINTS_free(bc);
	X509_free(x);
	hsmca_der_free(&wrap);
	return ret;
}
