#include "talos/yamldoc.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "yaml/ybound.h"

static void wipe_document(yaml_document_t *doc)
{
	yaml_node_t *n;

	for (n = doc->nodes.start; n && n < doc->nodes.top; n++) {
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
			hsmca_wipe(n->data.scalar.value, n->data.scalar.length);
	}
}

/* libyaml frees these without clearing them; they held the raw input. */
static void wipe_parser(yaml_parser_t *p)
{
	yaml_token_t *t;

	if (p->buffer.start)
		hsmca_wipe(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start)
		hsmca_wipe(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	for (t = p->tokens.head; t && t < p->tokens.tail; t++) {
		if (t->type == YAML_SCALAR_TOKEN && t->data.scalar.value)
			hsmca_wipe(t->data.scalar.value, t->data.scalar.length);
	}
}

/* One step of the walk below: a collection and the next child to visit. */
struct walk {
	yaml_node_t *n;
	size_t next;
};

/* Node id of the i-th child of collection `n` (mapping: key, value, key, …),
 * or 0 when there is none left. */
static int child_id(const yaml_node_t *n, size_t i)
{
	if (n->type == YAML_SEQUENCE_NODE) {
		size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

		return i < cnt ? n->data.sequence.items.start[i] : 0;
	}
	if (n->type == YAML_MAPPING_NODE) {
		size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
		const yaml_node_pair_t *pr = n->data.mapping.pairs.start + i / 2;

		return i / 2 < cnt ? (i % 2 ? pr->value : pr->key) : 0;
	}
	return 0;
}

/* A document must be a tree of bounded size and depth.  libyaml resolves an
 * alias to the anchored node's id, so a node reached twice is an alias (an
 * 837-byte alias bomb is a graph whose walk — same_tree in mconfig.c — is
 * exponential): refused.  Iterative, each node visited once: linear. */
static int check_document(yaml_document_t *doc, const char *what, hsmca_error *err)
{
	size_t count = (size_t)(doc->nodes.top - doc->nodes.start), depth = 0;
	struct walk stack[HSMCA_YAML_MAX_DEPTH];
	uint8_t *seen;
	yaml_node_t *root = yaml_document_get_root_node(doc);
	int ret = -1;

	if (!root)
		return 0;
	if (count > HSMCA_YAML_MAX_NODES)
		return hsmca_error_set(err, "parse %s: more than %d YAML nodes", what,
				       HSMCA_YAML_MAX_NODES);
	seen = calloc(count + 1, 1);
	if (!seen)
		return hsmca_error_set(err, "parse %s: out of memory", what);
	seen[1] = 1; /* the root is node 1 */
	stack[depth++] = (struct walk){ root, 0 };
	while (depth > 0) {
		struct walk *top = &stack[depth - 1];
		int id = child_id(top->n, top->next++);
		yaml_node_t *c;

		if (id == 0) {
			depth--;
			continue;
		}
		c = yaml_document_get_node(doc, id);
		if (!c || (size_t)id > count) {
			hsmca_error_set(err, "parse %s: malformed document", what);
			goto out;
		}
		if (seen[id]) {
			hsmca_error_set(err, "parse %s: YAML aliases are not accepted (the node at "
					"line %zu is used twice)", what, c->start_mark.line + 1);
			goto out;
		}
		seen[id] = 1;
		if (c->type == YAML_SCALAR_NODE)
			continue;
		if (depth == HSMCA_YAML_MAX_DEPTH) {
			hsmca_error_set(err, "parse %s: line %zu: nesting deeper than %d levels", what,
					c->start_mark.line + 1, HSMCA_YAML_MAX_DEPTH);
			goto out;
		}
		stack[depth++] = (struct walk){ c, 0 };
	}
	ret = 0;
out:
	free(seen);
	return ret;
}

int hsmca_talos_yaml_load(const uint8_t *buf, size_t len, const char *what,
			  struct hsmca_talos_ydocs *out, hsmca_error *err)
{
	yaml_parser_t parser;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (hsmca_yaml_precheck(buf, len, HSMCA_YAML_MAX_BYTES, what, err) != 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		return hsmca_error_set(err, "parse %s: out of memory", what);
	yaml_parser_set_input_string(&parser, buf, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	for (;;) {
		yaml_document_t *doc;

		if (out->n == HSMCA_YAML_MAX_DOCS) {
			hsmca_error_set(err, "parse %s: more than %d YAML documents", what,
					HSMCA_YAML_MAX_DOCS);
			goto out;
		}
		doc = &out->docs[out->n];
		if (!yaml_parser_load(&parser, doc)) {
			/* Problem text is libyaml's description, never input bytes. */
			hsmca_error_set(err, "parse %s: not valid YAML: %s at line %zu column %zu",
					what, parser.problem ? parser.problem : "error",
					parser.problem_mark.line + 1,
					parser.problem_mark.column + 1);
			goto out;
		}
		if (!yaml_document_get_root_node(doc)) {
			/* libyaml's "no more documents" (an explicit empty
			 * document has a null scalar root instead). */
			yaml_document_delete(doc);
			break;
		}
		out->n++;
		if (check_document(doc, what, err) != 0)
			goto out;
	}
	ret = 0;
out:
	wipe_parser(&parser);
	yaml_parser_delete(&parser);
	if (ret != 0)
		hsmca_talos_yaml_free(out);
	return ret;
}

void hsmca_talos_yaml_free(struct hsmca_talos_ydocs *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		wipe_document(&d->docs[i]);
		yaml_document_delete(&d->docs[i]);
	}
	d->n = 0;
}

yaml_node_t *hsmca_talos_yaml_root(struct hsmca_talos_ydocs *d, size_t i)
{
	if (i >= d->n)
		return NULL;
	return yaml_document_get_root_node(&d->docs[i]);
}

yaml_node_t *hsmca_talos_yaml_get(yaml_document_t *doc, yaml_node_t *map, const char *key,
				  yaml_node_t **key_node)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		const char *s = hsmca_talos_yaml_str(k);

		if (s && strcmp(s, key) == 0) {
			if (key_node)
				*key_node = k;
			return yaml_document_get_node(doc, pair->value);
		}
	}
	return NULL;
}

const char *hsmca_talos_yaml_str(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

int hsmca_talos_yaml_is_null(const yaml_node_t *n)
{
	const char *s = hsmca_talos_yaml_str(n);

	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}
