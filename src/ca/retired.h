/* Retired CAs: a CA whose key a rotation destroyed (or whose rotation was
 * aborted) keeps its directory, certificate and records, marked by
 *
 *   <home>/cas/<name>/retired.json   {"ca", "retired", "rotation", "reason",
 *                                     "key_destroyed"}
 *
 * written by the rotation (src/rotate/access.c).  A retired CA is trusted by
 * no node any more: it and what it issued are history, not alarms. */
#ifndef HSMCA_CA_RETIRED_H
#define HSMCA_CA_RETIRED_H

#include <stdbool.h>

#include "ca/ca.h"
#include "common/error.h"

#define HSMCA_CA_RETIRED_FILE "retired.json"

/* The subject of the short-lived certificate a rotation issues from the old
 * CA to prove that every node refuses it (src/rotate/steps.c). */
#define HSMCA_REVOCATION_PROBE_CN "hsmca-revocation-probe"

struct hsmca_ca_retirement {
	char when[32];     /* RFC 3339 UTC, as written */
	char rotation[64]; /* the rotation id */
	char reason[64];   /* "rotated" | "aborted" */
	bool key_destroyed;
};

/* Whether the CA `ca` is retired: 1 (and *out filled), 0 (not retired, *out
 * untouched), -1 on error (a marker that cannot be read or is not the JSON
 * object above: the CA's state is then unknown, which callers must not take
 * as "live").  Thread safety: none needed (reads one file). */
int hsmca_ca_retirement(const struct hsmca_ca *ca, struct hsmca_ca_retirement *out,
			hsmca_error *err);

#endif
