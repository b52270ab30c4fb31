/* Text splicing at libyaml positions, for editing configs in place
 * (internal to src/talos/).  libyaml marks count characters; these turn them
 * into byte offsets and build the edited text from the original bytes, so
 * nothing but the edited lines changes.  Buffers that held config text are
 * wiped when they grow or are freed. */
#ifndef HSMCA_TALOS_SPLICE_H
#define HSMCA_TALOS_SPLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "common/error.h"

#define HSMCA_SPLICE_MAX_EDITS 257

/* The input text and where its lines start (libyaml's line breaks). */
struct hsmca_talos_text {
	const uint8_t *p;
	size_t len;
	size_t *lines; /* byte offset of each line start */
	size_t nlines;
};

/* Index the lines of p[0..len); the text is not copied.  Free with
 * hsmca_talos_text_free. */
int hsmca_talos_text_index(struct hsmca_talos_text *t, const uint8_t *p, size_t len,
			   hsmca_error *err);
void hsmca_talos_text_free(struct hsmca_talos_text *t);

/* Byte offset of a libyaml mark. */
size_t hsmca_talos_mark_off(const struct hsmca_talos_text *t, yaml_mark_t m);
/* Start of the line holding `off`. */
size_t hsmca_talos_line_start(const struct hsmca_talos_text *t, size_t off);
/* Just past the line break that ends the line holding `off` (or the end). */
size_t hsmca_talos_line_end(const struct hsmca_talos_text *t, size_t off);
/* Only blanks in [a, b)? */
bool hsmca_talos_blank(const struct hsmca_talos_text *t, size_t a, size_t b);
/* Where the text of node n really ends, as a whole-line boundary: past its
 * last line, or at the start of the line a block scalar's mark points to. */
size_t hsmca_talos_node_end(const struct hsmca_talos_text *t, yaml_document_t *doc, yaml_node_t *n);

/* A growable NUL-terminated string; `failed` sticks on allocation failure. */
struct hsmca_talos_sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

void hsmca_talos_sb_add(struct hsmca_talos_sbuf *b, const char *s, size_t n);
void hsmca_talos_sb_str(struct hsmca_talos_sbuf *b, const char *s);
void hsmca_talos_sb_spaces(struct hsmca_talos_sbuf *b, size_t n);
/* Wipe and free; NULL-safe contents. */
void hsmca_talos_sb_free(struct hsmca_talos_sbuf *b);

/* Replacements of byte ranges, added in increasing, non-overlapping order. */
struct hsmca_talos_edit {
	size_t start, end; /* byte range replaced */
	struct hsmca_talos_sbuf text;
};

struct hsmca_talos_plan {
	struct hsmca_talos_edit e[HSMCA_SPLICE_MAX_EDITS];
	size_t n;
};

/* A new edit replacing [start, end) with (initially) nothing; NULL when
 * the plan is full. */
struct hsmca_talos_edit *hsmca_talos_plan_add(struct hsmca_talos_plan *p, size_t start, size_t end);
void hsmca_talos_plan_free(struct hsmca_talos_plan *p);
/* The original text with the edits applied, as a new NUL-terminated buffer
 * (the caller wipes and frees it). */
int hsmca_talos_plan_apply(const struct hsmca_talos_text *t, struct hsmca_talos_plan *p,
			   uint8_t **out, size_t *outlen, hsmca_error *err);

#endif
