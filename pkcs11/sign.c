/* Signing in the token and checking the result on the host. */
#include "pkcs11/internal.h"

#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

const char *hsmca_sigalg_name(enum hsmca_sigalg a)
{
	switch (a) {
	case HSMCA_SIG_ECDSA_SHA256: return "ecdsa-with-SHA256";
	case HSMCA_SIG_ECDSA_SHA384: return "ecdsa-with-SHA384";
	case HSMCA_SIG_ED25519: return "Ed25519";
	case HSMCA_SIG_RSA_SHA256: return "sha256WithRSAEncryption";
	case HSMCA_SIG_RSA_SHA384: return "sha384WithRSAEncryption";
	case HSMCA_SIG_RSA_PSS_SHA256: return "RSASSA-PSS (SHA-256)";
	case HSMCA_SIG_RSA_PSS_SHA384: return "RSASSA-PSS (SHA-384)";
	}
	return "unknown";
}

enum hsmca_sigalg hsmca_sigalg_default(enum hsmca_key_type t, bool rsa_pss, bool sha384)
{
	switch (t) {
	case HSMCA_KEY_EC_P384: return HSMCA_SIG_ECDSA_SHA384;
	case HSMCA_KEY_EC_P256: return sha384 ? HSMCA_SIG_ECDSA_SHA384 : HSMCA_SIG_ECDSA_SHA256;
	case HSMCA_KEY_ED25519: return HSMCA_SIG_ED25519;
	default:
		if (rsa_pss)
			return sha384 ? HSMCA_SIG_RSA_PSS_SHA384 : HSMCA_SIG_RSA_PSS_SHA256;
		return sha384 ? HSMCA_SIG_RSA_SHA384 : HSMCA_SIG_RSA_SHA256;
	}
}

bool hsmca_sigalg_fits(enum hsmca_sigalg a, enum hsmca_key_type t)
{
	switch (a) {
	case HSMCA_SIG_ECDSA_SHA256:
	case HSMCA_SIG_ECDSA_SHA384: return t == HSMCA_KEY_EC_P256 || t == HSMCA_KEY_EC_P384;
	case HSMCA_SIG_ED25519: return t == HSMCA_KEY_ED25519;
	default:
		return t == HSMCA_KEY_RSA_2048 || t == HSMCA_KEY_RSA_3072 || t == HSMCA_KEY_RSA_4096;
	}
}

static bool is_sha384(enum hsmca_sigalg a)
{
	return a == HSMCA_SIG_ECDSA_SHA384 || a == HSMCA_SIG_RSA_SHA384 || a == HSMCA_SIG_RSA_PSS_SHA384;
}

/* DigestInfo prefixes (RFC 8017 §9.2 note 1). */
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };

int hsmca_key_sign_raw(hsmca_key *k, enum hsmca_sigalg alg, const uint8_t *data, size_t len,
		       uint8_t *sig, size_t *siglen, hsmca_error *err)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_ULONG out = HSMCA_SIG_MAX;
	CK_RV rv;

	/* A batch signs thousands of times: once the TPM is known gone, do not
	 * ask it (and log) again for every certificate. */
	if (atomic_load(&k->token->module->tpm_gone))
		return hsmca_p11_error(k->token->module, CK_INVALID_HANDLE, err, CKR_GENERAL_ERROR,
				       "sign with key '%s' (%s)", k->info.label, hsmca_sigalg_name(alg));
	switch (alg) {
	case HSMCA_SIG_ECDSA_SHA256:
	case HSMCA_SIG_ECDSA_SHA384: mech.mechanism = CKM_ECDSA; break;
	case HSMCA_SIG_ED25519: mech.mechanism = CKM_EDDSA; break;
	case HSMCA_SIG_RSA_SHA256:
	case HSMCA_SIG_RSA_SHA384: mech.mechanism = CKM_RSA_PKCS; break;
	case HSMCA_SIG_RSA_PSS_SHA256:
	case HSMCA_SIG_RSA_PSS_SHA384:
		pss.hashAlg = is_sha384(alg) ? CKM_SHA384 : CKM_SHA256;
		pss.mgf = is_sha384(alg) ? CKG_MGF1_SHA384 : CKG_MGF1_SHA256;
		pss.sLen = is_sha384(alg) ? 48 : 32;
		mech.mechanism = CKM_RSA_PKCS_PSS;
		mech.pParameter = &pss;
		mech.ulParameterLen = sizeof(pss);
		break;
	}
	rv = k->token->fns->C_SignInit(k->token->session, &mech, k->priv);
	if (rv != CKR_OK)
		return hsmca_token_error(k->token, err, rv, "sign with key '%s' (%s)", k->info.label,
				       hsmca_sigalg_name(alg));
	rv = k->token->fns->C_Sign(k->token->session, (CK_BYTE_PTR)data, len, sig, &out);
	if (rv != CKR_OK)
		return hsmca_token_error(k->token, err, rv, "sign with key '%s' (%s)", k->info.label,
				       hsmca_sigalg_name(alg));
	*siglen = out;
	return 0;
}

/* Raw r‖s from CKM_ECDSA into DER ECDSA-Sig-Value. */
static int ecdsa_to_der(const uint8_t *raw, size_t rawlen, uint8_t *out, size_t *outlen,
			hsmca_error *err)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = NULL, *sv = NULL;
	unsigned char *p = out;
	int n;

	if (!s || rawlen == 0 || rawlen % 2 != 0) {
		ECDSA_SIG_free(s);
		return hsmca_error_set(err, "the token returned a malformed ECDSA signature (%zu bytes)",
				       rawlen);
	}
	r = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
	sv = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
	if (!r || !sv || !ECDSA_SIG_set0(s, r, sv)) {
		BN_free(r);
		BN_free(sv);
		ECDSA_SIG_free(s);
		return hsmca_error_openssl(err, "encode ECDSA signature");
	}
	n = i2d_ECDSA_SIG(s, NULL);
	if (n <= 0 || (size_t)n > *outlen) {
		ECDSA_SIG_free(s);
		return hsmca_error_set(err, "encode ECDSA signature: too long");
	}
	i2d_ECDSA_SIG(s, &p);
	ECDSA_SIG_free(s);
	*outlen = (size_t)n;
	return 0;
}

int hsmca_key_sign(hsmca_key *k, enum hsmca_sigalg alg, const uint8_t *msg, size_t len,
		   uint8_t *sig, size_t *siglen, hsmca_error *err)
{
	uint8_t buf[HSMCA_SIG_MAX];
	uint8_t in[sizeof(di_sha384) + SHA384_DIGEST_LENGTH];
	size_t inlen = 0, rawlen = 0, dlen = is_sha384(alg) ? 48 : 32;

	if (!hsmca_sigalg_fits(alg, k->info.type))
		return hsmca_error_set(err, "key '%s' (%s) cannot make %s signatures", k->info.label,
				       hsmca_key_type_name(k->info.type), hsmca_sigalg_name(alg));
	if (alg == HSMCA_SIG_ED25519) {
		if (hsmca_key_sign_raw(k, alg, msg, len, sig, siglen, err) != 0)
			return -1;
		return 0;
	}
	if (alg == HSMCA_SIG_RSA_SHA256 || alg == HSMCA_SIG_RSA_SHA384) {
		const uint8_t *di = is_sha384(alg) ? di_sha384 : di_sha256;
		size_t dil = is_sha384(alg) ? sizeof(di_sha384) : sizeof(di_sha256);

		memcpy(in, di, dil);
		inlen = dil;
	}
	if (is_sha384(alg))
		SHA384(msg, len, in + inlen);
	else
		SHA256(msg, len, in + inlen);
	inlen += dlen;
	if (alg == HSMCA_SIG_ECDSA_SHA256 || alg == HSMCA_SIG_ECDSA_SHA384) {
		if (hsmca_key_sign_raw(k, alg, in, inlen, buf, &rawlen, err) != 0)
			return -1;
		*siglen = HSMCA_SIG_MAX;
		return ecdsa_to_der(buf, rawlen, sig, siglen, err);
	}
	return hsmca_key_sign_raw(k, alg, in, inlen, sig, siglen, err);
}

int hsmca_verify_sig(EVP_PKEY *pub, enum hsmca_sigalg alg, const uint8_t *msg, size_t len,
		     const uint8_t *sig, size_t siglen, hsmca_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = NULL;
	int ok = 0;

	if (!ctx)
		return hsmca_error_set(err, "out of memory");
	if (alg != HSMCA_SIG_ED25519)
		md = is_sha384(alg) ? EVP_sha384() : EVP_sha256();
	if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pub) <= 0)
		goto out;
	if (alg == HSMCA_SIG_RSA_PSS_SHA256 || alg == HSMCA_SIG_RSA_PSS_SHA384) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0)
			goto out;
	}
	ok = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return hsmca_error_openssl(err, "the %s signature does not verify with the key's public key",
					   hsmca_sigalg_name(alg));
	return 0;
}
