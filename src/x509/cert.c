/* TBSCertificate encoding, signing in the token and checking the result. */
#include "x509/x509.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

static const uint8_t oid_ecdsa_sha256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t oid_ecdsa_sha384[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const uint8_t oid_ed25519[] = { 0x2b, 0x65, 0x70 };
static const uint8_t oid_rsa_sha256[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b };
static const uint8_t oid_rsa_sha384[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c };
static const uint8_t oid_rsa_pss[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a };
static const uint8_t oid_mgf1[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08 };
static const uint8_t oid_sha256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t oid_sha384[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 };

static void hash_algid(struct hsmca_der *d, bool sha384)
{
	size_t s = hsmca_der_begin(d, DER_SEQUENCE);

	hsmca_der_tlv(d, DER_OID, sha384 ? oid_sha384 : oid_sha256, sizeof(oid_sha256));
	hsmca_der_tlv(d, DER_NULL, NULL, 0);
	hsmca_der_end(d, s);
}

void hsmca_sigalg_der(struct hsmca_der *d, enum hsmca_sigalg a)
{
	size_t s = hsmca_der_begin(d, DER_SEQUENCE);

	switch (a) {
	case HSMCA_SIG_ECDSA_SHA256:
		hsmca_der_tlv(d, DER_OID, oid_ecdsa_sha256, sizeof(oid_ecdsa_sha256));
		break;
	case HSMCA_SIG_ECDSA_SHA384:
		hsmca_der_tlv(d, DER_OID, oid_ecdsa_sha384, sizeof(oid_ecdsa_sha384));
		break;
	case HSMCA_SIG_ED25519:
		hsmca_der_tlv(d, DER_OID, oid_ed25519, sizeof(oid_ed25519));
		break;
	case HSMCA_SIG_RSA_SHA256:
	case HSMCA_SIG_RSA_SHA384:
		hsmca_der_tlv(d, DER_OID, a == HSMCA_SIG_RSA_SHA256 ? oid_rsa_sha256 : oid_rsa_sha384,
			      sizeof(oid_rsa_sha256));
		hsmca_der_tlv(d, DER_NULL, NULL, 0);
		break;
	case HSMCA_SIG_RSA_PSS_SHA256:
	case HSMCA_SIG_RSA_PSS_SHA384: {
		/* RSASSA-PSS-params (RFC 4055): hash, MGF1 with the same hash,
		 * salt = hash length, default trailer — the one shape Go accepts. */
		bool sha384 = a == HSMCA_SIG_RSA_PSS_SHA384;
		size_t params, c0, c1, mgf, c2;

		hsmca_der_tlv(d, DER_OID, oid_rsa_pss, sizeof(oid_rsa_pss));
		params = hsmca_der_begin(d, DER_SEQUENCE);
		c0 = hsmca_der_begin(d, DER_CTX(0));
		hash_algid(d, sha384);
		hsmca_der_end(d, c0);
		c1 = hsmca_der_begin(d, DER_CTX(1));
		mgf = hsmca_der_begin(d, DER_SEQUENCE);
		hsmca_der_tlv(d, DER_OID, oid_mgf1, sizeof(oid_mgf1));
		hash_algid(d, sha384);
		hsmca_der_end(d, mgf);
		hsmca_der_end(d, c1);
		c2 = hsmca_der_begin(d, DER_CTX(2));
		hsmca_der_int(d, sha384 ? 48 : 32);
		hsmca_der_end(d, c2);
		hsmca_der_end(d, params);
		break;
	}
	}
	hsmca_der_end(d, s);
}

void hsmca_tbs_encode(struct hsmca_der *d, const struct hsmca_tbs *t)
{
	size_t tbs = hsmca_der_begin(d, DER_SEQUENCE);
	size_t v = hsmca_der_begin(d, DER_CTX(0));
	size_t val;

	hsmca_der_int(d, 2);
	hsmca_der_end(d, v);
	hsmca_der_uint(d, t->serial, t->serial_len);
	hsmca_sigalg_der(d, t->sigalg);
	hsmca_der_raw(d, t->issuer, t->issuer_len);
	val = hsmca_der_begin(d, DER_SEQUENCE);
	hsmca_der_time(d, t->not_before);
	hsmca_der_time(d, t->not_after);
	hsmca_der_end(d, val);
	hsmca_der_raw(d, t->subject, t->subject_len);
	hsmca_der_raw(d, t->spki, t->spki_len);
	if (t->extensions) {
		size_t e = hsmca_der_begin(d, DER_CTX(3));

		hsmca_der_raw(d, t->extensions, t->extensions_len);
		hsmca_der_end(d, e);
	}
	hsmca_der_end(d, tbs);
}

int hsmca_serial_random(hsmca_token *t, uint8_t *serial, size_t len, hsmca_error *err)
{
	if (len < 16 || len > 20)
		return hsmca_error_set(err, "serial length %zu outside 16..20 bytes", len);
	if (hsmca_token_random(t, serial, len, err) != 0)
		return -1;
	/* Positive and of full length: clear the sign bit, set the next one. */
	serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
	return 0;
}

int hsmca_signed_build(enum hsmca_sigalg a, const uint8_t *tbs, size_t tbs_len, const uint8_t *sig,
		       size_t siglen, struct hsmca_der *out, hsmca_error *err)
{
	size_t seq = hsmca_der_begin(out, DER_SEQUENCE);

	hsmca_der_raw(out, tbs, tbs_len);
	hsmca_sigalg_der(out, a);
	hsmca_der_bits(out, sig, siglen);
	hsmca_der_end(out, seq);
	if (!hsmca_der_ok(out))
		return hsmca_error_set(err, "out of memory");
	return 0;
}

int hsmca_signed_assemble(hsmca_key *k, enum hsmca_sigalg a, const uint8_t *tbs, size_t tbs_len,
			  struct hsmca_der *out, hsmca_error *err)
{
	uint8_t sig[HSMCA_SIG_MAX];
	size_t siglen = 0, seq;

	if (hsmca_key_sign(k, a, tbs, tbs_len, sig, &siglen, err) != 0)
		return -1;
	/* A faulty token must not produce a bad certificate. */
	if (hsmca_verify_sig(hsmca_key_pkey(k), a, tbs, tbs_len, sig, siglen, err) != 0)
		return hsmca_error_prefix(err, "the token's signature failed verification; nothing written");
	(void)seq;
	return hsmca_signed_build(a, tbs, tbs_len, sig, siglen, out, err);
}

int hsmca_cert_check(const uint8_t *der, size_t len, EVP_PKEY *issuer_pub, X509 **out,
		     hsmca_error *err)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (!x || p != der + len) {
		X509_free(x);
		return hsmca_error_openssl(err, "the signed certificate does not re-parse");
	}
	if (X509_verify(x, issuer_pub) != 1) {
		X509_free(x);
		return hsmca_error_openssl(err, "the signed certificate's signature does not verify");
	}
	if (out)
		*out = x;
	else
		X509_free(x);
	return 0;
}

char *hsmca_pem_encode(const char *label, const uint8_t *der, size_t len, size_t *outlen)
{
	size_t b64 = 4 * ((len + 2) / 3);
	size_t cap = strlen(label) * 2 + 40 + b64 + b64 / 64 + 2;
	char *out = malloc(cap), *p;
	size_t off = 0;

	if (!out)
		return NULL;
	p = out;
	p += sprintf(p, "-----BEGIN %s-----\n", label);
	while (off < len) {
		size_t chunk = len - off > 48 ? 48 : len - off;

		p += EVP_EncodeBlock((unsigned char *)p, der + off, (int)chunk);
		*p++ = '\n';
		off += chunk;
	}
	p += sprintf(p, "-----END %s-----\n", label);
	if (outlen)
		*outlen = (size_t)(p - out);
	return out;
}

void hsmca_fingerprint(const uint8_t *der, size_t len, char out[96])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	static const char digits[] = "0123456789ABCDEF";
	size_t i;

	SHA256(der, len, md);
	for (i = 0; i < sizeof(md); i++) {
		out[3 * i] = digits[md[i] >> 4];
		out[3 * i + 1] = digits[md[i] & 15];
		out[3 * i + 2] = i + 1 < sizeof(md) ? ':' : '\0';
	}
}

bool hsmca_signed_holds_tbs(const uint8_t *der, size_t len, const uint8_t *tbs, size_t tbs_len)
{
	const uint8_t *content;
	size_t clen, total;
	uint8_t tag;

	if (hsmca_der_read(der, der + len, &tag, &content, &clen, &total) != 0 || tag != DER_SEQUENCE ||
	    clen < tbs_len)
		return false;
	return memcmp(content, tbs, tbs_len) == 0;
}
