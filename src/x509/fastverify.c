/* Signature checks of issued certificates on the batch path.  For EC
 * issuers the key is converted once to an EC_KEY (deprecated API): the
 * EVP path re-fetches the digest and sets up a provider context on every
 * call, which on OpenSSL 3.0 costs a sizeable share of a P-256 check. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "common/sha2.h"
#include "x509/x509.h"

#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>

int hsmca_fastverify_init(struct hsmca_fastverify *v, EVP_PKEY *pub, enum hsmca_sigalg alg)
{
	memset(v, 0, sizeof(*v));
	v->pkey = pub;
	v->alg = alg;
	if (alg == HSMCA_SIG_ECDSA_SHA256 || alg == HSMCA_SIG_ECDSA_SHA384)
		v->ec = EVP_PKEY_get1_EC_KEY(pub); /* NULL: fall back to EVP */
	return 0;
}

int hsmca_fastverify(struct hsmca_fastverify *v, const uint8_t *msg, size_t len, const uint8_t *sig,
		     size_t siglen, hsmca_error *err)
{
	uint8_t md[SHA384_DIGEST_LENGTH];
	size_t mdlen;

	if (!v->ec)
		return hsmca_verify_sig(v->pkey, v->alg, msg, len, sig, siglen, err);
	if (v->alg == HSMCA_SIG_ECDSA_SHA384) {
		hsmca_sha2(384, msg, len, md);
		mdlen = SHA384_DIGEST_LENGTH;
	} else {
		hsmca_sha2(256, msg, len, md);
		mdlen = SHA256_DIGEST_LENGTH;
	}
	if (ECDSA_verify(0, md, (int)mdlen, sig, (int)siglen, (EC_KEY *)v->ec) != 1)
		return hsmca_error_openssl(err, "the %s signature does not verify with the issuer's "
						"public key", hsmca_sigalg_name(v->alg));
	return 0;
}

void hsmca_fastverify_free(struct hsmca_fastverify *v)
{
	EC_KEY_free((EC_KEY *)v->ec);
	v->ec = NULL;
}
