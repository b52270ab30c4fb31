/* Fuzz the talosconfig reader (hsmca_talos_creds_from_talosconfig): contexts,
 * the base64 PEM fields, the key/certificate match, endpoints and nodes.
 * The reader only goes past the credential check with a key that matches its
 * certificate, and the repository holds no private keys: so "@KEY@" and
 * "@CRT@" in an input are replaced by the base64 of a key and certificate
 * made when the target starts.  The first byte picks the context asked for
 * (the current one, or "a"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fuzz_util.h"
#include "talos/talos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *crt_b64, *key_b64;

static char *b64_of(BIO *mem)
{
	BUF_MEM *bm;
	char *out;

	BIO_get_mem_ptr(mem, &bm);
	out = malloc(4 * (bm->length / 3 + 1) + 1);
	if (!out)
		abort();
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)bm->data, (int)bm->length);
	return out;
}

static void make_creds(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *c = BIO_new(BIO_s_mem()), *p = BIO_new(BIO_s_mem());

	if (!k || !x || !c || !p || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					(const unsigned char *)"fuzz", -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) || !X509_set_pubkey(x, k) ||
	    !X509_sign(x, k, EVP_sha256()) || !PEM_write_bio_X509(c, x) ||
	    !PEM_write_bio_PrivateKey(p, k, NULL, NULL, 0, NULL, NULL))
		abort();
	crt_b64 = b64_of(c);
	key_b64 = b64_of(p);
	BIO_free(c);
	BIO_free(p);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* A copy of data with the placeholders replaced. */
static char *expand(const uint8_t *data, size_t size, size_t *outlen)
{
	size_t cap = size * (strlen(key_b64) + strlen(crt_b64)) / 5 + size + 1, o = 0, i;
	char *out = malloc(cap);

	if (!out)
		abort();
	for (i = 0; i < size;) {
		const char *rep = NULL;

		if (size - i >= 5 && memcmp(data + i, "@KEY@", 5) == 0)
			rep = key_b64;
		else if (size - i >= 5 && memcmp(data + i, "@CRT@", 5) == 0)
			rep = crt_b64;
		if (rep) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
			i += 5;
		} else {
			out[o++] = (char)data[i++];
		}
	}
	*outlen = o;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmca_talos_creds c;
	char **endpoints = NULL, **nodes = NULL;
	hsmca_error err;
	char path[400], *text;
	size_t len;

	if (size < 1 || size > 256 * 1024)
		return 0;
	if (!crt_b64)
		make_creds();
	text = expand(data + 1, size - 1, &len);
	fuzz_write("talosconfig", text, len, path, sizeof(path));
	free(text);
	if (hsmca_talos_creds_from_talosconfig(path, (data[0] & 1) ? "a" : NULL, &c, &endpoints,
					       &nodes, &err) == 0) {
		hsmca_talos_creds_clear(&c);
		hsmca_talos_strv_free(endpoints);
		hsmca_talos_strv_free(nodes);
	}
	return 0;
}
