/* talm project files: node-file modelines, the project talosconfig, and
 * keeping accepted CAs across `talm apply`.
 *
 * A talm project is a directory with Chart.yaml, values.yaml, secrets.yaml,
 * talosconfig, templates/ and nodes/ (one YAML file per node).  A node file
 * starts (after optional comment and blank lines) with a column-0 modeline
 *   # talm: nodes=["192.0.2.4"], endpoints=["192.0.2.4"], templates=["templates/controlplane.yaml"]
 * whose values are JSON arrays of strings, then a YAML body that
 * `talm apply -f <node file>` merges over the rendered templates.
 *
 * WHERE A CHANGE MADE THROUGH THE API IS KEPT.  `talm apply` re-renders the
 * config, so an accepted CA added only through the Talos API is dropped by
 * the next apply.  talm has side patches (`talm apply -f nodes/x.yaml -f
 * patch.yaml`), but nothing in a node file or the project refers to them:
 * they apply only when the operator names them on every run (and talm
 * refuses a non-empty side patch for a multi-node anchor).  The node file
 * body, in contrast, is merged on every `talm apply` of that node.  So hsmca
 * keeps accepted CAs in the NODE FILE BODY (hsmca_talm_node_accepted_*):
 * machine.acceptedCAs / cluster.acceptedCAs entries, public certificates
 * only, spliced into the text so the modeline, comments and everything
 * else stay byte for byte.  talm refuses a non-empty body on a multi-node
 * modeline, so such files are refused here too (split them per node with
 * `talm template -I`).  For operators who prefer an explicit overlay,
 * hsmca_talm_patch_accepted_* maintain <project>/patches/hsmca-accepted-cas.yaml,
 * to be passed as `talm apply -f nodes/<node>.yaml -f patches/hsmca-accepted-cas.yaml`
 * on every run (single-node files only, per talm).
 *
 * Nothing here prints; all functions are thread-safe except for concurrent
 * writers of the same file. */
#ifndef HSMCA_TALOS_TALM_H
#define HSMCA_TALOS_TALM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "talos/mconfig.h"

#define HSMCA_TALM_PATCH_FILE "patches/hsmca-accepted-cas.yaml"

struct hsmca_talm_modeline {
	char **nodes;     /* NULL-terminated; empty array when the key is absent */
	char **endpoints; /* NULL-terminated */
	char **templates; /* NULL-terminated */
};

struct hsmca_talm_node_file {
	struct hsmca_talm_modeline ml;
	char machine_type[32];  /* the body's machine.type, "" when the body has none */
	unsigned modeline_line; /* 1-based line of the modeline */
};

/* Parse one modeline ("# talm: key=[...], key=[...]", surrounding blanks
 * allowed) exactly as talm's ParseModeline does (modeline.c): parts split on
 * depth-0 commas, each value decoded as Go's json.Unmarshal into []string
 * (strict JSON; `null` is an empty list; errors carry Go's reason).  Keys
 * nodes, endpoints, templates; others are ignored once decoded.  On success
 * *out owns three NULL-terminated arrays (free with
 * hsmca_talm_modeline_free). */
int hsmca_talm_parse_modeline(const char *line, size_t len, struct hsmca_talm_modeline *out,
			      hsmca_error *err);

void hsmca_talm_modeline_free(struct hsmca_talm_modeline *m);

/* Parse a node file held in memory: the modeline must be the first line
 * that is neither blank nor a comment-only line without "# talm:" at
 * column 0; a column-0 "# talm:" below YAML content is an error, as in talm.
 * `name` is used in errors.  Reads machine.type from the body. */
int hsmca_talm_node_file_parse(const uint8_t *text, size_t len, const char *name,
			       struct hsmca_talm_node_file *out, hsmca_error *err);

/* Same, reading the file at `path` (at most 4 MiB). */
int hsmca_talm_node_file_read(const char *path, struct hsmca_talm_node_file *out, hsmca_error *err);

void hsmca_talm_node_file_free(struct hsmca_talm_node_file *f);

/* The talm project root of a node file: the nearest directory at or above
 * the file's directory holding Chart.yaml.  Writes the absolute path. */
int hsmca_talm_find_root(const char *node_file, char *root, size_t rootlen, hsmca_error *err);

/* <root>/talosconfig (the path, whether or not the file exists). */
int hsmca_talm_talosconfig_path(const char *root, char *out, size_t outlen, hsmca_error *err);

/* Write a talosconfig with one context `context` (endpoints, nodes, and the
 * base64 of ca_pem, crt_pem, key_pem), atomically: a new 0600 temporary
 * file (O_EXCL) in the same directory, fsync, rename over `path`, fsync of
 * the directory.  An existing file that holds other contexts is refused
 * (they would be lost).  The buffer that held the key is wiped. */
/* What hsmca_talm_write_talosconfig checks before it writes (names, and no
 * other context in an existing file), for callers that must know before
 * they issue the credential. */
int hsmca_talm_talosconfig_precheck(const char *path, const char *context,
				    const char *const *endpoints, const char *const *nodes,
				    hsmca_error *err);
int hsmca_talm_write_talosconfig(const char *path, const char *context,
				 const char *const *endpoints, const char *const *nodes,
				 const char *ca_pem, const char *crt_pem, const char *key_pem,
				 hsmca_error *err);

/* Add / remove an accepted CA in the body of the node file at `path`
 * (machine.acceptedCAs or cluster.acceptedCAs, see mconfig.h; a missing
 * section is created at the end of the body).  The file is replaced
 * atomically with its mode kept; *changed says whether it was.  Refused
 * for a modeline with more than one node. */
int hsmca_talm_node_accepted_add(const char *path, enum hsmca_mconfig_target t, const char *ca_pem,
				 bool *changed, hsmca_error *err);
int hsmca_talm_node_accepted_remove(const char *path, enum hsmca_mconfig_target t,
				    const char *ca_pem, bool *changed, hsmca_error *err);

/* The same edits in <root>/patches/hsmca-accepted-cas.yaml (created with
 * a header comment, mode 0644, when needed; a missing file is a no-op for
 * remove). */
int hsmca_talm_patch_accepted_add(const char *root, enum hsmca_mconfig_target t, const char *ca_pem,
				  bool *changed, hsmca_error *err);
int hsmca_talm_patch_accepted_remove(const char *root, enum hsmca_mconfig_target t,
				     const char *ca_pem, bool *changed, hsmca_error *err);

/* The in-memory edit behind the four functions above, for a node-file
 * body or patch text: creates a missing machine / cluster section at the
 * end (the body must then be empty or one block mapping at column 0).
 * *out is always a new buffer (free it). */
int hsmca_talm_body_accepted_edit(const uint8_t *text, size_t len, enum hsmca_mconfig_target t,
				  const char *ca_pem, bool add, uint8_t **out, size_t *outlen,
				  bool *changed, hsmca_error *err);

#endif
