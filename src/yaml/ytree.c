#include "yaml/ytree.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/fsutil.h"
#include "common/util.h"

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
 * cannot move the terminal cursor, and long text is cut with "...". */
static void excerpt(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0, keep = outlen > 4 ? outlen - 4 : 0;

	for (i = 0; i < len && o < keep; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (i < len && outlen >= 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (outlen)
		out[o < outlen ? o : outlen - 1] = '\0';
}

void hsmca_ynode_text(const struct hsmca_ynode *n, char *buf, size_t buflen)
{
	if (!buflen)
		return;
	buf[0] = '\0';
	if (n && n->kind == HSMCA_YNODE_SCALAR)
		excerpt(n->value, n->len, buf, buflen);
}

static void path_build(const struct hsmca_ynode *n, char *buf, size_t buflen, size_t *pos)
{
	const struct hsmca_ynode *p = n->parent;
	char key[72];
	int w;

	if (!p)
		return;
	path_build(p, buf, buflen, pos);
	if (n->is_key || *pos >= buflen)
		return;
	if (p->kind == HSMCA_YNODE_MAP) {
		const struct hsmca_ynode *k = p->keys[n->index];

		excerpt(k->value, k->len, key, sizeof(key));
		w = snprintf(buf + *pos, buflen - *pos, "%s%s", *pos ? "." : "", key);
	} else {
		w = snprintf(buf + *pos, buflen - *pos, "[%zu]", n->index);
	}
	if (w > 0)
		*pos += (size_t)w < buflen - *pos ? (size_t)w : buflen - *pos - 1;
}

void hsmca_ynode_path(const struct hsmca_ynode *n, char *buf, size_t buflen)
{
	size_t pos = 0;

	if (!buflen)
		return;
	buf[0] = '\0';
	if (n)
		path_build(n, buf, buflen, &pos);
}

/* "f.yaml:7: ca.name: <msg>", or without the path for a root. */
static int path_error(const struct hsmca_ynode *n, hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int path_error(const struct hsmca_ynode *n, hsmca_error *err, const char *fmt, ...)
{
	char path[256], msg[HSMCA_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hsmca_ynode_path(n, path, sizeof(path));
	if (path[0])
		return hsmca_ynode_error(n, err, "%s: %s", path, msg);
	return hsmca_ynode_error(n, err, "%s", msg);
}

bool hsmca_ynode_is_null(const struct hsmca_ynode *n)
{
	return n && n->kind == HSMCA_YNODE_SCALAR && n->style == HSMCA_YSTYLE_PLAIN &&
	       (n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
		strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

const char *hsmca_ynode_describe(const struct hsmca_ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case HSMCA_YNODE_MAP:
		return "a mapping";
	case HSMCA_YNODE_SEQ:
		return "a sequence";
	case HSMCA_YNODE_SCALAR:
		break;
	}
	return hsmca_ynode_is_null(n) ? "an empty value" : "a string";
}

/* ---- loading ----------------------------------------------------------- */

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
				excerpt(node->value, node->len, key, sizeof(key));
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

/* ---- lookups and typed getters ----------------------------------------- */

const struct hsmca_ynode *hsmca_ynode_get(const struct hsmca_ynode *map, const char *key)
{
	size_t i, klen = strlen(key);

	if (!map || map->kind != HSMCA_YNODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (map->keys[i]->len == klen && memcmp(map->keys[i]->value, key, klen) == 0)
			return map->items[i];
	return NULL;
}

int hsmca_ynode_expect_map(const struct hsmca_ynode *n, hsmca_error *err)
{
	if (n->kind != HSMCA_YNODE_MAP)
		return path_error(n, err, "expected a mapping, got %s", hsmca_ynode_describe(n));
	return 0;
}

int hsmca_ynode_expect_seq(const struct hsmca_ynode *n, hsmca_error *err)
{
	if (n->kind != HSMCA_YNODE_SEQ)
		return path_error(n, err, "expected a sequence, got %s", hsmca_ynode_describe(n));
	return 0;
}

int hsmca_ynode_require(const struct hsmca_ynode *map, const char *key,
			const struct hsmca_ynode **out, hsmca_error *err)
{
	const struct hsmca_ynode *v, *at = map;
	char path[256];

	if (hsmca_ynode_expect_map(map, err) < 0)
		return -1;
	v = hsmca_ynode_get(map, key);
	if (v) {
		*out = v;
		return 0;
	}
	/* A block mapping starts at its first key; the line of the key that
	 * names the mapping ("ca:") is where a reader looks for it. */
	if (map->parent && map->parent->kind == HSMCA_YNODE_MAP)
		at = map->parent->keys[map->index];
	hsmca_ynode_path(map, path, sizeof(path));
	if (path[0])
		return hsmca_ynode_error(at, err, "%s: missing required key '%s'", path, key);
	return hsmca_ynode_error(at, err, "missing required key '%s'", key);
}

int hsmca_ynode_check_keys(const struct hsmca_ynode *map, const char *const allowed[],
			   const char *filename, hsmca_error *err)
{
	char list[512], key[72], path[256], in[272] = "";
	size_t i, j, pos = 0;
	const struct hsmca_ynode *k;

	if (hsmca_ynode_expect_map(map, err) < 0)
		return -1;
	for (i = 0; i < map->n; i++) {
		k = map->keys[i];
		for (j = 0; allowed[j]; j++)
			if (strlen(allowed[j]) == k->len && memcmp(allowed[j], k->value, k->len) == 0)
				break;
		if (allowed[j])
			continue;
		list[0] = '\0';
		for (j = 0; allowed[j] && pos < sizeof(list); j++) {
			int w = snprintf(list + pos, sizeof(list) - pos, "%s%s", j ? ", " : "",
					 allowed[j]);

			if (w < 0)
				break;
			pos += (size_t)w;
		}
		excerpt(k->value, k->len, key, sizeof(key));
		hsmca_ynode_path(map, path, sizeof(path));
		if (path[0])
			snprintf(in, sizeof(in), " in %s", path);
		return error_at(err, filename ? filename : map->tree->name, k->line,
				"unknown key '%s'%s (expected one of: %s)", key, in, list);
	}
	return 0;
}

int hsmca_ynode_string(const struct hsmca_ynode *n, char *out, size_t outlen, hsmca_error *err)
{
	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected a string, got %s", hsmca_ynode_describe(n));
	if (memchr(n->value, '\0', n->len))
		return path_error(n, err, "value contains a NUL character");
	if (n->len >= outlen)
		return path_error(n, err, "value is too long (%zu bytes, at most %zu)", n->len,
				  outlen ? outlen - 1 : 0);
	memcpy(out, n->value, n->len + 1);
	return 0;
}

bool hsmca_yname_valid(const char *s)
{
	size_t i;

	if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i]; i++) {
		char c = s[i];

		if (i > 62)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int hsmca_ynode_name(const struct hsmca_ynode *n, char *out, size_t outlen, hsmca_error *err)
{
	char text[72];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected a name, got %s", hsmca_ynode_describe(n));
	if (n->len >= outlen || memchr(n->value, '\0', n->len) || !hsmca_yname_valid(n->value)) {
		excerpt(n->value, n->len, text, sizeof(text));
		return path_error(n, err,
				  "'%s' is not a valid name (1 to 63 of a-z 0-9 . _ -, "
				  "starting with a letter or digit)", text);
	}
	memcpy(out, n->value, n->len + 1);
	return 0;
}

int hsmca_ynode_bool(const struct hsmca_ynode *n, bool *out, hsmca_error *err)
{
	char text[72];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected true or false, got %s",
				  hsmca_ynode_describe(n));
	if (n->style == HSMCA_YSTYLE_PLAIN && strcmp(n->value, "true") == 0) {
		*out = true;
		return 0;
	}
	if (n->style == HSMCA_YSTYLE_PLAIN && strcmp(n->value, "false") == 0) {
		*out = false;
		return 0;
	}
	excerpt(n->value, n->len, text, sizeof(text));
	return path_error(n, err, "expected true or false (unquoted), got %s'%s'",
			  n->style == HSMCA_YSTYLE_QUOTED ? "quoted " : "", text);
}

int hsmca_ynode_int(const struct hsmca_ynode *n, int64_t min, int64_t max, int64_t *out,
		    hsmca_error *err)
{
	const char *p;
	bool neg = false;
	uint64_t v = 0, limit;
	char text[72];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected an integer, got %s", hsmca_ynode_describe(n));
	p = n->value;
	if (*p == '-') {
		neg = true;
		p++;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (n->style != HSMCA_YSTYLE_PLAIN || *p < '0' || *p > '9' || (p[0] == '0' && p[1]))
		goto bad;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		if (v > (limit - (uint64_t)(*p - '0')) / 10)
			goto range;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if ((size_t)(p - n->value) != n->len)
		goto bad;
	{
		int64_t s = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v)
				: (int64_t)v;

		if (s < min || s > max)
			goto range;
		*out = s;
	}
	return 0;
bad:
	excerpt(n->value, n->len, text, sizeof(text));
	return path_error(n, err, "expected an integer%s, got %s'%s'",
			  n->style == HSMCA_YSTYLE_QUOTED ? " (unquoted)" : "",
			  n->style == HSMCA_YSTYLE_QUOTED ? "quoted " : "", text);
range:
	excerpt(n->value, n->len, text, sizeof(text));
	return path_error(n, err, "%s is out of range (%lld to %lld)", text, (long long)min,
			  (long long)max);
}

/* Run a util.c parser on a scalar and put "file:line: " before its message,
 * which already starts with the path (passed as `what`). */
static int parse_with(const struct hsmca_ynode *n, hsmca_error *err, bool is_time, void *out)
{
	char text[64], path[256];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected a %s, got %s", is_time ? "date" : "duration",
				  hsmca_ynode_describe(n));
	if (hsmca_ynode_string(n, text, sizeof(text), err) < 0)
		return -1;
	hsmca_ynode_path(n, path, sizeof(path));
	if (!path[0])
		snprintf(path, sizeof(path), "value");
	if (is_time ? hsmca_parse_time(text, path, out, err)
		    : hsmca_parse_duration(text, path, out, err)) {
		if (n->tree->name[0])
			return hsmca_error_prefix(err, "%s:%u", n->tree->name, n->line);
		return hsmca_error_prefix(err, "line %u", n->line);
	}
	return 0;
}

int hsmca_ynode_duration(const struct hsmca_ynode *n, int64_t *seconds, hsmca_error *err)
{
	int64_t v;

	if (parse_with(n, err, false, &v) < 0)
		return -1;
	*seconds = v;
	return 0;
}

int hsmca_ynode_time(const struct hsmca_ynode *n, time_t *out, hsmca_error *err)
{
	time_t v;

	if (parse_with(n, err, true, &v) < 0)
		return -1;
	*out = v;
	return 0;
}

int hsmca_ynode_require_version(const struct hsmca_ynode *root, int64_t supported,
				hsmca_error *err)
{
	const struct hsmca_ynode *n;
	int64_t v;

	if (hsmca_ynode_require(root, "version", &n, err) < 0 ||
	    hsmca_ynode_int(n, INT64_MIN, INT64_MAX, &v, err) < 0)
		return -1;
	if (v != supported)
		return path_error(n, err, "unsupported version %lld (this hsmca reads version %lld)",
				  (long long)v, (long long)supported);
	return 0;
}
