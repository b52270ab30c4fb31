/* Shared by issue.c and issue_batch.c only. */
#ifndef HSMCA_ISSUE_INTERNAL_H
#define HSMCA_ISSUE_INTERNAL_H

#include "issue/issue.h"

/* What the caller adds to a CSR: --subject, --san, --validity. */
struct hsmca_plan_input {
	const char *subject;
	const struct hsmca_san *sans;
	size_t n_sans;
	int64_t validity; /* 0 = profile default */
	time_t now;
};

/* What the profile decided for one certificate. */
struct hsmca_plan {
	/* First, and only sans[0..n_sans) is written (see struct hsmca_csr). */
	struct hsmca_san sans[HSMCA_ISSUE_MAX_SANS];
	char cn[128];
	char o[8][64];
	size_t n_o;
	size_t n_sans;
	unsigned ku, eku;
	bool is_ca;
	int path_len;
	time_t not_before, not_after;
	char note[256];
};

int hsmca_issue_plan(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
		     const struct hsmca_plan_input *in, struct hsmca_plan *plan, hsmca_error *err);
/* Build the TBS into `tbs`; `scratch` holds the subject and extensions. */
int hsmca_issue_tbs(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
		    const struct hsmca_plan *plan, const uint8_t *serial, size_t serial_len,
		    struct hsmca_der *scratch, struct hsmca_der *tbs, hsmca_error *err);
int hsmca_issue_lint_fast(const struct hsmca_issuer *iss, const struct hsmca_plan *plan,
			  const uint8_t *serial, size_t serial_len, hsmca_error *err);
/* The full lint of the TBS bytes: parsed back by OpenSSL (`hsmca sign`), or
 * by the equivalent DER walk (der_walk: the batch, every certificate). */
int hsmca_issue_lint_full(const struct hsmca_issuer *iss, const struct hsmca_plan *plan,
			  const struct hsmca_der *tbs, bool der_walk, hsmca_error *err);
/* Fill the issuance record of a signed certificate (issued_at = now). */
void hsmca_issue_record_fill(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
			     const struct hsmca_plan *plan, const uint8_t *serial, size_t serial_len,
			     const uint8_t *cert, size_t cert_len, struct hsmca_record *rec);
/* Append the issuance record and the audit event (deferred: group commit). */
int hsmca_issue_record(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
		       const struct hsmca_plan *plan, const uint8_t *serial, size_t serial_len,
		       const uint8_t *cert, size_t cert_len, bool deferred, hsmca_error *err);

/* The smallest RSA key the profile accepts (3072 for any CA profile). */
int hsmca_issue_min_rsa(const struct hsmca_profile_def *p);

/* policy.c: the CA's purpose against the profile, and what a CA-issuing
 * profile may ask of its issuer (pathLenConstraint); `home` finds the
 * rotation's access-ca pointers (NULL: none). */
int hsmca_issue_policy_issuer(const struct hsmca_issuer *iss, const char *home, hsmca_error *err);
/* The pathLen a CA profile's certificate gets under this issuer. */
int hsmca_issue_policy_path_len(const struct hsmca_issuer *iss, int path_len);
/* Reserved Kubernetes names (system:…) among a CN and O values: refused
 * unless the profile fixes them (system:masters: kube-admin only). */
int hsmca_issue_policy_names(const struct hsmca_profile_def *p, const char *cn,
			     const char (*o)[64], size_t n_o, hsmca_error *err);

/* At most this many serial draws for one certificate: 159 random bits
 * collide never in practice, so a token RNG that repeats itself is broken. */
#define HSMCA_SERIAL_TRIES 8

int hsmca_issuer_open(struct hsmca_session *s, const char *ca_name, const char *profile,
		      struct hsmca_issuer *iss, struct hsmca_ca **ca_out, hsmca_error *err);
void hsmca_issuer_close(struct hsmca_issuer *iss);

#endif
