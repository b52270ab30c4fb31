/* Loading: libyaml events into a tree, refusing what ytree.h lists. */
#include "yaml/ytree.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "yaml/ybound.h"

/* ---- messages ---------------------------------------------------------- */

static int verror_at(hsmca_error *err, const char *name, unsigned line, const char *fmt,
		     va_list ap)
{
	char msg[HSMCA_ERROR_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (name && name[0])
		return hsmca_error_set(err, "%s:%u: %s", name, line, msg);
	return hsmca_error_set(err, "line %u: %s", line, msg);
}

static int error_at(hsmca_error *err, const char *name, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int error_at(hsmca_error *err, const char *name, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(err, name, line, fmt, ap);
	va_end(ap);
	return -1;
}

int hsmca_ynode_error(const struct hsmca_ynode *n, hsmca_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(err, n->tree ? n->tree->name : NULL, n->line, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copy user text into a message: control bytes become '?' so a hostile file
 * cannot move the terminal cursor, and long text is cut with "...". *//* ---- loading ----------------------------------------------------------- */

struct frame {
	struct hsmca_ynode *node;
	struct hsmca_ynode *key; /* mapping key waiting for its value */
};

struct builder {
	struct hsmca_ytree *t;
	unsigned flags;
	size_t depth;
	struct frame stack[HSMCA_YTREE_MAX_DEPTH];
};

static void node_free(struct hsmca_ynode *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n; i++) {
		node_free(n->items[i]);
		if (n->keys)
			node_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free((char *)n->value);
	free(n);
}

void hsmca_ytree_free(struct hsmca_ytree *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ndocs; i++)
		node_free(t->docs[i]);
	free(t->docs);
	free(t);
}

const struct hsmca_ynode *hsmca_ytree_root(const struct hsmca_ytree *t)
{
	return t && t->ndocs ? t->docs[0] : NULL;
}

static unsigned mark_line(yaml_mark_t m)
{
	return m.line >= UINT_MAX ? UINT_MAX : (unsigned)m.line + 1;
}

static unsigned mark_col(yaml_mark_t m)
{
	return m.column >= UINT_MAX ? UINT_MAX : (unsigned)m.column + 1;
}

static int grow(struct hsmca_ynode *c, hsmca_error *err)
{
	struct hsmca_ynode **items, **keys = NULL;
	size_t cap = c->cap ? c->cap * 2 : 8;

	if (c->n < c->cap)
		return 0;
	items = realloc(c->items, cap * sizeof(*items));
	if (!items)
		return hsmca_error_set(err, "out of memory loading YAML");
	c->items = items;
	if (c->kind == HSMCA_YNODE_MAP) {
		keys = realloc(c->keys, cap * sizeof(*keys));
		if (!keys)
			return hsmca_error_set(err, "out of memory loading YAML");
		c->keys = keys;
	}
	c->cap = cap;
	return 0;
}

static bool same_key(const struct hsmca_ynode *a, const struct hsmca_ynode *b)
{
	return a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
}

/* Hand a new node to the tree: a document root, a sequence item, a mapping
 * key or a mapping value.  On failure the caller still owns the node. */
static int attach(struct builder *b, struct hsmca_ynode *node, hsmca_error *err)
{
	struct hsmca_ytree *t = b->t;
	struct frame *top;
	struct hsmca_ynode *c;
	char key[72];
	size_t i;

	node->tree = t;
	if (b->depth == 0) {
		if (t->docs[t->ndocs - 1])
			return error_at(err, t->name, node->line, "YAML syntax error: second root node");
		t->docs[t->ndocs - 1] = node;
		return 0;
	}
	top = &b->stack[b->depth - 1];
	c = top->node;
	if (c->kind == HSMCA_YNODE_MAP && !top->key) {
		if (node->kind != HSMCA_YNODE_SCALAR)
			return error_at(err, t->name, node->line,
					"mapping keys must be scalars, not %s", hsmca_ynode_describe(node));
		for (i = 0; i < c->n; i++) {
			if (same_key(c->keys[i], node)) {
				hsmca_ynode_text(node, key, sizeof(key));
				return error_at(err, t->name, node->line,
						"duplicate key '%s' (first defined at line %u)", key,
						c->keys[i]->line);
			}
		}
		node->parent = c;
		node->index = c->n;
		node->is_key = true;
		top->key = node;
		return 0;
	}
	if (grow(c, err) < 0)
		return -1;
	node->parent = c;
	node->index = c->n;
	if (c->kind == HSMCA_YNODE_MAP) {
		c->keys[c->n] = top->key;
		top->key = NULL;
	}
	c->items[c->n++] = node;
	return 0;
}

static struct hsmca_ynode *node_new(struct builder *b, enum hsmca_ynode_kind kind,
				    const yaml_event_t *ev, hsmca_error *err)
{
	struct hsmca_ynode *n;

	if (b->t->nnodes >= HSMCA_YTREE_MAX_NODES) {
		error_at(err, b->t->name, mark_line(ev->start_mark),
			 "document has more than %d nodes", HSMCA_YTREE_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		hsmca_error_set(err, "out of memory loading YAML");
		return NULL;
	}
	b->t->nnodes++;
	n->kind = kind;
	n->line = mark_line(ev->start_mark);
	n->column = mark_col(ev->start_mark);
	return n;
}

/* Anchors, aliases and tags let one spot of a file change the meaning of
 * another, or the type of a value; a reviewer should not have to resolve
 * them, so they are refused. */
static int check_props(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
		       const yaml_char_t *tag, hsmca_error *err)
{
	if (anchor)
		return error_at(err, b->t->name, mark_line(ev->start_mark),
				"YAML anchors are not allowed");
	if (tag)
		return error_at(err, b->t->name, mark_line(ev->start_mark),
				"YAML tags are not allowed");
	return 0;
}

static int on_document_start(struct builder *b, const yaml_event_t *ev, hsmca_error *err)
{
	struct hsmca_ytree *t = b->t;
	struct hsmca_ynode **docs;

	if (t->ndocs >= 1 && !(b->flags & HSMCA_YTREE_MULTI_DOC))
		return error_at(err, t->name, mark_line(ev->start_mark),
				"more than one YAML document (only one is allowed)");
	if (ev->data.document_start.tag_directives.start !=
	    ev->data.document_start.tag_directives.end)
		return error_at(err, t->name, mark_line(ev->start_mark),
				"YAML %%TAG directives are not allowed");
	docs = realloc(t->docs, (t->ndocs + 1) * sizeof(*docs));
	if (!docs)
		return hsmca_error_set(err, "out of memory loading YAML");
	t->docs = docs;
	t->docs[t->ndocs++] = NULL;
	return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev, hsmca_error *err)
{
	struct hsmca_ynode *n;
	char *value;
	size_t len = ev->data.scalar.length;

	if (check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag, err) < 0)
		return -1;
	n = node_new(b, HSMCA_YNODE_SCALAR, ev, err);
	if (!n)
		return -1;
	value = malloc(len + 1);
	if (!value) {
		free(n);
		return hsmca_error_set(err, "out of memory loading YAML");
	}
	if (len)
		memcpy(value, ev->data.scalar.value, len);
	value[len] = '\0';
	n->value = value;
	n->len = len;
	n->style = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? HSMCA_YSTYLE_PLAIN
								   : HSMCA_YSTYLE_QUOTED;
	if (attach(b, n, err) < 0) {
		node_free(n);
		return -1;
	}
	return 0;
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev, hsmca_error *err)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	struct hsmca_ynode *n;

	if (map && check_props(b, ev, ev->data.mapping_start.anchor,
			       ev->data.mapping_start.tag, err) < 0)
		return -1;
	if (!map && check_props(b, ev, ev->data.sequence_start.anchor,
				ev->data.sequence_start.tag, err) < 0)
		return -1;
	if (b->depth >= HSMCA_YTREE_MAX_DEPTH)
		return error_at(err, b->t->name, mark_line(ev->start_mark),
				"nesting deeper than %d levels", HSMCA_YTREE_MAX_DEPTH);
	n = node_new(b, map ? HSMCA_YNODE_MAP : HSMCA_YNODE_SEQ, ev, err);
	if (!n)
		return -1;
	if (attach(b, n, err) < 0) {
		node_free(n);
		return -1;
	}
	b->stack[b->depth].node = n;
	b->stack[b->depth].key = NULL;
	b->depth++;
	return 0;
}

static size_t line_of_offset(const unsigned char *buf, size_t len, size_t off)
{
	size_t i, line = 1;

	for (i = 0; i < off && i < len; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

static int parser_error(const yaml_parser_t *p, const struct hsmca_ytree *t,
			const unsigned char *buf, size_t len, hsmca_error *err)
{
	const char *problem = p->problem ? p->problem : "malformed input";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return hsmca_error_set(err, "%s: out of memory parsing YAML", t->name);
	case YAML_READER_ERROR:
		return error_at(err, t->name,
				(unsigned)line_of_offset(buf, len, p->problem_offset),
				"invalid input: %s (byte %zu)", problem, p->problem_offset);
	default:
		break;
	}
	if (p->context)
		return error_at(err, t->name, mark_line(p->problem_mark),
				"YAML syntax error: %s (%s at line %u)", problem, p->context,
				mark_line(p->context_mark));
	return error_at(err, t->name, mark_line(p->problem_mark), "YAML syntax error: %s",
			problem);
}

static int run(struct builder *b, yaml_parser_t *parser, const unsigned char *buf, size_t len,
	       hsmca_error *err)
{
	yaml_event_t ev;
	int rc;

	for (;;) {
		if (!yaml_parser_parse(parser, &ev))
			return parser_error(parser, b->t, buf, len, err);
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			rc = on_document_start(b, &ev, err);
			break;
		case YAML_SCALAR_EVENT:
			rc = on_scalar(b, &ev, err);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			rc = on_collection_start(b, &ev, err);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			/* libyaml pairs start and end events; depth > 0 here. */
			b->depth--;
			rc = 0;
			break;
		case YAML_ALIAS_EVENT:
			rc = error_at(err, b->t->name, mark_line(ev.start_mark),
				      "YAML aliases are not allowed");
			break;
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		default:
			rc = 0;
			break;
		}
		yaml_event_delete(&ev);
		if (rc < 0)
			return -1;
	}
}

int hsmca_ytree_load(const void *buf, size_t len, const char *name, unsigned flags,
		     struct hsmca_ytree **out, hsmca_error *err)
{
	struct builder *b = NULL;
	struct hsmca_ytree *t = NULL;
	yaml_parser_t parser;
	bool parser_ok = false;
	int ret = -1;
	size_t i;

	t = calloc(1, sizeof(*t));
	b = calloc(1, sizeof(*b));
	if (!t || !b) {
		hsmca_error_set(err, "out of memory loading YAML");
		goto out;
	}
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
	b->t = t;
	b->flags = flags;
	if (hsmca_yaml_precheck(buf, len, HSMCA_YTREE_MAX_BYTES, t->name, err) != 0)
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		hsmca_error_set(err, "%s: out of memory initialising the YAML parser", t->name);
		goto out;
	}
	parser_ok = true;
	yaml_parser_set_input_string(&parser, buf, len);
	if (run(b, &parser, buf, len, err) < 0)
		goto out;
	*out = t;
	t = NULL;
	ret = 0;
out:
	if (b) {
		/* Keys still waiting for a value belong to no node yet. */
		for (i = 0; i < b->depth; i++)
			node_free(b->stack[i].key);
		free(b);
	}
	if (parser_ok)
		yaml_parser_delete(&parser);
	hsmca_ytree_free(t);
	return ret;
}

int hsmca_ytree_load_file(const char *path, size_t max, unsigned flags,
			  struct hsmca_ytree **out, hsmca_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	if (hsmca_read_file(path, max, &buf, &len, err) < 0)
		return -1;
	ret = hsmca_ytree_load(buf, len, path, flags, out, err);
	free(buf);
	return ret;
}
