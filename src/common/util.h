/* Small pure helpers: durations, hex, time formatting, wiping. */
#ifndef HSMCA_COMMON_UTIL_H
#define HSMCA_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

#define HSMCA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Parse a duration: a positive integer followed by one unit, s|m|h|d|w|y
 * (y = 365 days), e.g. "10y", "90d", "8760h". `what` names the input in the
 * error ("--validity"). */
int hsmca_parse_duration(const char *s, const char *what, int64_t *seconds, hsmca_error *err);

/* Parse an RFC 3339 UTC timestamp "YYYY-MM-DDTHH:MM:SSZ" (or a date
 * "YYYY-MM-DD", meaning midnight UTC). Rejects impossible dates. */
int hsmca_parse_time(const char *s, const char *what, time_t *out, hsmca_error *err);

/* Format as RFC 3339 UTC into buf (at least 21 bytes). */
void hsmca_format_time(time_t t, char buf[static 21]);

/* Lower-case hex of `len` bytes into out (2*len+1 bytes). */
void hsmca_hex(const uint8_t *in, size_t len, char *out);

/* Colon-separated upper-case hex (fingerprints), out needs 3*len bytes. */
void hsmca_hex_colon(const uint8_t *in, size_t len, char *out);

/* Parse hex (optional colons) into out; returns the byte count or -1. */
int hsmca_unhex(const char *in, uint8_t *out, size_t outlen);

/* Wipe memory that held a secret; never optimised away. */
void hsmca_wipe(void *p, size_t len);

/* Current time, overridable for tests via HSMCA_NOW (RFC 3339). */
time_t hsmca_now(void);

#endif
