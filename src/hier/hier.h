/* CA hierarchies: intermediates whose keys live in a token, bound to a
 * certificate from another (offline) CA; cross-signatures for root rollover;
 * the chains relying parties need.
 *
 * An intermediate made for another CA to sign goes through two states in
 * <home>/cas/<name>/:
 *
 *   pending   pending.yaml + request.csr: the key is in the token, the CSR
 *             (signed in the token) is out for signature; the CA is usable
 *             for nothing (hsmca_ca_load refuses it, naming the state).
 *   bound     ca.pem, issuers.pem (its issuers nearest first, ending with
 *             the self-signed root), ca.yaml (kind intermediate): it issues.
 *
 * Binding (hsmca_hier_import, and hsmca_hier_create_sub for a parent in the
 * same state directory) checks everything before writing anything: the
 * certificate's key is the token key, CA:TRUE with keyCertSign, the subject
 * is the one requested, the chain verifies up to a self-signed root given
 * with it, and the validity lies inside the issuer's.  A refusal leaves the
 * state directory and the token as they were.
 *
 * The library never prints; every function returns 0 or -1 with `err` set.
 * Not thread-safe on one session. */
#ifndef HSMCA_HIER_H
#define HSMCA_HIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/ceremony.h"
#include "common/error.h"
#include "state/session.h"
#include "x509/der.h"

/* Generate the key of intermediate c->name in the session's token (verified
 * non-extractable), sign a PKCS#10 CSR for c->subject with it in the token,
 * and record the CA as pending.  Uses c->name, key_type, key_label, subject,
 * rsa_pss, sig_hash, crl_url, issuer_url.  *csr (initialised by the caller)
 * receives the DER CSR.  On failure the key is destroyed and nothing is
 * written.  Key generation and the CSR signature are audit-logged. */
int hsmca_hier_request(struct hsmca_session *s, const struct hsmca_ceremony *c,
		       struct hsmca_der *csr, hsmca_error *err);

/* Bind the certificate `cert` (PEM or DER) to pending CA `name`, with
 * `chain` (PEM, the issuers up to and including a self-signed root; extra
 * certificates are ignored).  See the checks above.  *out (may be NULL)
 * receives the bound CA. */
int hsmca_hier_import(struct hsmca_session *s, const char *name, const uint8_t *cert,
		      size_t cert_len, const uint8_t *chain, size_t chain_len,
		      struct hsmca_ca **out, hsmca_error *err);

/* `ca init NAME --issuer PARENT`: a key in the token, a CA certificate for it
 * signed by PARENT (same state directory, same token), bound as above.
 * pathLen: one below the parent's (refused when the parent's is 0); when the
 * parent has none, c->path_len (-1 = none).  A c->path_len deeper than the
 * parent allows is refused.  notAfter is clamped to the parent's (*clamped
 * says so).  On failure the key is destroyed and nothing is written. */
int hsmca_hier_create_sub(struct hsmca_session *s, const struct hsmca_ceremony *c,
			  const char *parent, struct hsmca_ca **out, bool *clamped,
			  hsmca_error *err);

/* A CA certificate for somebody's key, issued by `signer` in the token. */
struct hsmca_hier_cacert {
	const uint8_t *subject; /* DER Name, used as it is */
	size_t subject_len;
	const uint8_t *spki;    /* DER SubjectPublicKeyInfo, used as it is */
	size_t spki_len;
	uint8_t ski[20];        /* subjectKeyIdentifier to write */
	int path_len;           /* -1 = none */
	time_t not_before, not_after;
	const char *kind;       /* record profile and audit kind, e.g. "cross-sign" */
};

/* Lint, sign in the token with signer's key, verify with signer's public key,
 * record in signer's issuance log and audit-log.  Extensions: CA:TRUE
 * (critical, req->path_len), keyUsage keyCertSign+cRLSign, the SKI given,
 * AKI = signer's SKI, and signer's CDP/AIA URLs.  *out is the DER. */
int hsmca_hier_sign_ca(struct hsmca_session *s, const struct hsmca_ca *signer,
		       const struct hsmca_hier_cacert *req, struct hsmca_der *out,
		       hsmca_error *err);

/* `ca cross-sign`: SUBJECT's key and subject name certified by `signer`.
 * subject_cert is SUBJECT's own certificate (DER); its SKI and pathLen are
 * kept.  validity 0: until the earlier of the two notAfters; else from now,
 * refused when it runs past the signer's notAfter. */
int hsmca_hier_cross_sign(struct hsmca_session *s, const char *signer, const uint8_t *subject_cert,
			  size_t subject_cert_len, int64_t validity, struct hsmca_der *out,
			  hsmca_error *err);

/* Certificates from PEM text (any number of CERTIFICATE blocks) or one DER
 * certificate.  Refuses input with none. */
int hsmca_hier_read_certs(const uint8_t *buf, size_t len, STACK_OF(X509) **out, hsmca_error *err);

/* The chain a relying party is given with what `ca` issues: ca's certificate
 * and its issuers, up to and not including the root, as PEM (malloc'ed;
 * "" for a root). */
int hsmca_hier_chain_pem(const struct hsmca_ca *ca, char **pem, size_t *len, hsmca_error *err);

/* The CA's direct issuer, read from issuers.pem (or the parent CA in the
 * state directory): its notAfter and subject.  Returns 1 when found, 0 for a
 * root, -1 on error. */
int hsmca_hier_parent_expiry(const char *home, const struct hsmca_ca *ca, time_t *not_after,
			     char *subject, size_t subject_len, hsmca_error *err);

/* Names of pending CAs in `home`, sorted; *names malloc'ed. */
int hsmca_hier_pending_names(const char *home, char (**names)[64], size_t *n, hsmca_error *err);

#endif
