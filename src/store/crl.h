/* Certificate revocation lists (RFC 5280 section 5), signed in the token.
 *
 * A CRL lists every revocation in <ca dir>/revoked.jsonl (records.h) with
 * its revocation date and, except for "unspecified", a reasonCode entry
 * extension; it carries the CA's AKI and a cRLNumber one above the last,
 * kept in <ca dir>/crlnumber.  No delta CRLs, no indirect CRLs, no issuing
 * distribution point.
 *
 * nextUpdate never runs past the CA certificate's notAfter: a longer
 * interval is clamped to it and reported (info->clamped), so CRL publication
 * keeps working to the CA's last day; a CA that has expired gets no CRL. */
#ifndef HSMCA_CRL_H
#define HSMCA_CRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ca/ca.h"
#include "common/error.h"
#include "state/session.h"
#include "x509/der.h"

/* What a signed CRL says, for display and logs. */
struct hsmca_crl_info {
	uint64_t number;
	time_t this_update, next_update;
	bool clamped;   /* nextUpdate was cut back to the CA's notAfter */
	size_t revoked; /* entries listed */
};

/* One revoked entry, for the encoder. */
struct hsmca_crl_entry {
	const uint8_t *serial;
	size_t serial_len;
	time_t revoked_at;
	int reason; /* 0 (unspecified) means no reasonCode extension */
};

/* Build, sign and check the CA's next CRL.
 *
 * `s` must be logged in; `next_update_secs` > 0 is the interval from now
 * (hsmca_now()) to nextUpdate.  Under an exclusive lock on the CA directory
 * (so two runs never share a number): read crlnumber, encode the
 * TBSCertList, sign it with the CA key in the token (hsmca_signed_assemble
 * verifies the raw signature), re-parse the result with d2i_X509_CRL and
 * check it with X509_CRL_verify against the CA certificate's public key and
 * that it holds the TBS byte for byte, persist the new number atomically,
 * then audit-log event "sign" (kind=crl, crl_number, revoked).  Only then is
 * `out` (initialised with hsmca_der_init; previous content is freed) filled
 * with the DER CRL and *crl_number set.  A failed signature is audit-logged
 * as failed.  Not thread-safe on one session (the token session is not). */
int hsmca_crl_build(struct hsmca_session *s, const struct hsmca_ca *ca, int64_t next_update_secs,
		    struct hsmca_der *out, uint64_t *crl_number, hsmca_error *err);

/* hsmca_crl_build() that also reports the times and whether nextUpdate was
 * clamped.  `info` may be NULL. */
int hsmca_crl_build_ex(struct hsmca_session *s, const struct hsmca_ca *ca,
		       int64_t next_update_secs, struct hsmca_der *out, struct hsmca_crl_info *info,
		       hsmca_error *err);

/* Encode a TBSCertList v2 (no signing): signature algorithm `alg`, issuer
 * `issuer` (DER Name), the entries, AKI keyid `aki` and cRLNumber `number`.
 * Allocation failures are sticky in `d` (hsmca_der_ok()). */
void hsmca_crl_tbs_encode(struct hsmca_der *d, enum hsmca_sigalg alg, const uint8_t *issuer,
			  size_t issuer_len, time_t this_update, time_t next_update,
			  const struct hsmca_crl_entry *entries, size_t n, const uint8_t aki[20],
			  uint64_t number);

/* The last CRL number issued for the CA in `ca_dir` (0 when none yet).
 * A malformed crlnumber file is an error, never read as 0. */
int hsmca_crl_last_number(const char *ca_dir, uint64_t *out, hsmca_error *err);

#endif
