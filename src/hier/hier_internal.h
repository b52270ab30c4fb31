/* Shared by the files of src/hier/. */
#ifndef HSMCA_HIER_INTERNAL_H
#define HSMCA_HIER_INTERNAL_H

#include "hier/hier.h"

/* A key made for a new intermediate, and what was checked before making it. */
struct hier_newkey {
	struct hsmca_der name; /* the subject, DER */
	enum hsmca_sigalg alg;
	hsmca_key *key;
	char uri[1024];
	char dir[PATH_MAX];
	bool dir_made;
};

/* Check c (name free, key type, subject with one CN, URLs), then generate
 * the key in the token and audit-log it.  hier_newkey_end() must follow. */
int hier_newkey_begin(struct hsmca_session *s, const struct hsmca_ceremony *c,
		      struct hier_newkey *nk, hsmca_error *err);
/* On failure (ok false) remove what was written to nk->dir and destroy the
 * key (audit-logged); then free.  `err` keeps the first error. */
void hier_newkey_end(struct hsmca_session *s, struct hier_newkey *nk, bool ok);

/* Bind `cert` to the key `key` as CA `name` after the checks of hier.h:
 * `want_subject` (DER) is the requested subject; `chain` the issuers offered.
 * Writes ca.pem, issuers.pem, ca.yaml into dir (created when missing). */
struct hier_bind {
	const char *name;
	const char *dir;
	const char *parent; /* CA name in this state dir, or "" */
	const char *key_label;
	const char *key_uri;
	enum hsmca_sigalg sigalg;
	const char *crl_url, *issuer_url;
	const uint8_t *want_subject;
	size_t want_subject_len;
	hsmca_key *key;
};
int hier_bind(const struct hier_bind *b, X509 *cert, STACK_OF(X509) *chain, struct hsmca_ca **out,
	      hsmca_error *err);

/* PEM of every certificate in `certs` from index `from` to `to` (exclusive). */
char *hier_pem_stack(STACK_OF(X509) *certs, int from, int to, size_t *len);

#endif
