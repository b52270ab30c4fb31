/* Fuzz the strict YAML loader and every getter on every node it builds.
 * Build with clang -fsanitize=fuzzer, or with tests/fuzz/main.c to replay a
 * corpus under GCC. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "yaml/ytree.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void visit(const struct hsmca_ynode *n, unsigned depth)
{
	static const char *const allowed[] = {"version", "name", "ca", "key", NULL};
	hsmca_error err;
	char buf[128], path[256];
	const struct hsmca_ynode *got;
	int64_t i64;
	time_t t;
	bool b;
	size_t i;

	/* The loader bounds nesting; a deeper tree here is a loader bug. */
	if (depth > HSMCA_YTREE_MAX_DEPTH + 1)
		__builtin_trap();
	hsmca_ynode_path(n, path, sizeof(path));
	hsmca_ynode_describe(n);
	hsmca_ynode_text(n, buf, sizeof(buf));
	switch (n->kind) {
	case HSMCA_YNODE_SCALAR:
		if (n->value[n->len] != '\0')
			__builtin_trap();
		hsmca_ynode_string(n, buf, sizeof(buf), &err);
		hsmca_ynode_string(n, buf, 1, &err);
		hsmca_ynode_name(n, buf, sizeof(buf), &err);
		hsmca_ynode_bool(n, &b, &err);
		hsmca_ynode_int(n, INT64_MIN, INT64_MAX, &i64, &err);
		hsmca_ynode_int(n, 0, 10, &i64, &err);
		hsmca_ynode_duration(n, &i64, &err);
		hsmca_ynode_time(n, &t, &err);
		hsmca_ynode_expect_map(n, &err);
		break;
	case HSMCA_YNODE_SEQ:
		hsmca_ynode_expect_seq(n, &err);
		for (i = 0; i < n->n; i++)
			visit(n->items[i], depth + 1);
		break;
	case HSMCA_YNODE_MAP:
		hsmca_ynode_check_keys(n, allowed, NULL, &err);
		hsmca_ynode_check_keys(n, allowed, "other.yaml", &err);
		hsmca_ynode_require(n, "version", &got, &err);
		hsmca_ynode_require_version(n, 1, &err);
		got = hsmca_ynode_get(n, "name");
		if (got && got->parent != n)
			__builtin_trap();
		for (i = 0; i < n->n; i++) {
			if (n->keys[i]->kind != HSMCA_YNODE_SCALAR || n->items[i]->parent != n)
				__builtin_trap();
			/* Duplicate keys must have been refused. */
			if (i > 0 && n->keys[i]->len == n->keys[0]->len &&
			    memcmp(n->keys[i]->value, n->keys[0]->value, n->keys[0]->len) == 0)
				__builtin_trap();
			visit(n->keys[i], depth + 1);
			visit(n->items[i], depth + 1);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmca_ytree *t = NULL;
	hsmca_error err;
	unsigned flags;
	size_t i;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	/* The first byte picks the flags, so both modes are explored. */
	flags = (data[0] & 1) ? HSMCA_YTREE_MULTI_DOC : 0;
	if (hsmca_ytree_load(data + 1, size - 1, (data[0] & 2) ? "fuzz.yaml" : NULL, flags, &t,
			     &err) < 0)
		return 0;
	if (!flags && t->ndocs > 1)
		__builtin_trap();
	for (i = 0; i < t->ndocs; i++)
		if (t->docs[i])
			visit(t->docs[i], 0);
	hsmca_ytree_free(t);
	return 0;
}
