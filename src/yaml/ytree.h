/* Strict YAML loading into a small read-only tree.
 *
 * A reviewable configuration file (ceremony file, custom profile) must mean
 * exactly what a reviewer reads.  So the loader refuses what YAML allows but
 * a reader can miss: duplicate mapping keys, anchors and aliases, tags,
 * %TAG directives, non-scalar mapping keys, more than one document (unless
 * asked), nesting deeper than HSMCA_YTREE_MAX_DEPTH and more than
 * HSMCA_YTREE_MAX_NODES nodes.  No implicit typing is done: every scalar is
 * kept as its text with its style, and the typed getters below decide.
 *
 * Every error names the input and the 1-based line:
 *   "ceremony.yaml:7: unknown key 'subjekt' in ca (expected one of: name, subject)"
 * ("line 7: ..." when the tree was loaded without a name).  Getters add the
 * dotted path of the value ("validity.duration", "key_usage[2]").
 *
 * Nothing here prints.  A tree is immutable after loading and may be read
 * from several threads at once; loading and freeing are not synchronised. */
#ifndef HSMCA_YAML_YTREE_H
#define HSMCA_YAML_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

#define HSMCA_YTREE_MAX_DEPTH 64     /* nested collections */
#define HSMCA_YTREE_MAX_NODES 20000  /* scalars + collections, keys included */
#define HSMCA_YTREE_MAX_BYTES (4u * 1024 * 1024) /* any input, also from memory */
#define HSMCA_YTREE_NAME_MAX 256     /* display name kept in the tree (truncated) */

/* Flags for hsmca_ytree_load(). */
#define HSMCA_YTREE_MULTI_DOC 0x1u   /* accept a stream of several documents */

enum hsmca_ynode_kind {
	HSMCA_YNODE_SCALAR,
	HSMCA_YNODE_SEQ,
	HSMCA_YNODE_MAP,
};

enum hsmca_yscalar_style {
	HSMCA_YSTYLE_PLAIN,  /* bare text: the only style the bool/int getters accept */
	HSMCA_YSTYLE_QUOTED, /* '...', "...", | or > : always a string */
};

struct hsmca_ytree;

/* One node.  Read-only for callers; every pointer is owned by the tree. */
struct hsmca_ynode {
	enum hsmca_ynode_kind kind;
	unsigned line;   /* 1-based */
	unsigned column; /* 1-based */

	/* Scalars: the text, NUL-terminated.  It may contain NUL bytes (from a
	 * "\0" escape); len counts them, and hsmca_ynode_string() refuses them. */
	enum hsmca_yscalar_style style;
	const char *value;
	size_t len;

	/* Sequences: n items.  Mappings: n pairs, keys[i] (always a scalar) maps
	 * to items[i], in document order. */
	size_t n;
	struct hsmca_ynode **items;
	struct hsmca_ynode **keys;

	/* Position: the containing collection (NULL for a document root) and the
	 * index in it; is_key marks the key nodes of a mapping. */
	const struct hsmca_ynode *parent;
	size_t index;
	bool is_key;
	const struct hsmca_ytree *tree;

	size_t cap; /* private: allocated slots in items/keys */
};

struct hsmca_ytree {
	char name[HSMCA_YTREE_NAME_MAX]; /* display name used in errors */
	size_t ndocs;                    /* 0 for an empty stream */
	struct hsmca_ynode **docs;       /* document roots */
	size_t nnodes;                   /* private: node count */
};

/* Parse `len` bytes of YAML (UTF-8, or UTF-16 with a BOM) into a new tree.
 * `buf` need not be NUL-terminated and is not kept.  `name` (may be NULL)
 * is the display name used in error messages, e.g. the path as the user
 * gave it.  `flags`: 0, or HSMCA_YTREE_MULTI_DOC to accept several
 * documents.  A stream with no document at all gives a tree with ndocs 0.
 * The caller bounds `len` (see hsmca_ytree_load_file()).
 * On success *out is the tree, freed with hsmca_ytree_free().  On error
 * *out is untouched and err says where and why. */
int hsmca_ytree_load(const void *buf, size_t len, const char *name, unsigned flags,
		     struct hsmca_ytree **out, hsmca_error *err);

/* Read the file at `path` (at most `max` bytes, else an error naming the
 * limit) and load it as hsmca_ytree_load() does, with `path` as the name. */
int hsmca_ytree_load_file(const char *path, size_t max, unsigned flags,
			  struct hsmca_ytree **out, hsmca_error *err);

/* Free a tree and all its nodes.  NULL is accepted. */
void hsmca_ytree_free(struct hsmca_ytree *t);

/* The root of the first document, or NULL if the stream was empty. */
const struct hsmca_ynode *hsmca_ytree_root(const struct hsmca_ytree *t);

/* Set err to "<name>:<line>: <message>" for node n (n must not be NULL).
 * Returns -1.  Used by the loaders for semantic errors ("not_after is
 * before not_before") so they read like the parse errors. */
int hsmca_ynode_error(const struct hsmca_ynode *n, hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write the dotted path of n into buf ("" for a root, "ca.name",
 * "key_usage[1]"); a key node gets its mapping's path.  Truncated to fit. */
void hsmca_ynode_path(const struct hsmca_ynode *n, char *buf, size_t buflen);

/* A word for the node's kind, for messages: "a mapping", "a sequence",
 * "a string", "an empty value" (plain empty, ~ or null). */
const char *hsmca_ynode_describe(const struct hsmca_ynode *n);

/* Copy a scalar's text into buf for a message: control bytes become '?',
 * text longer than buflen is cut and ends in "...".  Non-scalars give "". */
void hsmca_ynode_text(const struct hsmca_ynode *n, char *buf, size_t buflen);

/* True for a plain scalar that YAML reads as null: "", "~", "null". */
bool hsmca_ynode_is_null(const struct hsmca_ynode *n);

/* The value for `key` in mapping `map`, or NULL if map is NULL, not a
 * mapping, or has no such key.  Keys compare as exact bytes. */
const struct hsmca_ynode *hsmca_ynode_get(const struct hsmca_ynode *map, const char *key);

/* Like hsmca_ynode_get() but a missing key is an error
 * ("f.yaml:2: ca: missing required key 'subject'"), reported at the line of
 * the mapping's own key when it has one.  *out is set only on success. */
int hsmca_ynode_require(const struct hsmca_ynode *map, const char *key,
			const struct hsmca_ynode **out, hsmca_error *err);

/* Fail unless n is a mapping (resp. sequence):
 * "f.yaml:4: validity: expected a mapping, got a string". */
int hsmca_ynode_expect_map(const struct hsmca_ynode *n, hsmca_error *err);
int hsmca_ynode_expect_seq(const struct hsmca_ynode *n, hsmca_error *err);

/* Fail unless n is a mapping whose keys are all in `allowed` (a
 * NULL-terminated list):
 *   "f.yaml:7: unknown key 'subjekt' in ca (expected one of: name, subject)"
 * `filename` overrides the tree's display name in the message; pass NULL to
 * use the name the tree was loaded with. */
int hsmca_ynode_check_keys(const struct hsmca_ynode *map, const char *const allowed[],
			   const char *filename, hsmca_error *err);

/* Check that mapping `root` has the required key `version` with the plain
 * integer value `supported`; any other value is an error naming both. */
int hsmca_ynode_require_version(const struct hsmca_ynode *root, int64_t supported,
				hsmca_error *err);

/* Typed getters.  Each fails with the node's line and path unless n has the
 * type; the out-parameter is written only on success. */

/* A scalar of any style, not null (empty plain, ~, null), without NUL
 * bytes, shorter than outlen bytes.  A quoted "" is accepted (empty). */
int hsmca_ynode_string(const struct hsmca_ynode *n, char *out, size_t outlen, hsmca_error *err);

/* A name that may become a file name in the state directory:
 * [a-z0-9][a-z0-9._-]{0,62} (so outlen of 64 always suffices). */
int hsmca_ynode_name(const struct hsmca_ynode *n, char *out, size_t outlen, hsmca_error *err);

/* True if s matches [a-z0-9][a-z0-9._-]{0,62}. */
bool hsmca_yname_valid(const char *s);

/* A plain `true` or `false`, nothing else (not yes/no/on/off/True, not
 * quoted). */
int hsmca_ynode_bool(const struct hsmca_ynode *n, bool *out, hsmca_error *err);

/* A plain decimal integer (optional '-', no '+', no leading zeros, no
 * 0x/0o) within [min, max]. */
int hsmca_ynode_int(const struct hsmca_ynode *n, int64_t min, int64_t max, int64_t *out,
		    hsmca_error *err);

/* A duration string as hsmca_parse_duration() reads it ("90d", "10y"). */
int hsmca_ynode_duration(const struct hsmca_ynode *n, int64_t *seconds, hsmca_error *err);

/* A date or time as hsmca_parse_time() reads it ("2026-11-28",
 * "2026-11-28T12:00:00Z"); impossible dates (2026-02-30) are errors. */
int hsmca_ynode_time(const struct hsmca_ynode *n, time_t *out, hsmca_error *err);

#endif
