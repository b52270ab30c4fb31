/* Issuing certificates from CSRs, in the token, under a profile.
 *
 * The CSR proposes; the profile decides.  Per certificate: the CSR's own
 * signature is verified, its key is checked against the accepted types,
 * its requested extensions are checked against the profile (CA:TRUE under a
 * leaf profile, an EKU or SAN kind the profile does not allow: refused), the
 * TBS is built directly in DER from the CSR's SubjectPublicKeyInfo bytes,
 * linted, signed in the token, verified with the issuer's public key, and
 * recorded (records.h) and audit-logged before it is handed out.
 *
 * Batch issuance runs `jobs` pipelines; each owns one token session (a
 * signer thread) and three host threads: CSR checks and TBS; verification
 * and assembly; group commits of audit events and records (issue_batch.c). */
#ifndef HSMCA_ISSUE_H
#define HSMCA_ISSUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ca/ca.h"
#include "common/error.h"
#include "store/records.h"
#include "state/session.h"
#include "x509/x509.h"
#include "yaml/profile_yaml.h"

#define HSMCA_CSR_MAX (64 * 1024)
#define HSMCA_ISSUE_MAX_SANS 16
/* More RDNs than any real subject has: a request with more is refused. */
#define HSMCA_CSR_MAX_RDNS 32

/* A parsed CSR; pointers point into the caller's DER buffer. */
struct hsmca_csr {
	const uint8_t *der;
	size_t der_len;
	const uint8_t *info;
	size_t info_len;
	const uint8_t *subject;
	size_t subject_len;
	const uint8_t *spki;
	size_t spki_len;
	const uint8_t *sig_alg;
	size_t sig_alg_len;
	const uint8_t *sig;
	size_t sig_len;
	enum hsmca_key_type key_type; /* HSMCA_KEY_RSA_* by size; UNKNOWN for others */
	int rsa_bits;
	/* Requested extensions. */
	bool wants_ca;
	unsigned wants_ku;
	unsigned wants_eku;
	bool wants_unknown_eku;
	char unknown_eku[64];
	size_t n_sans;
	/* Subject CN and O values as text (UTF-8, NUL-terminated). */
	char cn[128];
	char o[8][64];
	size_t n_o;
	/* Last, and only sans[0..n_sans) is written: the unused slots (~4 KB)
	 * stay untouched, so not resident, in the batch engine's items. */
	struct hsmca_san sans[HSMCA_ISSUE_MAX_SANS];
};

/* Accept DER, or PEM armour ("CERTIFICATE REQUEST" / "NEW CERTIFICATE
 * REQUEST", the same label on BEGIN and END) around exactly one DER request
 * with nothing but whitespace around it; *der points into buf for DER
 * input, or into `scratch` (which must hold len bytes) for PEM. */
int hsmca_csr_decode(const uint8_t *buf, size_t len, uint8_t *scratch, const uint8_t **der,
		     size_t *der_len, hsmca_error *err);
/* Walk the DER strictly (nothing trailing anywhere, version 0, attributes
 * present, at most one single-valued extensionRequest, no duplicate
 * extension, DER BOOLEANs, a non-empty SAN, at most HSMCA_CSR_MAX_RDNS
 * single-valued RDNs, one key in the SubjectPublicKeyInfo with no unused
 * bits) and check the key (goodkey rules, csr_key.c). */
int hsmca_csr_parse(const uint8_t *der, size_t len, struct hsmca_csr *out, hsmca_error *err);
/* Check the key's size against the profile's minimum and the CSR's own
 * signature with the key decoded by hsmca_csr_parse. */
int hsmca_csr_verify(const struct hsmca_csr *csr, int min_rsa_bits, hsmca_error *err);
/* The one entry every issuance path uses: decode, parse, verify.  `scratch`
 * as for hsmca_csr_decode.  Thread-safe; the library keeps no state. */
int hsmca_csr_load(const uint8_t *buf, size_t len, uint8_t *scratch, int min_rsa_bits,
		   struct hsmca_csr *csr, hsmca_error *err);

struct hsmca_issue_request {
	const char *ca;
	const char *profile;
	const uint8_t *csr;
	size_t csr_len;
	const char *subject;        /* --subject override (CN, O only), or NULL */
	const char *const *sans;    /* --san additions */
	size_t n_sans;
	int64_t validity;           /* seconds; 0 = the profile's default */
};

struct hsmca_issued {
	uint8_t *der;
	size_t der_len;
	uint8_t serial[20];
	size_t serial_len;
	time_t not_before, not_after;
	char subject[512];
	char note[256]; /* e.g. "notAfter clamped to the issuer's notAfter" */
};

void hsmca_issued_clear(struct hsmca_issued *out);

/* Issue one certificate (the `hsmca sign` path): full OpenSSL lint before
 * signing and full re-parse + X509_verify after, besides the checks every
 * certificate gets. */
int hsmca_issue_one(struct hsmca_session *s, const struct hsmca_issue_request *req,
		    struct hsmca_issued *out, hsmca_error *err);

/* ---- batches ---- */

/* One item of a batch: the caller supplies CSR bytes and receives the
 * certificate (or the error) through the callbacks. */
struct hsmca_batch_ops {
	/* Fill csr and len with the next CSR (bytes stay valid until `done` for
	 * that item); return 1 if one was given, 0 at the end, -1 on error. */
	int (*next)(void *arg, size_t *item, const uint8_t **csr, size_t *len, hsmca_error *err);
	/* Called once per item, from worker threads (serialised by the engine),
	 * in no particular order: a refused item at once, an issued one after
	 * the group commit that made its record and audit event durable.
	 * cert->subject is the RFC 4514 subject, as hsmca_issue_one() gives it. */
	void (*done)(void *arg, size_t item, const struct hsmca_issued *cert, const hsmca_error *err);
	void *arg;
};

struct hsmca_batch_opts {
	const char *ca;
	const char *profile;
	int64_t validity;
	unsigned jobs;         /* token sessions (pipelines), >= 1 */
	bool keep_der;         /* pass the DER to `done` (off for benchmarks) */
};

struct hsmca_batch_stats {
	size_t issued, failed;
	double seconds;
	double commit_seconds; /* wall time in group commits (fsync of records and audit) */
	double cpu[3]; /* CPU seconds of the prepare, sign and finish threads (all pipelines) */
};

int hsmca_issue_batch(struct hsmca_session *s, const struct hsmca_batch_opts *opts,
		      const struct hsmca_batch_ops *ops, struct hsmca_batch_stats *stats,
		      hsmca_error *err);

/* What a batch issues with: the CA certificate, its key (bound to the
 * caller's session), the profile, and where records and audit events go.
 * hsmca_issue_batch fills one from the state directory; the benchmark
 * builds one around a throwaway CA. */
struct hsmca_issuer {
	struct hsmca_session *session;
	const struct hsmca_ca *ca;
	hsmca_key *key;
	struct hsmca_profile_def profile;
	hsmca_records *records;
	hsmca_audit *audit;
	char key_uri[1024];
};

int hsmca_issue_run(const struct hsmca_issuer *iss, const struct hsmca_batch_opts *opts,
		    const struct hsmca_batch_ops *ops, struct hsmca_batch_stats *stats,
		    hsmca_error *err);

#endif
