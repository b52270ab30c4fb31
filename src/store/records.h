/* Issuance records: every certificate a CA issued, in an append-only,
 * crash-safe log inside the CA directory, plus revocations.
 *
 *   <ca dir>/issued.jsonl    one JSON line per issued certificate
 *   <ca dir>/revoked.jsonl   one JSON line per revocation
 *   <ca dir>/crlnumber       the last CRL number issued (decimal)
 *
 * Appended lines are buffered in the handle and written together, with one
 * write() on an O_APPEND descriptor, by hsmca_records_sync() (or once they
 * pass 64 KiB, or at close); a torn last line (no newline: the process died
 * mid-write) is ignored by readers and cut off by the next open for
 * writing.  Durability is explicit: hsmca_records_sync() writes and fsyncs,
 * and callers sync before they hand a certificate out (group commit keeps
 * batch issuance fast: one write and one fsync per group).
 *
 * Thread safety: one hsmca_records may be shared by worker threads; appends
 * and lookups lock internally. */
#ifndef HSMCA_RECORDS_H
#define HSMCA_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

struct hsmca_record {
	uint8_t serial[20];
	size_t serial_len;
	char subject[512];       /* RFC 4514 text */
	char profile[64];
	time_t not_before, not_after;
	time_t issued_at;
	uint8_t csr_key_sha256[32]; /* SHA-256 of the CSR's SubjectPublicKeyInfo DER */
	uint8_t cert_sha256[32];    /* SHA-256 of the certificate DER */
};

struct hsmca_revocation {
	uint8_t serial[20];
	size_t serial_len;
	time_t revoked_at;
	int reason; /* RFC 5280 CRLReason code: 0 unspecified, 1 keyCompromise, ... 9 aACompromise */
};

typedef struct hsmca_records hsmca_records;

/* Open the records of the CA in `ca_dir` for appending, loading the set of
 * issued serials (for the never-reuse check).  Repairs a torn tail. */
int hsmca_records_open(const char *ca_dir, hsmca_records **out, hsmca_error *err);
void hsmca_records_close(hsmca_records *r); /* syncs; NULL ok */

/* Whether `serial` was ever issued by this CA (or reserved). */
bool hsmca_records_has_serial(hsmca_records *r, const uint8_t *serial, size_t len);
/* Atomically check that `serial` is unused and reserve it in memory.
 * Returns 0 if reserved, 1 if already used, -1 on error. */
int hsmca_records_reserve_serial(hsmca_records *r, const uint8_t *serial, size_t len,
				 hsmca_error *err);

/* Append one record: checked against the serial set at once, written at the
 * next sync (not yet visible to readers, not yet durable).  A record whose
 * serial is already recorded is refused. */
int hsmca_records_append(hsmca_records *r, const struct hsmca_record *rec, hsmca_error *err);
/* Write the buffered records (one write()) and fsync the log: every record
 * appended so far is durable when this returns.  After a failed write the
 * handle refuses appends (reopen; the open repairs a torn tail). */
int hsmca_records_sync(hsmca_records *r, hsmca_error *err);

/* Read all records of a CA directory in order; `cb` returns non-zero to stop. */
int hsmca_records_foreach(const char *ca_dir,
			  int (*cb)(const struct hsmca_record *rec, void *arg), void *arg,
			  hsmca_error *err);

/* Revocations. Revoking an unknown serial is an error naming it; revoking
 * twice is an error saying when it was revoked. */
int hsmca_revocation_parse_reason(const char *name, int *reason, hsmca_error *err);
const char *hsmca_revocation_reason_name(int reason);
int hsmca_revoke(const char *ca_dir, const uint8_t *serial, size_t len, int reason, time_t when,
		 hsmca_error *err);
int hsmca_revocations(const char *ca_dir, struct hsmca_revocation **out, size_t *n,
		      hsmca_error *err);

/* Added with the implementation (records.c): */

/* Parse a serial typed by a person or read from a record: hex, with or
 * without colons, either case, odd length allowed ("a1f" = 0a1f), at most
 * 20 bytes.  Leading zero bytes are kept; comparisons ignore them. */
int hsmca_records_parse_serial(const char *text, uint8_t out[static 20], size_t *len,
			       hsmca_error *err);
/* Bytes held by the handle (the serial set dominates: 8 bytes per serial
 * in a sorted array, plus 16 KB for recent ones; ~830 KB at 100,000).
 * Thread-safe. */
size_t hsmca_records_memory(hsmca_records *r);
/* Sort revocations by serial (leading zero bytes ignored) so that
 * hsmca_revocations_find() can binary-search them. */
void hsmca_revocations_sort(struct hsmca_revocation *v, size_t n);
/* The revocation of `serial` in a sorted array, or NULL. */
const struct hsmca_revocation *hsmca_revocations_find(const struct hsmca_revocation *v, size_t n,
						      const uint8_t *serial, size_t len);

#endif
