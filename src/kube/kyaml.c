/* A small YAML tree for kubeconfigs and ExecCredential-adjacent data.
 *
 * Why not src/yaml/ytree: a kubeconfig carries client keys and tokens, and
 * this loader wipes every scalar libyaml hands over and libyaml's own input
 * buffers before they are freed.  (libyaml still reallocates scalar buffers
 * while scanning; those intermediate copies are out of reach.) */
#include "kube/kube_internal.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/util.h"
#include "yaml/ybound.h"

#define KYAML_MAX_DEPTH 32
#define KYAML_MAX_NODES 20000
#define KYAML_MAX_BYTES (4u * 1024 * 1024)

struct builder {
	const char *name;
	struct kyaml *stack[KYAML_MAX_DEPTH + 1];
	int depth;
	size_t nodes;
	struct kyaml *root;
	struct kyaml *pending_key[KYAML_MAX_DEPTH + 1]; /* per mapping level */
};

void kyaml_free(struct kyaml *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		kyaml_free(n->items[i]);
		if (n->keys)
			kyaml_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	if (n->value) {
		hsmca_wipe(n->value, n->len);
		free(n->value);
	}
	free(n);
}

static int add_child(struct kyaml *parent, struct kyaml *key, struct kyaml *child)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct kyaml **items = realloc(parent->items, cap * sizeof(*items));

		if (!items)
			return -1;
		parent->items = items;
		if (parent->kind == KYAML_MAP) {
			struct kyaml **keys = realloc(parent->keys, cap * sizeof(*keys));

			if (!keys)
				return -1;
			parent->keys = keys;
		}
		parent->cap = cap;
	}
	if (parent->kind == KYAML_MAP)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = child;
	return 0;
}

/* Attach a finished node to the collection on top of the stack (or make it
 * the root).  Takes ownership of n in every case. */
static int attach(struct builder *b, struct kyaml *n, hsmca_error *err)
{
	struct kyaml *top;

	if (b->depth == 0) {
		if (b->root) {
			kyaml_free(n);
			return hsmca_error_set(err, "%s: more than one document", b->name);
		}
		b->root = n;
		return 0;
	}
	top = b->stack[b->depth - 1];
	if (top->kind == KYAML_SEQ) {
		if (add_child(top, NULL, n) < 0)
			goto oom;
		return 0;
	}
	if (!b->pending_key[b->depth - 1]) {
		if (n->kind != KYAML_SCALAR) {
			unsigned line = n->line;

			kyaml_free(n);
			return hsmca_error_set(err, "%s:%u: mapping keys must be scalars", b->name, line);
		}
		for (size_t i = 0; i < top->n; i++) {
			if (strcmp(top->keys[i]->value, n->value) == 0) {
				unsigned line = n->line;
				char shown[64];

				snprintf(shown, sizeof(shown), "%s", n->value);
				kyaml_free(n);
				return hsmca_error_set(err, "%s:%u: duplicate key '%s'", b->name, line,
						       shown);
			}
		}
		b->pending_key[b->depth - 1] = n;
		return 0;
	}
	if (add_child(top, b->pending_key[b->depth - 1], n) < 0)
		goto oom;
	b->pending_key[b->depth - 1] = NULL;
	return 0;
oom:
	kyaml_free(n);
	return hsmca_error_set(err, "%s: out of memory", b->name);
}

static struct kyaml *new_node(struct builder *b, enum kyaml_kind kind, unsigned line)
{
	struct kyaml *n;

	if (++b->nodes > KYAML_MAX_NODES)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (n) {
		n->kind = kind;
		n->line = line;
	}
	return n;
}

static int on_event(struct builder *b, yaml_event_t *ev, hsmca_error *err)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;
	struct kyaml *n;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return hsmca_error_set(err, "%s:%u: aliases are not accepted", b->name, line);
	case YAML_SCALAR_EVENT:
		n = new_node(b, KYAML_SCALAR, line);
		if (!n)
			return hsmca_error_set(err, "%s:%u: too many nodes or out of memory",
					       b->name, line);
		n->value = malloc(ev->data.scalar.length + 1);
		if (!n->value) {
			kyaml_free(n);
			return hsmca_error_set(err, "%s: out of memory", b->name);
		}
		memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
		n->value[ev->data.scalar.length] = '\0';
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		return attach(b, n, err);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (b->depth >= KYAML_MAX_DEPTH)
			return hsmca_error_set(err, "%s:%u: nested too deeply", b->name, line);
		n = new_node(b, ev->type == YAML_SEQUENCE_START_EVENT ? KYAML_SEQ : KYAML_MAP, line);
		if (!n)
			return hsmca_error_set(err, "%s:%u: too many nodes or out of memory",
					       b->name, line);
		b->pending_key[b->depth] = NULL;
		b->stack[b->depth++] = n;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		n = b->stack[--b->depth];
		b->stack[b->depth] = NULL;
		return attach(b, n, err);
	default:
		return 0;
	}
}

static void wipe_event(yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.value)
		hsmca_wipe(ev->data.scalar.value, ev->data.scalar.length);
}

static void wipe_parser(yaml_parser_t *p)
{
	if (p->raw_buffer.start)
		hsmca_wipe(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	if (p->buffer.start)
		hsmca_wipe(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
}

int kyaml_load(const void *buf, size_t len, const char *name, struct kyaml **out,
	       hsmca_error *err)
{
	struct builder b = { .name = name ? name : "kubeconfig" };
	yaml_parser_t parser;
	yaml_event_t ev;
	int ret = -1, done = 0;

	/* Flow nesting and size bounded before libyaml scans (yaml/ybound.h);
	 * aliases, depth and node count are refused below. */
	if (hsmca_yaml_precheck(buf, len, KYAML_MAX_BYTES, b.name, err) != 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		return hsmca_error_set(err, "%s: cannot initialise the YAML parser", b.name);
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			hsmca_error_set(err, "%s:%lu: %s", b.name,
					(unsigned long)parser.problem_mark.line + 1,
					parser.problem ? parser.problem : "YAML syntax error");
			goto out;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		if (on_event(&b, &ev, err) < 0) {
			wipe_event(&ev);
			yaml_event_delete(&ev);
			goto out;
		}
		wipe_event(&ev);
		yaml_event_delete(&ev);
	}
	if (!b.root) {
		hsmca_error_set(err, "%s: empty document", b.name);
		goto out;
	}
	*out = b.root;
	b.root = NULL;
	ret = 0;
out:
	for (int i = 0; i < b.depth; i++) {
		kyaml_free(b.pending_key[i]);
		kyaml_free(b.stack[i]);
	}
	kyaml_free(b.root);
	wipe_parser(&parser);
	yaml_parser_delete(&parser);
	return ret;
}

const struct kyaml *kyaml_get(const struct kyaml *map, const char *key)
{
	if (!map || map->kind != KYAML_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->value, key) == 0)
			return map->items[i];
	return NULL;
}

const char *kyaml_str(const struct kyaml *n)
{
	if (!n || n->kind != KYAML_SCALAR)
		return NULL;
	if (n->plain && (n->len == 0 || strcmp(n->value, "~") == 0 ||
			 strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
			 strcmp(n->value, "NULL") == 0))
		return NULL;
	return n->value;
}
