/* Bounds every YAML input gets before libyaml sees it (docs/security.md).
 *
 * libyaml's scanner keeps one possible simple key per flow level and walks
 * them all for every token, so "[[[[…" costs time quadratic in the nesting
 * (80 KB took 3.7 s, 1 MB did not finish); an alias makes a document a graph
 * whose walk is exponential.  The checks here are linear in the input. */
#ifndef HSMCA_YAML_YBOUND_H
#define HSMCA_YAML_YBOUND_H

#include <stddef.h>

#include "common/error.h"

/* Deepest flow nesting ("[", "{") accepted anywhere in a YAML input. */
#define HSMCA_YAML_MAX_FLOW_DEPTH 64

/* Refuse an input whose flow collections nest deeper than
 * HSMCA_YAML_MAX_FLOW_DEPTH, or larger than `max_bytes`.  Brackets inside
 * quoted or block scalars are counted too: an over-count can only refuse
 * (never accept) an input, and no configuration hsmca reads comes close.
 * `what` names the input in the error.  Pure; thread-safe. */
int hsmca_yaml_precheck(const void *buf, size_t len, size_t max_bytes, const char *what,
			hsmca_error *err);

#endif
