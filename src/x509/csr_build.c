/* PKCS#10 CertificationRequests (RFC 2986) built in DER and signed in the
 * token: a CSR has the same SEQUENCE { info, algorithm, signature } shape as
 * a certificate, so hsmca_signed_assemble() signs it. */
#include "x509/x509.h"

#include <string.h>

#include <openssl/x509.h>

/* pkcs-9-at-extensionRequest, 1.2.840.113549.1.9.14 */
static const uint8_t oid_ext_req[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e };

static void request_info(struct hsmca_der *d, const uint8_t *name, size_t name_len,
			 const uint8_t *spki, size_t spki_len, bool ca)
{
	size_t info = hsmca_der_begin(d, DER_SEQUENCE);
	size_t attrs;

	hsmca_der_int(d, 0);
	hsmca_der_raw(d, name, name_len);
	hsmca_der_raw(d, spki, spki_len);
	attrs = hsmca_der_begin(d, DER_CTX(0));
	if (ca) {
		size_t attr = hsmca_der_begin(d, DER_SEQUENCE);
		size_t set, exts;

		hsmca_der_tlv(d, DER_OID, oid_ext_req, sizeof(oid_ext_req));
		set = hsmca_der_begin(d, DER_SET);
		exts = hsmca_der_begin(d, DER_SEQUENCE);
		hsmca_ext_basic_constraints(d, true, -1);
		hsmca_ext_key_usage(d, HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN);
		hsmca_der_end(d, exts);
		hsmca_der_end(d, set);
		hsmca_der_end(d, attr);
	}
	hsmca_der_end(d, attrs);
	hsmca_der_end(d, info);
}

int hsmca_csr_build(hsmca_key *key, enum hsmca_sigalg alg, const uint8_t *name, size_t name_len,
		    bool ca, struct hsmca_der *out, hsmca_error *err)
{
	struct hsmca_der info, req;
	const uint8_t *spki;
	size_t spki_len;
	const unsigned char *p;
	X509_REQ *x = NULL;
	int ret = -1;

	hsmca_der_init(&info);
	hsmca_der_init(&req);
	hsmca_key_spki(key, &spki, &spki_len);
	request_info(&info, name, name_len, spki, spki_len, ca);
	if (!hsmca_der_ok(&info)) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (hsmca_signed_assemble(key, alg, info.buf, info.len, &req, err) != 0)
		goto out;
	/* What relying tools will read: it must parse and verify as a CSR. */
	p = req.buf;
	x = d2i_X509_REQ(NULL, &p, (long)req.len);
	if (!x || p != req.buf + req.len) {
		hsmca_error_openssl(err, "the signed CSR does not re-parse");
		goto out;
	}
	if (X509_REQ_verify(x, hsmca_key_pkey(key)) != 1) {
		hsmca_error_openssl(err, "the signed CSR's signature does not verify");
		goto out;
	}
	hsmca_der_free(out);
	*out = req;
	hsmca_der_init(&req);
	ret = 0;
out:
	X509_REQ_free(x);
	hsmca_der_free(&info);
	hsmca_der_free(&req);
	return ret;
}
