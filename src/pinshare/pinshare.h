/* M-of-N custody of token PINs: Shamir secret sharing over GF(2^8)
 * (Debian's libgfshare), one share file per custodian.
 *
 * A share is one line, so a custodian can also type or paste it:
 *
 *   hsmca-share-v1:<role>:<token serial>:<set>:<M>:<N>:<index>:<share hex>:<check>
 *
 * role is "user" or "so"; set is 16 random bytes (hex) naming one split;
 * check is the first 8 bytes of SHA-256 of everything before it, so a share
 * damaged in storage or mistyped is refused by name before anything else
 * happens.  The shared secret is
 *
 *   len(1) | PIN, padded with random bytes to a multiple of 32 | salt(16) | tag(16)
 *
 * where tag = SHA-256(domain, role, serial, set, M, N, the bytes before it)
 * truncated to 16 bytes.  After interpolation the tag must match: a share
 * altered on purpose (check recomputed) or taken from another split makes
 * the reconstruction fail here, never at the token, so the token's retry
 * counter is not spent.  The padding hides the PIN's exact length and the
 * salt keeps M-1 colluding custodians from testing PIN guesses against the
 * tag (they never see it).  docs/ceremony.md says what this cannot detect. */
#ifndef HSMCA_PINSHARE_H
#define HSMCA_PINSHARE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "pkcs11/token.h"

#define HSMCA_PINSHARE_MAX_N 32

/* Which shares made the last successful reconstruction (for the audit log). */
struct hsmca_pinshare_use {
	char role[8];
	char token[17];	 /* serial named by the shares */
	char set[33];	 /* split identifier, hex */
	unsigned m, n;
	char indices[4 * HSMCA_PINSHARE_MAX_N]; /* "1,3,5" */
};

/* Parse "M/N": 2 <= M <= N <= HSMCA_PINSHARE_MAX_N. */
int hsmca_pinshare_parse_mn(const char *s, unsigned *m, unsigned *n, hsmca_error *err);

/* Split the user PIN (and the SO PIN when so_pin is not NULL) into n shares
 * with threshold m and write <dir>/share-<i>-of-<n>.txt (mode 0600,
 * O_EXCL: existing files are refused), one file per custodian holding that
 * custodian's line for each PIN, with a comment naming the index, the token
 * label and serial.  <dir> is created 0700 if missing.  On failure nothing
 * is left behind.  The serial must be non-empty and free of ':'. */
int hsmca_pinshare_split(const struct hsmca_pin *user_pin, const struct hsmca_pin *so_pin,
			 unsigned m, unsigned n, const char *label, const char *serial,
			 const char *dir, hsmca_error *err);

/* Reconstruct the PIN of `role` ("user" or "so") from `spec`: a directory
 * of share files (each a regular file owned by the caller, mode 0600 or
 * stricter: anything else is refused by name), or "tty" (shares typed one
 * after another at /dev/tty, echo off, until M were given; an empty line
 * stops).  Work buffers are mlock'ed, kept out of core dumps and wiped; the
 * caller's `pin` is mlock'ed too.  Refused, pin untouched, when fewer than M
 * shares are given, any share is malformed or fails its check, the shares
 * disagree (set, M, N, token) or do not reconstruct (tag).  On success the
 * indices used are remembered for hsmca_pinshare_last().  Not thread-safe. */
int hsmca_pinshare_read(const char *spec, const char *role, struct hsmca_pin *pin,
			hsmca_error *err);

/* The shares of the last successful hsmca_pinshare_read() in this process;
 * false if none. */
bool hsmca_pinshare_last(struct hsmca_pinshare_use *out);

#endif
