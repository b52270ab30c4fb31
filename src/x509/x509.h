/* X.509 objects built in DER and signed in the token.
 *
 * The X.509 code calls the token only through hsmca_key_sign() and
 * hsmca_key_spki()/hsmca_key_pkey(). */
#ifndef HSMCA_X509_H
#define HSMCA_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/error.h"
#include "pkcs11/token.h"
#include "x509/der.h"

/* ---- names ---- */

/* Encode an RFC 4514 string ("CN=Talos Access Root,O=Example") as a DER
 * Name.  As in RFC 4514 the leftmost RDN is the most specific, so the DER
 * order is reversed (O first, then CN).  Attributes: CN, O, OU, C, ST, L,
 * serialNumber, emailAddress, DC. Backslash escapes "\," "\+" "\\" "\=". */
int hsmca_name_encode(const char *dn, struct hsmca_der *out, hsmca_error *err);
/* Encode a Name from parts: O values first, then CN (as kubeadm does).
 * UTF8String values; lengths checked against RFC 5280 bounds. */
int hsmca_name_encode_parts(const char *cn, const char (*o)[64], size_t n_o, struct hsmca_der *out,
			    hsmca_error *err);
/* Render a DER Name back to RFC 4514 text (for display). */
int hsmca_name_format(const uint8_t *der, size_t len, char *out, size_t outlen);

/* ---- extensions ---- */

/* Key usage (HSMCA_KU_*), extended key usage (HSMCA_EKU_*) and SAN kind
 * (HSMCA_SAN_*) bit flags are shared with the profile files. */
#include "yaml/profile_yaml.h"

struct hsmca_san {
	unsigned kind;            /* one HSMCA_SAN_* bit */
	uint8_t value[256]; /* text for DNS/URI/EMAIL, 4 or 16 bytes for IP */
	size_t len;
};

/* Parse "DNS:name", "IP:1.2.3.4", "IP:::1", "URI:spiffe://…", "email:a@b". */
int hsmca_san_parse(const char *s, struct hsmca_san *out, hsmca_error *err);
void hsmca_san_format(const struct hsmca_san *san, char *out, size_t outlen);
/* Check a SAN's value for its kind: LDH host names (a leading "*." allowed,
 * but not directly under a public suffix: "*.com", "*.co.uk", by Debian's
 * libpsl and its list), absolute ASCII URIs, mailboxes, 4- or 16-byte IPs
 * that name a host (not 0.0.0.0/8, ::, broadcast or multicast) — what Go
 * accepts and a CA should sign.  Thread-safe. */
int hsmca_san_validate(const struct hsmca_san *san, hsmca_error *err);

/* Each appends one Extension to an open `extensions` SEQUENCE. */
void hsmca_ext_basic_constraints(struct hsmca_der *d, bool ca, int path_len);
void hsmca_ext_key_usage(struct hsmca_der *d, unsigned ku);
void hsmca_ext_ext_key_usage(struct hsmca_der *d, unsigned eku);
void hsmca_ext_ski(struct hsmca_der *d, const uint8_t keyid[20]);
void hsmca_ext_aki(struct hsmca_der *d, const uint8_t keyid[20]);
void hsmca_ext_san(struct hsmca_der *d, const struct hsmca_san *sans, size_t n, bool critical);
/* cRLDistributionPoints with one fullName URI (RFC 5280 4.2.1.13) and
 * authorityInfoAccess with one caIssuers URI (4.2.2.1), both non-critical. */
void hsmca_ext_crl_dp(struct hsmca_der *d, const char *url);
void hsmca_ext_aia_ca_issuers(struct hsmca_der *d, const char *url);
/* The hook every certificate a CA issues goes through: the CA's CDP and
 * caIssuers URLs, each only when set ("" or NULL = none). */
void hsmca_ext_ca_urls(struct hsmca_der *d, const char *crl_url, const char *issuer_url);
/* Check a URL for a CDP or caIssuers: an absolute http, https or ldap URI
 * of printable ASCII, at most 500 bytes.  `what` names it in the error. */
int hsmca_url_check(const char *url, const char *what, hsmca_error *err);

/* RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
int hsmca_key_id(const uint8_t *spki, size_t len, uint8_t out[20], hsmca_error *err);

/* ---- certificates ---- */

struct hsmca_tbs {
	enum hsmca_sigalg sigalg;
	uint8_t serial[20];
	size_t serial_len;
	const uint8_t *issuer;
	size_t issuer_len;
	const uint8_t *subject;
	size_t subject_len;
	time_t not_before, not_after;
	const uint8_t *spki;
	size_t spki_len;
	const uint8_t *extensions; /* an encoded Extensions SEQUENCE, or NULL */
	size_t extensions_len;
};

/* AlgorithmIdentifier for a signature algorithm (PSS params hand-encoded). */
void hsmca_sigalg_der(struct hsmca_der *d, enum hsmca_sigalg a);

/* Encode a TBSCertificate (v3). */
void hsmca_tbs_encode(struct hsmca_der *d, const struct hsmca_tbs *t);

/* A random positive serial of `len` (16..20) bytes drawn from the token. */
int hsmca_serial_random(hsmca_token *t, uint8_t *serial, size_t len, hsmca_error *err);

/* Sign a DER TBS (certificate or CRL) in the token, verify the signature with
 * the key's public key before anything is written, and assemble
 * SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING } into `out`. */
int hsmca_signed_assemble(hsmca_key *k, enum hsmca_sigalg a, const uint8_t *tbs, size_t tbs_len,
			  struct hsmca_der *out, hsmca_error *err);

/* A verifier for many signatures by one key (the batch path). */
struct hsmca_fastverify {
	EVP_PKEY *pkey;
	void *ec; /* EC_KEY for EC keys */
	enum hsmca_sigalg alg;
};
int hsmca_fastverify_init(struct hsmca_fastverify *v, EVP_PKEY *pub, enum hsmca_sigalg alg);
int hsmca_fastverify(struct hsmca_fastverify *v, const uint8_t *msg, size_t len, const uint8_t *sig,
		     size_t siglen, hsmca_error *err);
void hsmca_fastverify_free(struct hsmca_fastverify *v);

/* Assemble SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING sig } (no checks). */
int hsmca_signed_build(enum hsmca_sigalg a, const uint8_t *tbs, size_t tbs_len, const uint8_t *sig,
		       size_t siglen, struct hsmca_der *out, hsmca_error *err);

/* Lint a TBSCertificate before signing (RFC 5280 rules we can check).  The
 * TBS is parsed by OpenSSL inside a dummy certificate, so what is checked is
 * what will be signed.  `issuer` is NULL for a self-signed root. */
struct hsmca_lint_expect {
	bool ca;
	bool root;
	int path_len; /* -1 none */
	unsigned ku;
	time_t issuer_not_after; /* 0 = no issuer limit */
	/* The issuing CA's certificate (NULL for a root): a CA is issued only
	 * under its pathLenConstraint, and every name within its
	 * nameConstraints. */
	X509 *issuer;
};
int hsmca_lint_tbs(const uint8_t *tbs, size_t len, const struct hsmca_lint_expect *ex,
		   hsmca_error *err);
/* The same rules by a DER walk of the TBS, without OpenSSL's key decoding
 * (lint_der.c; for a key already decoded and checked from the same bytes):
 * the batch's per-certificate lint.  Falls back to hsmca_lint_tbs() for an
 * issuer with nameConstraints.  Thread-safe. */
int hsmca_lint_tbs_der(const uint8_t *tbs, size_t len, const struct hsmca_lint_expect *ex,
		       hsmca_error *err);

/* Re-parse a finished certificate with OpenSSL and check its signature with
 * `issuer_pub` (the key's own for a root).  Returns the parsed X509 in *out
 * when out is not NULL. */
int hsmca_cert_check(const uint8_t *der, size_t len, EVP_PKEY *issuer_pub, X509 **out,
		     hsmca_error *err);

/* Whether the signed object's first element is exactly `tbs`. */
bool hsmca_signed_holds_tbs(const uint8_t *der, size_t len, const uint8_t *tbs, size_t tbs_len);

/* ---- certification requests ---- */

/* Build a PKCS#10 CertificationRequest for `key` with subject `name` (DER
 * Name), signed in the token with `alg`; when `ca` it requests
 * basicConstraints CA:TRUE and keyUsage keyCertSign+cRLSign (extensionRequest
 * attribute).  The signature is verified with the key's public key and the
 * result re-parsed and checked with OpenSSL before *out is filled. */
int hsmca_csr_build(hsmca_key *key, enum hsmca_sigalg alg, const uint8_t *name, size_t name_len,
		    bool ca, struct hsmca_der *out, hsmca_error *err);

/* PEM text of a DER object ("CERTIFICATE", "X509 CRL"); malloc'ed, NUL-terminated. */
char *hsmca_pem_encode(const char *label, const uint8_t *der, size_t len, size_t *outlen);

/* SHA-256 fingerprint of DER bytes as colon hex (96 bytes). */
void hsmca_fingerprint(const uint8_t *der, size_t len, char out[96]);

#endif
