/* Certificate authorities in the state directory.
 *
 *   <home>/cas/<name>/ca.pem    the CA certificate (public)
 *   <home>/cas/<name>/ca.yaml   metadata: key label and URI, signature
 *                               algorithm, kind, parent, purpose, CRL and issuer
 *                               URLs (public)
 *   <home>/cas/<name>/issuers.pem  an intermediate's issuers, nearest first,
 *                               ending with the root (src/hier/)
 * A CA exists once ca.yaml exists; it is written last.  A CA whose key was
 * made for a CSR but whose certificate is not yet imported has only
 * pending.yaml and request.csr (src/hier/hier.h) and is usable for nothing. */
#ifndef HSMCA_CA_H
#define HSMCA_CA_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "ca/ceremony.h"
#include "common/error.h"
#include "pkcs11/token.h"
#include "state/session.h"

struct hsmca_ca {
	char name[64];
	char dir[PATH_MAX];
	char kind[16];      /* "root" | "intermediate" */
	char parent[64];    /* "" for a root */
	char key_label[129];
	char key_uri[1024];
	char created[32];
	char crl_url[512];    /* cRLDistributionPoints of what it issues; "" = none */
	char issuer_url[512]; /* AIA caIssuers of what it issues; "" = none */
	/* "" (any profile) or HSMCA_CA_PURPOSE_*: then only the profiles of that
	 * purpose may be used with this CA (issue.c). */
	char purpose[24];
	enum hsmca_sigalg sigalg;
	uint8_t *der;       /* certificate */
	size_t der_len;
	X509 *x509;
	uint8_t ski[20];
	const uint8_t *subject_der; /* inside der */
	size_t subject_der_len;
	time_t not_before, not_after;
	char subject[512];  /* RFC 4514 text */
	char fingerprint[96];
};

/* Run a root ceremony: generate the key in the token (verified
 * non-extractable), build and lint the TBS, sign it in the token, verify,
 * and store the CA.  On any failure after the key was generated, the key is
 * destroyed and nothing is written.  Every key event is audit-logged. */
int hsmca_ca_create_root(struct hsmca_session *s, const struct hsmca_ceremony *c,
			 struct hsmca_ca **out, hsmca_error *err);

int hsmca_ca_load(const char *home, const char *name, struct hsmca_ca **out, hsmca_error *err);
/* Names of all CAs, sorted.  *names malloc'ed. */
int hsmca_ca_names(const char *home, char (**names)[64], size_t *n, hsmca_error *err);
/* The CA directories under <home>/cas holding file `has` and, unless `lacks`
 * is NULL, not `lacks`; sorted.  *names is malloc()ed (NULL when none). */
int hsmca_ca_dir_names(const char *home, const char *has, const char *lacks,
		       char (**names)[64], size_t *n, hsmca_error *err);
/* Find the CA's key in the open token and check that its public key is the
 * one in the certificate. */
int hsmca_ca_open_key(struct hsmca_session *s, const struct hsmca_ca *ca, hsmca_key **out,
		      hsmca_error *err);
void hsmca_ca_free(struct hsmca_ca *ca);

/* Fill the derived fields (x509, SKI, subject, validity, fingerprint) from
 * ca->der, which the caller has set. */
int hsmca_ca_parse_cert(struct hsmca_ca *ca, hsmca_error *err);
/* Write ca->dir/ca.yaml atomically from the struct (the step that makes a CA
 * exist). */
int hsmca_ca_write_metadata(const struct hsmca_ca *ca, hsmca_error *err);

/* A throwaway CA for benchmarks: a fresh key `label` in the token and a
 * self-signed certificate kept in memory only.  The caller destroys the key
 * (hsmca_key_destroy) when done. */
int hsmca_ca_ephemeral(struct hsmca_session *s, enum hsmca_key_type type, const char *label,
		       struct hsmca_ca **out, hsmca_key **key, hsmca_error *err);

const char *hsmca_sigalg_id(enum hsmca_sigalg a);
int hsmca_sigalg_from_id(const char *id, enum hsmca_sigalg *out, hsmca_error *err);

#define HSMCA_CA_PURPOSE_KUBE "kubernetes-access"
#define HSMCA_CA_PURPOSE_TALOS "talos-access"

/* "" or one of HSMCA_CA_PURPOSE_*. */
int hsmca_ca_purpose_check(const char *purpose, hsmca_error *err);

/* Validate a CA name: [a-z0-9][a-z0-9._-]{0,62}. */
int hsmca_ca_name_check(const char *name, hsmca_error *err);

#endif
