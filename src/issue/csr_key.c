/* A CSR's public key and its proof of possession.
 *
 * The SubjectPublicKeyInfo is copied into the certificate byte for byte, so
 * it is walked here as strictly as a verifier will walk it: one
 * AlgorithmIdentifier, one BIT STRING with no unused bits, nothing after.
 * Then every key is checked as a careful CA does (Let's Encrypt's goodkey
 * is the reference): RSA moduli of 2048, 3072 or 4096 bits, minimally
 * encoded, odd, without small factors and not Fermat-factorable; public
 * exponent odd, at least 65537; EC points on their curve; Ed25519 points
 * canonical and not of small order.  Only then is the signature verified,
 * with the key decoded here.
 *
 * OpenSSL's X509_REQ path decodes the public key through its provider
 * decoders (~170 µs per P-256 CSR, reference/performance.md); here EC and
 * Ed25519 keys are built from the raw point. */
/* EC keys are checked through the EC_KEY API, deprecated in OpenSSL 3.0:
 * building an EVP_PKEY from a point goes through the provider's parameter
 * machinery (~30 µs per key here, a third of a P-256 CSR check). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "common/sha2.h"
#include "issue/csr_internal.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

static const uint8_t oid_ec_pub[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t oid_p256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_ed25519[] = { 0x2b, 0x65, 0x70 };
static const uint8_t oid_rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const uint8_t oid_ecdsa_sha256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t oid_ecdsa_sha384[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const uint8_t oid_ecdsa_sha512[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04 };

/* Ed25519 y-coordinates (little endian, sign bit clear) of the points of
 * small order, canonical encodings only (non-canonical ones are refused
 * before this list is consulted): the identity (order 1), (0,-1) (order 2),
 * (±sqrt(-1),0) (order 4) and the two order-8 y values, the roots of
 * d·y⁴ + 2y² − 1 = 0 whose x exists.  A key among them is not a key: any
 * "signature" by it can be made without a private key. */
static const uint8_t ed25519_small[5][32] = {
	{ 0x01 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0x00 },
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
	  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
};

static void oid_text(const struct tlv *oid, char *out, size_t outlen)
{
	const unsigned char *op = oid->p;
	ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &op, (long)oid->total);

	if (!o || OBJ_obj2txt(out, (int)outlen, o, 0) <= 0)
		snprintf(out, outlen, "(unreadable OID)");
	ASN1_OBJECT_free(o);
	ERR_clear_error();
}

static int ed25519_check(const uint8_t *pt, hsmca_error *err)
{
	uint8_t y[32];
	size_t i, k;
	bool high = true;

	memcpy(y, pt, 32);
	y[31] &= 0x7f;
	/* y >= p = 2^255 - 19: a second encoding of y - p. */
	for (i = 1; i < 31 && high; i++)
		high = y[i] == 0xff;
	if (high && y[31] == 0x7f && y[0] >= 0xed)
		return hsmca_error_set(err, "the CSR's Ed25519 key is not canonically encoded "
					    "(y >= 2^255-19)");
	for (k = 0; k < 5; k++)
		if (memcmp(y, ed25519_small[k], 32) == 0)
			return hsmca_error_set(err, "the CSR's Ed25519 key is a point of small order "
						    "(nobody holds its private key)");
	return 0;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER },
 * the whole content of the BIT STRING. */
static int rsa_parse(struct hsmca_csr *csr, const struct tlv *bits, hsmca_error *err)
{
	const uint8_t *r = bits->c + 1, *end = bits->c + bits->n;
	struct tlv rsa, mod, exp;
	uint64_t e = 0;
	size_t mbytes, i;
	int nbits;

	if (csr_next(&r, end, &rsa) != 0 || rsa.tag != DER_SEQUENCE || r != end)
		return hsmca_error_set(err, "malformed RSA key in the CSR (data after the "
					    "RSAPublicKey)");
	r = rsa.c;
	if (csr_next(&r, rsa.c + rsa.n, &mod) != 0 || csr_next(&r, rsa.c + rsa.n, &exp) != 0 ||
	    r != rsa.c + rsa.n)
		return hsmca_error_set(err, "malformed RSA key in the CSR");
	if (!csr_uint_ok(&mod) || !csr_uint_ok(&exp))
		return hsmca_error_set(err, "the CSR's RSA modulus or exponent is not a minimally "
					    "encoded positive INTEGER");
	mbytes = mod.n - (mod.c[0] == 0);
	nbits = (int)mbytes * 8;
	if (mbytes && mod.c[mod.c[0] == 0])
		nbits -= __builtin_clz(mod.c[mod.c[0] == 0]) - 24;
	csr->rsa_bits = nbits;
	if (nbits < 2048)
		return hsmca_error_set(err, "the CSR's key is RSA-%d; at least RSA-2048 is needed", nbits);
	if (nbits != 2048 && nbits != 3072 && nbits != 4096)
		return hsmca_error_set(err, "the CSR's key is RSA-%d; accepted RSA sizes are 2048, 3072 "
					    "and 4096 bits", nbits);
	if (!(mod.c[mod.n - 1] & 1))
		return hsmca_error_set(err, "the CSR's RSA modulus is even (not a product of two "
					    "large primes)");
	if (exp.n > 5)
		return hsmca_error_set(err, "the CSR's RSA public exponent is too large (more than "
					    "2^31-1, which Go refuses)");
	for (i = 0; i < exp.n; i++)
		e = e << 8 | exp.c[i];
	if (!(e & 1))
		return hsmca_error_set(err, "the CSR's RSA public exponent %llu is even",
				       (unsigned long long)e);
	if (e < 65537)
		return hsmca_error_set(err, "the CSR's RSA public exponent %llu is below 65537",
				       (unsigned long long)e);
	if (e > 0x7fffffff)
		return hsmca_error_set(err, "the CSR's RSA public exponent is too large (more than "
					    "2^31-1, which Go refuses)");
	csr->key_type = nbits == 2048 ? HSMCA_KEY_RSA_2048 : nbits == 3072 ? HSMCA_KEY_RSA_3072
									: HSMCA_KEY_RSA_4096;
	return 0;
}

int hsmca_csr_parse_spki(struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = csr->spki, *end = csr->spki + csr->spki_len, *q;
	struct tlv seq, alg, oid, param, bits;
	char oidtxt[80];

	csr->key_type = HSMCA_KEY_UNKNOWN;
	if (csr_next(&p, end, &seq) != 0 || seq.tag != DER_SEQUENCE || p != end)
		return hsmca_error_set(err, "malformed CSR public key");
	q = seq.c;
	if (csr_next(&q, seq.c + seq.n, &alg) != 0 || alg.tag != DER_SEQUENCE ||
	    csr_next(&q, seq.c + seq.n, &bits) != 0 || bits.tag != DER_BIT_STRING || bits.n < 2)
		return hsmca_error_set(err, "malformed CSR public key");
	if (q != seq.c + seq.n)
		return hsmca_error_set(err, "the CSR's public key has data after its BIT STRING "
					    "(a SubjectPublicKeyInfo holds exactly one key)");
	if (bits.c[0] != 0)
		return hsmca_error_set(err, "the CSR's public key BIT STRING has %u unused bits "
					    "(must be 0)", bits.c[0]);
	p = alg.c;
	if (csr_next(&p, alg.c + alg.n, &oid) != 0 || !csr_oid_ok(&oid))
		return hsmca_error_set(err, "malformed CSR public key algorithm");
	if (OID_IS(oid.c, oid.n, oid_ec_pub)) {
		bool p256, p384;

		if (csr_next(&p, alg.c + alg.n, &param) != 0 || !csr_oid_ok(&param))
			return hsmca_error_set(err, "the CSR's EC key has no named curve (explicit "
						    "parameters are refused)");
		if (p != alg.c + alg.n)
			return hsmca_error_set(err, "malformed EC key parameters in the CSR");
		p256 = OID_IS(param.c, param.n, oid_p256);
		p384 = OID_IS(param.c, param.n, oid_p384);
		if (!p256 && !p384) {
			oid_text(&param, oidtxt, sizeof(oidtxt));
			return hsmca_error_set(err, "the CSR's key is on curve %s; accepted keys are "
						    "P-256, P-384, Ed25519 and RSA", oidtxt);
		}
		if (bits.c[1] == 0x02 || bits.c[1] == 0x03)
			return hsmca_error_set(err, "the CSR's EC key is a compressed point; send it "
						    "uncompressed (Go and Kubernetes cannot read compressed keys)");
		if (bits.c[1] == 0x00)
			return hsmca_error_set(err, "the CSR's EC key is the point at infinity");
		if (bits.c[1] != 0x04 || bits.n != (p256 ? 66u : 98u))
			return hsmca_error_set(err, "malformed EC point in the CSR");
		csr->key_type = p256 ? HSMCA_KEY_EC_P256 : HSMCA_KEY_EC_P384;
		return 0;
	}
	if (OID_IS(oid.c, oid.n, oid_ed25519)) {
		if (p != alg.c + alg.n)
			return hsmca_error_set(err, "the CSR's Ed25519 key has algorithm parameters "
						    "(RFC 8410 forbids them)");
		if (bits.n != 33)
			return hsmca_error_set(err, "malformed Ed25519 key in the CSR");
		if (ed25519_check(bits.c + 1, err) != 0)
			return -1;
		csr->key_type = HSMCA_KEY_ED25519;
		return 0;
	}
	if (OID_IS(oid.c, oid.n, oid_rsa)) {
		struct tlv null;

		if (csr_next(&p, alg.c + alg.n, &null) != 0 || null.tag != DER_NULL || null.n != 0 ||
		    p != alg.c + alg.n)
			return hsmca_error_set(err, "the CSR's RSA key lacks the NULL parameters RFC 3279 "
						    "requires");
		return rsa_parse(csr, &bits, err);
	}
	oid_text(&oid, oidtxt, sizeof(oidtxt));
	return hsmca_error_set(err, "the CSR's key type %s is not accepted (P-256, P-384, "
				    "Ed25519 and RSA are)", oidtxt);
}

/* Primes below 752, as goodkey checks: a modulus divisible by one of them
 * is no RSA key. */
static const uint16_t small_primes[] = {
	3,   5,   7,   11,  13,  17,  19,  23,  29,  31,  37,  41,  43,  47,  53,  59,  61,  67,
	71,  73,  79,  83,  89,  97,  101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157,
	163, 167, 173, 179, 181, 191, 193, 197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257,
	263, 269, 271, 277, 281, 283, 293, 307, 311, 313, 317, 331, 337, 347, 349, 353, 359, 367,
	373, 379, 383, 389, 397, 401, 409, 419, 421, 431, 433, 439, 443, 449, 457, 461, 463, 467,
	479, 487, 491, 499, 503, 509, 521, 523, 541, 547, 557, 563, 569, 571, 577, 587, 593, 599,
	601, 607, 613, 617, 619, 631, 641, 643, 647, 653, 659, 661, 673, 677, 683, 691, 701, 709,
	719, 727, 733, 739, 743, 751,
};

/* floor(sqrt(n)) by Newton's method. */
static int bn_isqrt(BIGNUM *r, const BIGNUM *n, BN_CTX *ctx)
{
	BIGNUM *x = BN_CTX_get(ctx), *y = BN_CTX_get(ctx);

	if (!y)
		return -1;
	if (BN_is_zero(n)) {
		BN_zero(r);
		return 0;
	}
	BN_zero(x);
	if (!BN_set_bit(x, (BN_num_bits(n) + 1) / 2 + 1))
		return -1;
	for (;;) {
		/* y = (x + n / x) / 2 */
		if (!BN_div(y, NULL, n, x, ctx) || !BN_add(y, y, x) || !BN_rshift1(y, y))
			return -1;
		if (BN_cmp(y, x) >= 0)
			break;
		if (!BN_copy(x, y))
			return -1;
	}
	return BN_copy(r, x) ? 0 : -1;
}

/* goodkey's checks that need arithmetic: small factors, and factors so
 * close that Fermat's method finds them in 100 rounds. */
static int rsa_factor_check(EVP_PKEY *pkey, hsmca_error *err)
{
	BIGNUM *n = NULL, *a, *b2, *b;
	BN_CTX *ctx = BN_CTX_new();
	size_t i;
	int ret = -1, round;

	if (!ctx || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1) {
		hsmca_error_openssl(err, "the CSR's RSA key cannot be read");
		goto out;
	}
	for (i = 0; i < sizeof(small_primes) / sizeof(small_primes[0]); i++) {
		if (BN_mod_word(n, small_primes[i]) == 0) {
			hsmca_error_set(err, "the CSR's RSA modulus is divisible by %u (not a product of "
					     "two large primes)", small_primes[i]);
			goto out;
		}
	}
	BN_CTX_start(ctx);
	a = BN_CTX_get(ctx);
	b2 = BN_CTX_get(ctx);
	b = BN_CTX_get(ctx);
	if (!b || bn_isqrt(a, n, ctx) != 0)
		goto bn_fail;
	/* a = ceil(sqrt(n)) */
	if (!BN_sqr(b2, a, ctx))
		goto bn_fail;
	if (BN_cmp(b2, n) < 0 && !BN_add_word(a, 1))
		goto bn_fail;
	for (round = 0; round < 100; round++) {
		if (!BN_sqr(b2, a, ctx) || !BN_sub(b2, b2, n) || bn_isqrt(b, b2, ctx) != 0 ||
		    !BN_sqr(b, b, ctx))
			goto bn_fail;
		if (BN_cmp(b, b2) == 0) {
			hsmca_error_set(err, "the CSR's RSA modulus has two prime factors so close that "
					     "Fermat's method factors it");
			BN_CTX_end(ctx);
			goto out;
		}
		if (!BN_add_word(a, 1))
			goto bn_fail;
	}
	BN_CTX_end(ctx);
	ret = 0;
	goto out;
bn_fail:
	BN_CTX_end(ctx);
	hsmca_error_openssl(err, "checking the CSR's RSA modulus");
out:
	BN_free(n);
	BN_CTX_free(ctx);
	return ret;
}

static EC_GROUP *groups[2];
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;

static void groups_init(void)
{
	groups[0] = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	groups[1] = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

/* Verify an ECDSA signature over a digest with the CSR's raw point.  o2i
 * refuses coordinates out of range and points off the curve; P-256 and
 * P-384 have cofactor 1 and the point at infinity has no uncompressed
 * encoding, so that is the whole public-key validation. */
static int ec_verify(const struct hsmca_csr *csr, const uint8_t *md, size_t mdlen)
{
	bool p256 = csr->key_type == HSMCA_KEY_EC_P256;
	size_t plen = p256 ? 65 : 97;
	const unsigned char *pt = csr->spki + csr->spki_len - plen;
	EC_KEY *k;
	int ok = -1;

	pthread_once(&groups_once, groups_init);
	k = EC_KEY_new();
	if (!k || !groups[p256 ? 0 : 1] || EC_KEY_set_group(k, groups[p256 ? 0 : 1]) != 1 ||
	    !o2i_ECPublicKey(&k, &pt, (long)plen)) {
		EC_KEY_free(k);
		return -2; /* invalid key */
	}
	if (ECDSA_verify(0, md, (int)mdlen, csr->sig, (int)csr->sig_len, k) == 1)
		ok = 0;
	EC_KEY_free(k);
	return ok;
}

/* The signature AlgorithmIdentifier: OID, and parameters exactly as the
 * algorithm defines them (none for ECDSA and Ed25519, NULL for RSA PKCS#1;
 * RSASSA-PSS parameters are checked by OpenSSL when it verifies). */
static int sig_alg(const struct hsmca_csr *csr, struct tlv *oid, hsmca_error *err)
{
	const uint8_t *q = csr->sig_alg;
	struct tlv alg, param;

	if (csr_next(&q, csr->sig_alg + csr->sig_alg_len, &alg) != 0)
		return hsmca_error_set(err, "malformed CSR signature algorithm");
	q = alg.c;
	if (csr_next(&q, alg.c + alg.n, oid) != 0 || !csr_oid_ok(oid))
		return hsmca_error_set(err, "malformed CSR signature algorithm");
	if (q == alg.c + alg.n)
		return 0;
	if (csr_next(&q, alg.c + alg.n, &param) != 0 || q != alg.c + alg.n)
		return hsmca_error_set(err, "malformed CSR signature algorithm parameters");
	if (OID_IS(oid->c, oid->n, oid_ecdsa_sha256) || OID_IS(oid->c, oid->n, oid_ecdsa_sha384) ||
	    OID_IS(oid->c, oid->n, oid_ecdsa_sha512) || OID_IS(oid->c, oid->n, oid_ed25519))
		return hsmca_error_set(err, "the CSR's signature algorithm has parameters it must not "
					    "have (RFC 5758, RFC 8410)");
	if (oid->n == sizeof(oid_rsa) && memcmp(oid->c, oid_rsa, sizeof(oid_rsa) - 1) == 0 &&
	    oid->c[oid->n - 1] != 0x0a && (param.tag != DER_NULL || param.n != 0))
		return hsmca_error_set(err, "the CSR's RSA signature algorithm parameters are not NULL");
	return 0;
}

static int rsa_verify(const struct hsmca_csr *csr, const struct tlv *oid, int min_rsa_bits,
		      hsmca_error *err)
{
	const unsigned char *sp = csr->spki, *rp = csr->der;
	EVP_PKEY *pkey = NULL;
	X509_REQ *req = NULL;
	int ret = -1;

	if (csr->rsa_bits < min_rsa_bits)
		return hsmca_error_set(err, "the CSR's key is RSA-%d; this profile needs at least "
					    "RSA-%d", csr->rsa_bits, min_rsa_bits);
	if (!(oid->n == sizeof(oid_rsa) && memcmp(oid->c, oid_rsa, sizeof(oid_rsa) - 1) == 0 &&
	      (oid->c[oid->n - 1] == 0x0a || oid->c[oid->n - 1] == 0x0b || oid->c[oid->n - 1] == 0x0c ||
	       oid->c[oid->n - 1] == 0x0d))) {
		const char *weak = "an unknown algorithm";

		if (oid->n == sizeof(oid_rsa) && memcmp(oid->c, oid_rsa, sizeof(oid_rsa) - 1) == 0)
			weak = oid->c[oid->n - 1] == 0x04 ? "MD5" : oid->c[oid->n - 1] == 0x05 ? "SHA-1"
			     : oid->c[oid->n - 1] == 0x0e ? "SHA-224" : weak;
		return hsmca_error_set(err, "the CSR is signed with %s; accepted: SHA-256/384/512 "
					    "with RSA, RSASSA-PSS", weak);
	}
	/* The key is the one walked above (d2i of the very same checked bytes);
	 * OpenSSL only handles PKCS#1 v1.5 and PSS padding and parameters, over
	 * the request's original CertificationRequestInfo bytes. */
	pkey = d2i_PUBKEY(NULL, &sp, (long)csr->spki_len);
	if (!pkey || sp != csr->spki + csr->spki_len) {
		hsmca_error_openssl(err, "the CSR's RSA key does not decode");
		goto out;
	}
	if (rsa_factor_check(pkey, err) != 0)
		goto out;
	req = d2i_X509_REQ(NULL, &rp, (long)csr->der_len);
	if (!req || rp != csr->der + csr->der_len || X509_REQ_verify(req, pkey) != 1) {
		hsmca_error_openssl(err, "the CSR's signature does not verify (forged or corrupted)");
		goto out;
	}
	ret = 0;
out:
	X509_REQ_free(req);
	EVP_PKEY_free(pkey);
	return ret;
}

int hsmca_csr_verify(const struct hsmca_csr *csr, int min_rsa_bits, hsmca_error *err)
{
	struct tlv oid;

	ERR_clear_error();
	if (sig_alg(csr, &oid, err) != 0)
		return -1;
	switch (csr->key_type) {
	case HSMCA_KEY_EC_P256:
	case HSMCA_KEY_EC_P384: {
		uint8_t md[SHA512_DIGEST_LENGTH];
		size_t mdlen;

		if (OID_IS(oid.c, oid.n, oid_ecdsa_sha256)) {
			hsmca_sha2(256, csr->info, csr->info_len, md);
			mdlen = 32;
		} else if (OID_IS(oid.c, oid.n, oid_ecdsa_sha384)) {
			hsmca_sha2(384, csr->info, csr->info_len, md);
			mdlen = 48;
		} else if (OID_IS(oid.c, oid.n, oid_ecdsa_sha512)) {
			hsmca_sha2(512, csr->info, csr->info_len, md);
			mdlen = 64;
		} else {
			return hsmca_error_set(err, "the CSR's signature algorithm does not match its EC key");
		}
		switch (ec_verify(csr, md, mdlen)) {
		case 0:
			return 0;
		case -2:
			return hsmca_error_openssl(err, "the CSR's EC public key is not a valid point "
							"on its curve");
		default:
			return hsmca_error_openssl(err, "the CSR's signature does not verify (forged or "
							"corrupted)");
		}
	}
	case HSMCA_KEY_ED25519: {
		EVP_MD_CTX *m;
		EVP_PKEY *pkey;
		int ok;

		if (!OID_IS(oid.c, oid.n, oid_ed25519))
			return hsmca_error_set(err, "the CSR's signature algorithm does not match its "
						    "Ed25519 key");
		m = EVP_MD_CTX_new();
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						   csr->spki + csr->spki_len - 32, 32);
		ok = m && pkey && EVP_DigestVerifyInit(m, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestVerify(m, csr->sig, csr->sig_len, csr->info, csr->info_len) == 1;
		EVP_MD_CTX_free(m);
		EVP_PKEY_free(pkey);
		if (!ok)
			return hsmca_error_openssl(err, "the CSR's signature does not verify (forged or "
							"corrupted)");
		return 0;
	}
	case HSMCA_KEY_RSA_2048:
	case HSMCA_KEY_RSA_3072:
	case HSMCA_KEY_RSA_4096:
		return rsa_verify(csr, &oid, min_rsa_bits, err);
	default:
		return hsmca_error_set(err, "the CSR's key type is not accepted");
	}
}
