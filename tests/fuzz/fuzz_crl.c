/* Fuzz what hsmca reads of CRLs: the re-parse and check of a signed CRL
 * (crl_check in src/store/crl.c, reached here by including that file, as it
 * is static) and the crlnumber file.  The first byte picks the mode:
 *   0: input is a whole CRL, checked against a fixed CA key;
 *   1: input is a TBSCertList, signed here with the CA key, so the checks
 *      after the signature (TBS held, number, version, entry count) run;
 *   2: input is the crlnumber file. */
#include "../../src/store/crl.c"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hsmca_ca fuzz_ca;
static EVP_PKEY *fuzz_key;

static void fuzz_ca_init(void)
{
	X509 *x = X509_new();

	fuzz_key = EVP_EC_gen("P-256");
	if (!x || !fuzz_key || !X509_set_pubkey(x, fuzz_key) ||
	    !X509_sign(x, fuzz_key, EVP_sha256()))
		abort();
	fuzz_ca.x509 = x;
}

/* SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING sig } */
static void sign_tbs(const uint8_t *tbs, size_t len, struct hsmca_der *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t sig[128];
	size_t siglen = sizeof(sig);
	size_t mark;

	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, fuzz_key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, tbs, len) != 1)
		abort();
	EVP_MD_CTX_free(md);
	mark = hsmca_der_begin(out, 0x30);
	hsmca_der_raw(out, tbs, len);
	hsmca_sigalg_der(out, HSMCA_SIG_ECDSA_SHA256);
	hsmca_der_bits(out, sig, siglen);
	hsmca_der_end(out, mark);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmca_der d;
	hsmca_error err;
	char path[400];
	uint64_t number;

	if (size < 3 || size > 256 * 1024)
		return 0;
	if (!fuzz_key)
		fuzz_ca_init();
	/* The number and entry count the caller expects, from byte 1 and 2. */
	number = data[1];
	switch (data[0] % 3) {
	case 0:
		(void)crl_check(data + 3, size - 3, data + 3, size - 3, &fuzz_ca, number, data[2], &err);
		break;
	case 1:
		hsmca_der_init(&d);
		sign_tbs(data + 3, size - 3, &d);
		if (hsmca_der_ok(&d))
			(void)crl_check(d.buf, d.len, data + 3, size - 3, &fuzz_ca, number, data[2],
					&err);
		hsmca_der_free(&d);
		break;
	default:
		fuzz_write("crlnumber", data + 1, size - 1, path, sizeof(path));
		(void)hsmca_crl_last_number(fuzz_dir(), &number, &err);
		break;
	}
	return 0;
}
