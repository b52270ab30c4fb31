/* Chains: reading certificate bundles, the chain handed out with what a CA
 * issues, and the issuer an intermediate depends on. */
#include "hier/hier_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509/x509.h"

#include "common/fsutil.h"

int hsmca_hier_read_certs(const uint8_t *buf, size_t len, STACK_OF(X509) **out, hsmca_error *err)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio = NULL;
	X509 *x;

	if (!certs || len > INT32_MAX)
		goto oom;
	ERR_clear_error(); /* what is judged below is this parse's errors only */
	if (len > 0 && buf[0] == 0x30) {
		const unsigned char *p = buf;

		x = d2i_X509(NULL, &p, (long)len);
		if (!x || p != buf + len) {
			X509_free(x);
			sk_X509_free(certs);
			return hsmca_error_openssl(err, "not a DER certificate");
		}
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			goto oom;
		}
		*out = certs;
		return 0;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		goto oom;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			BIO_free(bio);
			goto oom;
		}
	}
	BIO_free(bio);
	/* The loop ends at the first block that is not a certificate, or at EOF. */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE && sk_X509_num(certs) > 0)
		ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		ERR_clear_error();
		return hsmca_error_set(err, "no certificate found (PEM CERTIFICATE blocks or one DER "
					    "certificate expected)");
	}
	if (ERR_peek_error()) {
		sk_X509_pop_free(certs, X509_free);
		return hsmca_error_openssl(err, "a certificate block does not parse");
	}
	*out = certs;
	return 0;
oom:
	sk_X509_free(certs);
	return hsmca_error_set(err, "out of memory");
}

/* issuers.pem of a CA; NULL stack (and 0) for a root without one. */
static int load_issuers(const struct hsmca_ca *ca, STACK_OF(X509) **out, hsmca_error *err)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (hsmca_path_join(path, sizeof(path), err, "%s/issuers.pem", ca->dir) != 0)
		return -1;
	if (access(path, F_OK) != 0)
		return 0;
	if (hsmca_read_file(path, 1024 * 1024, &buf, &len, err) != 0)
		return -1;
	ret = hsmca_hier_read_certs(buf, len, out, err);
	free(buf);
	if (ret != 0)
		hsmca_error_prefix(err, "CA '%s': %s", ca->name, path);
	return ret;
}

int hsmca_hier_chain_pem(const struct hsmca_ca *ca, char **pem, size_t *len, hsmca_error *err)
{
	STACK_OF(X509) *issuers = NULL;
	char *own = NULL, *above = NULL, *all;
	size_t own_len = 0, above_len = 0;

	if (!(ca->x509 && (X509_get_extension_flags(ca->x509) & EXFLAG_SS) == 0)) {
		/* A root: the relying party has it; the chain is empty. */
		all = calloc(1, 1);
		if (!all)
			return hsmca_error_set(err, "out of memory");
		*pem = all;
		*len = 0;
		return 0;
	}
	if (load_issuers(ca, &issuers, err) != 0)
		return -1;
	own = hsmca_pem_encode("CERTIFICATE", ca->der, ca->der_len, &own_len);
	/* Up to, not including, the root (the last entry when it is self-signed). */
	if (issuers) {
		int n = sk_X509_num(issuers);

		if (n > 0 && (X509_get_extension_flags(sk_X509_value(issuers, n - 1)) & EXFLAG_SS))
			n--;
		above = hier_pem_stack(issuers, 0, n, &above_len);
	} else {
		above = calloc(1, 1);
	}
	sk_X509_pop_free(issuers, X509_free);
	all = own && above ? malloc(own_len + above_len + 1) : NULL;
	if (!all) {
		free(own);
		free(above);
		return hsmca_error_set(err, "out of memory");
	}
	memcpy(all, own, own_len);
	memcpy(all + own_len, above, above_len + 1);
	free(own);
	free(above);
	*pem = all;
	*len = own_len + above_len;
	return 0;
}

int hsmca_hier_parent_expiry(const char *home, const struct hsmca_ca *ca, time_t *not_after,
			     char *subject, size_t subject_len, hsmca_error *err)
{
	STACK_OF(X509) *issuers = NULL;
	struct hsmca_ca *parent = NULL;
	struct tm tm;
	X509 *x = NULL;
	int ret = -1;

	/* The parent as it is now in this state directory wins over the copy
	 * taken at import time. */
	if (ca->parent[0] && hsmca_ca_load(home, ca->parent, &parent, err) == 0)
		x = parent->x509;
	else if (load_issuers(ca, &issuers, err) != 0)
		goto out;
	else if (issuers && sk_X509_num(issuers) > 0)
		x = sk_X509_value(issuers, 0);
	if (!x) {
		ret = 0;
		goto out;
	}
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
		hsmca_error_set(err, "CA '%s': its issuer's notAfter does not parse", ca->name);
		goto out;
	}
	*not_after = timegm(&tm);
	X509_NAME_oneline(X509_get_subject_name(x), subject, (int)subject_len);
	ret = 1;
out:
	sk_X509_pop_free(issuers, X509_free);
	hsmca_ca_free(parent);
	return ret;
}
