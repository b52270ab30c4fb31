/* The ceremony file: the reviewable YAML a root key ceremony is run from.
 *
 * Everything the ceremony will do to the token and the certificate is in
 * the file, so the people present can read it, sign it off, and check the
 * result against it.  The loader is strict (see src/yaml/ytree.h): unknown
 * keys, duplicate keys, wrong types and contradictions are errors that name
 * the file and line.  Format: docs/ceremony.md, section "Ceremony file". */
#ifndef HSMCA_CEREMONY_H
#define HSMCA_CEREMONY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

/* Largest ceremony file accepted, in bytes. */
#define HSMCA_CEREMONY_MAX_BYTES (64 * 1024)

/* Default validity when the file gives neither duration nor not_after. */
#define HSMCA_CEREMONY_DEFAULT_VALIDITY ((int64_t)10 * 365 * 86400)

struct hsmca_ceremony {
	char name[64];      /* CA name in the state dir, [a-z0-9][a-z0-9._-]{0,62} */
	char key_type[16];  /* ec-p256 | ec-p384 | ed25519 | rsa-3072 | rsa-4096 */
	char key_label[64]; /* key.label, or "<name>-key" when absent */
	char subject[512];  /* "CN=...,O=...,OU=...,C=..,L=..,ST=.." as given;
			     * checked with hsmca_name_encode(), exactly one CN */
	int64_t validity;   /* seconds; HSMCA_CEREMONY_DEFAULT_VALIDITY when absent;
			     * 0 when not_after is given (they are exclusive) */
	time_t not_before;  /* 0 = now */
	time_t not_after;   /* 0 = not_before + validity */
	int path_len;       /* -1 = absent */
	bool rsa_pss;       /* RSA keys only: RSASSA-PSS instead of PKCS#1 v1.5 */
	char sig_hash[8];   /* "sha256" | "sha384"; default sha384 for ec-p384,
			     * else sha256 (ignored for ed25519, which fixes its hash) */
	char out_cert[4096]; /* certificate PEM output path, resolved against the
			      * ceremony file's directory; "" = none */
	char crl_url[512];    /* urls.crl: CDP written into what the CA issues; "" = none */
	char issuer_url[512]; /* urls.issuer: AIA caIssuers likewise; "" = none */
	char purpose[24];   /* ca.yaml purpose (ca.h); "" = none.  Set by the
			     * rotation for access CAs, not read from the file */
};

/* Load and validate the ceremony file at `path` (at most
 * HSMCA_CEREMONY_MAX_BYTES).  Errors read "<path>:<line>: <reason>".
 * Checks that involve the clock (not_after in the past) use hsmca_now().
 * *out is written only on success.  Thread-safe (no shared state). */
int hsmca_ceremony_load(const char *path, struct hsmca_ceremony *out, hsmca_error *err);

#endif
