/* Text splicing at libyaml positions (splice.h). */
#include "talos/splice.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MAX_DEPTH 64

static bool is_break(const uint8_t *p, size_t left, size_t *blen)
{
	if (p[0] == '\n') {
		*blen = 1;
		return true;
	}
	if (p[0] == '\r') {
		*blen = left > 1 && p[1] == '\n' ? 2 : 1;
		return true;
	}
	if (left > 1 && p[0] == 0xc2 && p[1] == 0x85) { /* NEL */
		*blen = 2;
		return true;
	}
	if (left > 2 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
		*blen = 3; /* LS, PS */
		return true;
	}
	return false;
}

int hsmca_talos_text_index(struct hsmca_talos_text *t, const uint8_t *p, size_t len,
			   hsmca_error *err)
{
	size_t i = 0, cap = 64, bl;

	t->p = p;
	t->len = len;
	t->nlines = 0;
	t->lines = malloc(cap * sizeof(*t->lines));
	if (!t->lines)
		return hsmca_error_set(err, "machine config: out of memory");
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3; /* libyaml's columns start after a BOM */
	t->lines[t->nlines++] = i;
	while (i < len) {
		if (!is_break(p + i, len - i, &bl)) {
			i++;
			continue;
		}
		i += bl;
		if (t->nlines == cap) {
			size_t *nl = realloc(t->lines, cap * 2 * sizeof(*nl));

			if (!nl)
				return hsmca_error_set(err, "machine config: out of memory");
			t->lines = nl;
			cap *= 2;
		}
		t->lines[t->nlines++] = i;
	}
	return 0;
}

size_t hsmca_talos_mark_off(const struct hsmca_talos_text *t, yaml_mark_t m)
{
	size_t off, col = 0, bl;

	if (m.line >= t->nlines)
		return t->len;
	off = t->lines[m.line];
	while (col < m.column && off < t->len && !is_break(t->p + off, t->len - off, &bl)) {
		off++;
		while (off < t->len && (t->p[off] & 0xc0) == 0x80)
			off++;
		col++;
	}
	return off;
}

size_t hsmca_talos_line_start(const struct hsmca_talos_text *t, size_t off)
{
	while (off > 0 && t->p[off - 1] != '\n' && t->p[off - 1] != '\r')
		off--;
	return off;
}

size_t hsmca_talos_line_end(const struct hsmca_talos_text *t, size_t off)
{
	while (off < t->len && t->p[off] != '\n' && t->p[off] != '\r')
		off++;
	if (off < t->len && t->p[off] == '\r')
		off++;
	if (off < t->len && t->p[off] == '\n')
		off++;
	return off;
}

bool hsmca_talos_blank(const struct hsmca_talos_text *t, size_t a, size_t b)
{
	for (; a < b; a++) {
		if (t->p[a] != ' ' && t->p[a] != '\t')
			return false;
	}
	return true;
}

/* Where the text of a node really ends: libyaml's end mark of a block
 * collection lies on the next token, so descend to the last scalar or flow
 * node; then take the whole line, unless only indentation precedes the mark
 * (a block scalar ends at the start of the following line). */
size_t hsmca_talos_node_end(const struct hsmca_talos_text *t, yaml_document_t *doc, yaml_node_t *n)
{
	size_t off;
	int depth = 0;

	while (depth++ < MAX_DEPTH) {
		if (n->type == YAML_SEQUENCE_NODE &&
		    n->data.sequence.style == YAML_BLOCK_SEQUENCE_STYLE &&
		    n->data.sequence.items.top > n->data.sequence.items.start) {
			n = yaml_document_get_node(doc, n->data.sequence.items.top[-1]);
			continue;
		}
		if (n->type == YAML_MAPPING_NODE &&
		    n->data.mapping.style == YAML_BLOCK_MAPPING_STYLE &&
		    n->data.mapping.pairs.top > n->data.mapping.pairs.start) {
			n = yaml_document_get_node(doc, n->data.mapping.pairs.top[-1].value);
			continue;
		}
		break;
	}
	off = hsmca_talos_mark_off(t, n->end_mark);
	if (off > 0 && hsmca_talos_blank(t, hsmca_talos_line_start(t, off), off))
		return hsmca_talos_line_start(t, off);
	return hsmca_talos_line_end(t, off);
}

void hsmca_talos_text_free(struct hsmca_talos_text *t)
{
	free(t->lines);
	t->lines = NULL;
	t->nlines = 0;
}

void hsmca_talos_sb_add(struct hsmca_talos_sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = malloc(ncap);
		if (!np) {
			b->failed = true;
			return;
		}
		if (b->p) {
			memcpy(np, b->p, b->len);
			hsmca_wipe(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void hsmca_talos_sb_str(struct hsmca_talos_sbuf *b, const char *s)
{
	hsmca_talos_sb_add(b, s, strlen(s));
}

void hsmca_talos_sb_spaces(struct hsmca_talos_sbuf *b, size_t n)
{
	while (n--)
		hsmca_talos_sb_add(b, " ", 1);
}

void hsmca_talos_sb_free(struct hsmca_talos_sbuf *b)
{
	if (b->p) {
		hsmca_wipe(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

struct hsmca_talos_edit *hsmca_talos_plan_add(struct hsmca_talos_plan *p, size_t start, size_t end)
{
	struct hsmca_talos_edit *e;

	if (p->n == HSMCA_SPLICE_MAX_EDITS)
		return NULL;
	e = &p->e[p->n++];
	memset(e, 0, sizeof(*e));
	e->start = start;
	e->end = end;
	return e;
}

void hsmca_talos_plan_free(struct hsmca_talos_plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		hsmca_talos_sb_free(&p->e[i].text);
	p->n = 0;
}

int hsmca_talos_plan_apply(const struct hsmca_talos_text *t, struct hsmca_talos_plan *p,
			   uint8_t **out, size_t *outlen, hsmca_error *err)
{
	struct hsmca_talos_sbuf b = {0};
	size_t i, at = 0;

	for (i = 0; i < p->n; i++) {
		if (p->e[i].text.failed) {
			hsmca_talos_sb_free(&b);
			return hsmca_error_set(err, "machine config: out of memory");
		}
		if (p->e[i].start < at || p->e[i].end < p->e[i].start || p->e[i].end > t->len) {
			hsmca_talos_sb_free(&b);
			return hsmca_error_set(err, "machine config: internal error (edit order)");
		}
		hsmca_talos_sb_add(&b, (const char *)t->p + at, p->e[i].start - at);
		if (p->e[i].text.len)
			hsmca_talos_sb_add(&b, p->e[i].text.p, p->e[i].text.len);
		at = p->e[i].end;
	}
	hsmca_talos_sb_add(&b, (const char *)t->p + at, t->len - at);
	if (b.failed || !b.p) {
		hsmca_talos_sb_free(&b);
		return hsmca_error_set(err, "machine config: out of memory");
	}
	*out = (uint8_t *)b.p;
	*outlen = b.len;
	return 0;
}
