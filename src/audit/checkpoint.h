/* Signed audit checkpoints.
 *
 * A checkpoint is (number, seq, hash of line seq, time, token serial),
 * signed in the token by the audit key (label "hsmca-audit", ECDSA P-256,
 * generated in the token, never extractable) and appended as one JSON line
 * to <home>/audit.checkpoints.  The public key is kept in
 * <home>/audit-key.pem; verifiers should hold their own copy (the anchor).
 * A rewrite of the log up to a checkpointed line then needs the token, not
 * only write access to the state directory.  See docs/audit.md.
 *
 * An excerpt (hsmca audit export, the audit.jsonl of a response bundle) is
 * audit lines N..C verbatim followed by the checkpoint line covering C: it
 * verifies on its own, with the anchor, without the rest of the log. */
#ifndef HSMCA_AUDIT_CHECKPOINT_H
#define HSMCA_AUDIT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "audit/audit.h"
#include "common/error.h"
#include "pkcs11/token.h"

#define HSMCA_AUDIT_KEY_LABEL "hsmca-audit"

struct hsmca_checkpoint {
	size_t number; /* 1-based position in audit.checkpoints */
	size_t seq;    /* last audit line covered */
	char hash[65]; /* its hash */
	char time[21];
	char token[17];	 /* token serial */
	char key[65];	 /* SHA-256 of the audit key's SubjectPublicKeyInfo */
	char line[1024]; /* the checkpoint line as written, without newline */
};

/* Generate the audit key in the open, logged-in token t (refused if one
 * exists), write its public key to <home>/audit-key.pem (0644, atomic) and
 * audit-log "generate".  Not thread-safe on one session. */
int hsmca_checkpoint_key_init(hsmca_token *t, const char *home, hsmca_audit *a,
			      hsmca_error *err);

/* Write the public key of the audit key already in t to <home>/audit-key.pem
 * (a new state directory over a token that has one). */
int hsmca_checkpoint_key_export(hsmca_token *t, const char *home, hsmca_error *err);

/* Flush `a`, check the log's chain (a broken log is not signed), sign a
 * checkpoint of its last line with the audit key in t and append it to
 * <home>/audit.checkpoints (flock, fsync).  out may be NULL. */
int hsmca_checkpoint_sign(hsmca_token *t, const char *home, hsmca_audit *a,
			  struct hsmca_checkpoint *out, hsmca_error *err);

/* Load a public key: PEM "PUBLIC KEY" or a PEM certificate's key. */
int hsmca_checkpoint_load_anchor(const char *path, EVP_PKEY **out, hsmca_error *err);

/* Parse a checkpoint line and verify its signature with `anchor`. */
int hsmca_checkpoint_parse_verify(const char *line, size_t len, EVP_PKEY *anchor,
				  struct hsmca_checkpoint *out, hsmca_error *err);

/* Verify <home>/audit.checkpoints with `anchor` (every signature, numbers
 * consecutive, seq never moving back), then that the log's chain is intact
 * (hsmca_audit_verify) and that line `seq` of each checkpoint still hashes
 * to what was signed.  The first contradiction names the checkpoint and the
 * line.  *n_checkpoints, *lines are set on success; *bad_line on failure
 * (0 when no line is to blame, as for hsmca_audit_verify).  Any may be NULL. */
int hsmca_checkpoint_verify_log(const char *home, EVP_PKEY *anchor, size_t *n_checkpoints,
				size_t *lines, size_t *bad_line, hsmca_error *err);

/* Write lines from..C and the first checkpoint with seq C >= to into `out`
 * (atomic, 0644).  Refused if no checkpoint covers `to`. */
int hsmca_checkpoint_export(const char *home, size_t from, size_t to, const char *out,
			    hsmca_error *err);

/* Verify an excerpt: audit lines with consecutive seq, each chaining onto
 * the one before, the last hashing to what the final checkpoint line signed,
 * the signature valid under `anchor`.  first and last get the seq range. */
int hsmca_checkpoint_verify_excerpt(const char *buf, size_t len, EVP_PKEY *anchor,
				    struct hsmca_checkpoint *cp, size_t *first, size_t *last,
				    hsmca_error *err);

/* The audit lines with seq in [from, to] of the log at `path`, verbatim
 * with newlines, into a malloc'ed buffer. */
int hsmca_audit_lines(const char *path, size_t from, size_t to, char **out, size_t *len,
		      hsmca_error *err);

#endif
