/* libyaml document loading for configs that hold private keys.
 *
 * Every document of a stream is loaded with yaml_parser_load (nodes keep
 * their start/end marks, which mconfig.c uses to splice text).  On free,
 * every scalar is wiped before libyaml frees it, and so are the parser's
 * input buffers and any queued token.  What cannot be wiped from outside:
 * the scanner's short-lived temporaries, freed inside libyaml (see
 * docs/talos-client.md). */
#ifndef HSMCA_TALOS_YAMLDOC_H
#define HSMCA_TALOS_YAMLDOC_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "common/error.h"

#define HSMCA_YAML_MAX_DOCS 64
/* Bounds on every Talos YAML input, including machine configs returned by
 * nodes (docs/security.md): size, nodes per document, nesting depth.
 * Aliases are refused; so is flow nesting past HSMCA_YAML_MAX_FLOW_DEPTH. */
#define HSMCA_YAML_MAX_BYTES (16u * 1024 * 1024)
#define HSMCA_YAML_MAX_NODES 500000
#define HSMCA_YAML_MAX_DEPTH 64

struct hsmca_talos_ydocs {
	yaml_document_t docs[HSMCA_YAML_MAX_DOCS];
	size_t n;
};

/* Load every document of `buf`, within the bounds above (refused with a
 * clear error, in time linear in `len`).  `what` names the input in errors
 * ("machine config", a path).  Free with hsmca_talos_yaml_free even on
 * failure (it is then empty). */
int hsmca_talos_yaml_load(const uint8_t *buf, size_t len, const char *what,
			  struct hsmca_talos_ydocs *out, hsmca_error *err);

/* Wipe all scalars and free the documents.  NULL-safe. */
void hsmca_talos_yaml_free(struct hsmca_talos_ydocs *d);

/* Root node of document i, or NULL for an empty document. */
yaml_node_t *hsmca_talos_yaml_root(struct hsmca_talos_ydocs *d, size_t i);

/* In mapping `map`, the value node of `key` (plain match on the key's
 * scalar), or NULL.  *key_node receives the key node when not NULL. */
yaml_node_t *hsmca_talos_yaml_get(yaml_document_t *doc, yaml_node_t *map, const char *key,
				  yaml_node_t **key_node);

/* The scalar's NUL-terminated value, or NULL if `n` is not a scalar. */
const char *hsmca_talos_yaml_str(const yaml_node_t *n);

/* True if `n` is a null scalar (empty, ~, null, Null, NULL, plain style). */
int hsmca_talos_yaml_is_null(const yaml_node_t *n);

#endif
