/* Talos machine-config editing: accepted CA lists, in memory.
 *
 * A Talos machine config (all its YAML documents) holds the node's private
 * keys.  These functions take it as a buffer and return a new buffer; they
 * never write it anywhere, never put its bytes in an error message, and wipe
 * every intermediate copy they own (libyaml nodes and parser buffers; see
 * yamldoc.h for what libyaml frees internally).  Output buffers hold the
 * config too: the CALLER must hsmca_wipe(*out, *outlen) and free() them.
 *
 * Edits are made by splicing the original text at the positions libyaml
 * reports, not by re-emitting the stream: every other byte (documents, keys,
 * order, comments, quoting, the talm modeline) is kept as it was.  After
 * each edit the result is parsed again and checked: the target list must be
 * exactly the expected one and every other node of every document must be
 * unchanged, else the edit is refused.
 *
 * The v1alpha1 document is the first whose top-level mapping has a
 * `machine` or `cluster` key (talm node-file bodies may carry only one).
 *
 * Targets:
 *   HSMCA_MCONFIG_MACHINE_ACCEPTED  machine.acceptedCAs: [{crt: <base64 PEM>}]
 *                                   of the v1alpha1 document (Talos API).
 *   HSMCA_MCONFIG_CLUSTER_ACCEPTED  the `kind: KubeAPIServerCAConfig`
 *                                   document's acceptedCAs (plain PEM
 *                                   strings) when the config has one, else
 *                                   cluster.acceptedCAs: [{crt: <base64 PEM>}]
 *                                   of the v1alpha1 document (Kubernetes API).
 * Certificates are compared by DER, never by text.  An entry must hold
 * exactly one certificate; a list holding anything else is refused.
 * New entries go at the end of a block list in the list's own indentation;
 * an absent, null or empty ([]) list becomes a block list under its parent
 * (Talos style: `- crt: <base64>`, or `- |` literal PEM for the
 * KubeAPIServerCAConfig document).  A non-empty flow list stays a flow list.
 * A block list that becomes empty is removed with its key (absent and empty
 * mean the same to Talos); a flow list is left as [].
 *
 * All functions are pure and thread-safe. */
#ifndef HSMCA_TALOS_MCONFIG_H
#define HSMCA_TALOS_MCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum hsmca_mconfig_target {
	HSMCA_MCONFIG_MACHINE_ACCEPTED,
	HSMCA_MCONFIG_CLUSTER_ACCEPTED, /* uses KubeAPIServerCAConfig doc if present */
};

/* Add the CA certificate `ca_pem` (one PEM certificate with CA:TRUE) to the
 * target list.  Always returns a new buffer in *out (NUL-terminated one past
 * *outlen): the edited config, or an unchanged copy with *changed = false
 * when the CA was already listed.  Errors: input not YAML, no v1alpha1
 * document, target parent missing or in flow style, a list entry that is not
 * one certificate, ca_pem not one CA certificate. */
int hsmca_mconfig_accepted_add(const uint8_t *yaml, size_t len, enum hsmca_mconfig_target t,
			       const char *ca_pem, uint8_t **out, size_t *outlen, bool *changed,
			       hsmca_error *err);

/* Remove every entry equal (by DER) to `ca_pem` from the target list.  Same
 * contract as add; *changed = false when it was not listed. */
int hsmca_mconfig_accepted_remove(const uint8_t *yaml, size_t len, enum hsmca_mconfig_target t,
				  const char *ca_pem, uint8_t **out, size_t *outlen, bool *changed,
				  hsmca_error *err);

/* SHA-256 fingerprints of the DER certificates in the target list, in list
 * order.  *fps is malloc'd (NULL when *n == 0); the caller frees it. */
int hsmca_mconfig_accepted_list(const uint8_t *yaml, size_t len, enum hsmca_mconfig_target t,
				uint8_t (**fps)[32], size_t *n, hsmca_error *err);

/* machine.type of the v1alpha1 document ("controlplane", "worker", "init"). */
int hsmca_mconfig_machine_type(const uint8_t *yaml, size_t len, char *type, size_t typelen,
			       hsmca_error *err);

#endif
