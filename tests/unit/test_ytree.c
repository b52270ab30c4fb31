/* Strict YAML loading: tree shape, positions, what is refused and why, and
 * the typed getters' messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "yaml/ytree.h"

static struct hsmca_ytree *load_ok(const char *text, unsigned flags)
{
	struct hsmca_ytree *t = NULL;
	hsmca_error err = {0};

	if (hsmca_ytree_load(text, strlen(text), "t.yaml", flags, &t, &err) != 0)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(t);
	return t;
}

/* Loading must fail with exactly `msg`, and leave *out untouched. */
static void load_fails(const char *text, size_t len, unsigned flags, const char *msg)
{
	struct hsmca_ytree *t = (struct hsmca_ytree *)(uintptr_t)0x1;
	hsmca_error err = {0};

	assert_int_equal(hsmca_ytree_load(text, len, "t.yaml", flags, &t, &err), -1);
	assert_ptr_equal(t, (struct hsmca_ytree *)(uintptr_t)0x1);
	assert_string_equal(err.msg, msg);
}

#define FAILS(text, msg) load_fails(text, strlen(text), 0, msg)

static void test_tree_shape(void **state)
{
	struct hsmca_ytree *t = load_ok("version: 1\n"
					"ca:\n"
					"  name: talos\n"
					"  subject: \"CN=x\"\n"
					"list: [a, 'b']\n"
					"empty:\n",
					0);
	const struct hsmca_ynode *root = hsmca_ytree_root(t), *ca, *n, *list;
	char path[64];

	(void)state;
	assert_int_equal(t->ndocs, 1);
	assert_string_equal(t->name, "t.yaml");
	assert_int_equal(root->kind, HSMCA_YNODE_MAP);
	assert_int_equal(root->n, 4);
	assert_string_equal(root->keys[1]->value, "ca");
	assert_int_equal(root->keys[1]->line, 2);

	n = hsmca_ynode_get(root, "version");
	assert_non_null(n);
	assert_int_equal(n->kind, HSMCA_YNODE_SCALAR);
	assert_int_equal(n->style, HSMCA_YSTYLE_PLAIN);
	assert_string_equal(n->value, "1");
	assert_int_equal(n->line, 1);
	assert_int_equal(n->column, 10);

	ca = hsmca_ynode_get(root, "ca");
	assert_int_equal(ca->kind, HSMCA_YNODE_MAP);
	n = hsmca_ynode_get(ca, "subject");
	assert_int_equal(n->style, HSMCA_YSTYLE_QUOTED);
	assert_int_equal(n->line, 4);
	assert_int_equal(n->column, 12);
	hsmca_ynode_path(n, path, sizeof(path));
	assert_string_equal(path, "ca.subject");

	list = hsmca_ynode_get(root, "list");
	assert_int_equal(list->kind, HSMCA_YNODE_SEQ);
	assert_int_equal(list->n, 2);
	assert_string_equal(list->items[1]->value, "b");
	assert_int_equal(list->items[1]->style, HSMCA_YSTYLE_QUOTED);
	hsmca_ynode_path(list->items[1], path, sizeof(path));
	assert_string_equal(path, "list[1]");

	n = hsmca_ynode_get(root, "empty");
	assert_true(hsmca_ynode_is_null(n));
	assert_string_equal(hsmca_ynode_describe(n), "an empty value");
	assert_null(hsmca_ynode_get(root, "missing"));
	assert_null(hsmca_ynode_get(list, "a"));
	hsmca_ytree_free(t);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	FAILS("a: 1\nb: 2\na: 3\n", "t.yaml:3: duplicate key 'a' (first defined at line 1)");
	/* Quoting does not make a different key. */
	FAILS("\"a\": 1\na: 2\n", "t.yaml:2: duplicate key 'a' (first defined at line 1)");
	FAILS("x:\n  k: 1\n  j: 2\n  k: 3\n", "t.yaml:4: duplicate key 'k' (first defined at line 2)");
	FAILS("x: {k: 1, k: 2}\n", "t.yaml:1: duplicate key 'k' (first defined at line 1)");
}

static void test_refused_constructs(void **state)
{
	(void)state;
	FAILS("a: 1\nb: &x 2\n", "t.yaml:2: YAML anchors are not allowed");
	FAILS("a: 1\nb: *x\n", "t.yaml:2: YAML aliases are not allowed");
	FAILS("a: !!str 1\n", "t.yaml:1: YAML tags are not allowed");
	FAILS("a: !local x\n", "t.yaml:1: YAML tags are not allowed");
	FAILS("a: !!map {}\n", "t.yaml:1: YAML tags are not allowed");
	FAILS("%TAG ! tag:example.com,2000:\n--- a\n", "t.yaml:1: YAML %TAG directives are not allowed");
	FAILS("[a, b]: 1\n", "t.yaml:1: mapping keys must be scalars, not a sequence");
	FAILS("? {a: 1}\n: 2\n", "t.yaml:1: mapping keys must be scalars, not a mapping");
	FAILS("a: 1\n---\nb: 2\n", "t.yaml:2: more than one YAML document (only one is allowed)");
}

static void test_multi_doc(void **state)
{
	struct hsmca_ytree *t = load_ok("a: 1\n---\nb: 2\n---\n- x\n", HSMCA_YTREE_MULTI_DOC);

	(void)state;
	assert_int_equal(t->ndocs, 3);
	assert_non_null(hsmca_ynode_get(t->docs[1], "b"));
	assert_int_equal(t->docs[1]->line, 3);
	assert_int_equal(t->docs[2]->kind, HSMCA_YNODE_SEQ);
	assert_ptr_equal(hsmca_ytree_root(t), t->docs[0]);
	hsmca_ytree_free(t);
}

static void test_empty_and_syntax(void **state)
{
	struct hsmca_ytree *t = load_ok("", 0);
	const char nul[] = "a: b\0c\n";

	(void)state;
	assert_int_equal(t->ndocs, 0);
	assert_null(hsmca_ytree_root(t));
	hsmca_ytree_free(t);
	t = load_ok("# only a comment\n", 0);
	assert_int_equal(t->ndocs, 0);
	hsmca_ytree_free(t);

	FAILS("a:\n  b: 1\n c: 2\n",
	      "t.yaml:3: YAML syntax error: did not find expected key (while parsing a block mapping at line 1)");
	FAILS("a: [1, 2\n",
	      "t.yaml:2: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 1)");
	load_fails(nul, sizeof(nul) - 1, 0,
		   "t.yaml:1: invalid input: control characters are not allowed (byte 4)");
	FAILS("a: 1\nb: \xff\n", "t.yaml:2: invalid input: invalid leading UTF-8 octet (byte 8)");
}

static void test_limits(void **state)
{
	char deep[2 * HSMCA_YTREE_MAX_DEPTH + 8];
	char *many;
	size_t i, len = 0;

	(void)state;
	memset(deep, 0, sizeof(deep));
	for (i = 0; i <= HSMCA_YTREE_MAX_DEPTH; i++)
		deep[i] = '[';
	FAILS(deep, "parse t.yaml: line 1: flow collections nested deeper than 64 levels");
	deep[HSMCA_YTREE_MAX_DEPTH] = '\0'; /* exactly the limit is fine */
	for (i = 0; i < HSMCA_YTREE_MAX_DEPTH; i++)
		deep[HSMCA_YTREE_MAX_DEPTH + i] = ']';
	hsmca_ytree_free(load_ok(deep, 0));

	many = malloc(4 * HSMCA_YTREE_MAX_NODES + 8);
	assert_non_null(many);
	many[len++] = '[';
	for (i = 0; i < HSMCA_YTREE_MAX_NODES; i++) {
		memcpy(many + len, "1,", 2);
		len += 2;
	}
	many[len++] = ']';
	many[len] = '\0';
	/* The sequence itself plus MAX scalars is one node too many. */
	load_fails(many, len, 0, "t.yaml:1: document has more than 20000 nodes");
	free(many);
}

static void test_unnamed_and_sanitised(void **state)
{
	struct hsmca_ytree *t = (void *)0;
	hsmca_error err = {0};
	const char *dup = "a: 1\na: 2\n";
	const char *ctl = "\"k\\e[31m\": 1\n";
	static const char *const allowed[] = {"x", NULL};

	(void)state;
	assert_int_equal(hsmca_ytree_load(dup, strlen(dup), NULL, 0, &t, &err), -1);
	assert_string_equal(err.msg, "line 2: duplicate key 'a' (first defined at line 1)");

	t = load_ok(ctl, 0);
	assert_int_equal(hsmca_ynode_check_keys(hsmca_ytree_root(t), allowed, NULL, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1: unknown key 'k?[31m' (expected one of: x)");
	hsmca_ytree_free(t);
}

static void test_check_keys(void **state)
{
	static const char *const top[] = {"key", "subject", "validity", NULL};
	static const char *const inner[] = {"name", "subject", NULL};
	struct hsmca_ytree *t = load_ok("key: a\n"
					"subject: b\n"
					"validity: c\n"
					"ca:\n"
					"  name: x\n"
					"  subjekt: y\n"
					"subjekt: z\n",
					0);
	const struct hsmca_ynode *root = hsmca_ytree_root(t);
	hsmca_error err = {0};

	(void)state;
	assert_int_equal(hsmca_ynode_check_keys(root, top, "ceremony.yaml", &err), -1);
	assert_string_equal(err.msg, "ceremony.yaml:4: unknown key 'ca' (expected one of: key, subject, validity)");
	assert_int_equal(hsmca_ynode_check_keys(hsmca_ynode_get(root, "ca"), inner, NULL, &err), -1);
	assert_string_equal(err.msg, "t.yaml:6: unknown key 'subjekt' in ca (expected one of: name, subject)");
	assert_int_equal(hsmca_ynode_check_keys(hsmca_ynode_get(root, "key"), inner, NULL, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1: key: expected a mapping, got a string");
	hsmca_ytree_free(t);

	t = load_ok("key: a\nsubject: b\n", 0);
	assert_int_equal(hsmca_ynode_check_keys(hsmca_ytree_root(t), top, NULL, &err), 0);
	hsmca_ytree_free(t);
}

static void test_require(void **state)
{
	struct hsmca_ytree *t = load_ok("version: 2\n"
					"ca:\n"
					"  name: x\n",
					0);
	const struct hsmca_ynode *root = hsmca_ytree_root(t), *n = NULL;
	hsmca_error err = {0};

	(void)state;
	assert_int_equal(hsmca_ynode_require(hsmca_ynode_get(root, "ca"), "subject", &n, &err), -1);
	assert_null(n);
	/* Reported at "ca:", not at the first key inside it. */
	assert_string_equal(err.msg, "t.yaml:2: ca: missing required key 'subject'");
	assert_int_equal(hsmca_ynode_require(root, "key", &n, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1: missing required key 'key'");
	assert_int_equal(hsmca_ynode_require(root, "ca", &n, &err), 0);
	assert_ptr_equal(n, hsmca_ynode_get(root, "ca"));

	assert_int_equal(hsmca_ynode_require_version(root, 1, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1: version: unsupported version 2 (this hsmca reads version 1)");
	assert_int_equal(hsmca_ynode_require_version(root, 2, &err), 0);
	hsmca_ytree_free(t);
}

static void test_get_string_and_name(void **state)
{
	struct hsmca_ytree *t = load_ok("s: hello\n"
					"q: \"\"\n"
					"nul: \"a\\0b\"\n"
					"null1: ~\n"
					"null2: null\n"
					"m: {a: 1}\n"
					"n1: talos-access.2026_x\n"
					"n2: Talos\n"
					"n3: -x\n",
					0);
	const struct hsmca_ynode *r = hsmca_ytree_root(t);
	hsmca_error err = {0};
	char buf[6] = "xxxxx", name[64];

	(void)state;
	assert_int_equal(hsmca_ynode_string(hsmca_ynode_get(r, "s"), buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "hello");
	assert_int_equal(hsmca_ynode_string(hsmca_ynode_get(r, "s"), buf, 5, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1: s: value is too long (5 bytes, at most 4)");
	assert_int_equal(hsmca_ynode_string(hsmca_ynode_get(r, "q"), buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "");
	assert_int_equal(hsmca_ynode_string(hsmca_ynode_get(r, "nul"), buf, sizeof(buf), &err), -1);
	assert_string_equal(err.msg, "t.yaml:3: nul: value contains a NUL character");
	assert_int_equal(hsmca_ynode_string(hsmca_ynode_get(r, "null1"), buf, sizeof(buf), &err), -1);
	assert_string_equal(err.msg, "t.yaml:4: null1: expected a string, got an empty value");
	assert_int_equal(hsmca_ynode_string(hsmca_ynode_get(r, "null2"), buf, sizeof(buf), &err), -1);
	assert_int_equal(hsmca_ynode_string(hsmca_ynode_get(r, "m"), buf, sizeof(buf), &err), -1);
	assert_string_equal(err.msg, "t.yaml:6: m: expected a string, got a mapping");

	assert_int_equal(hsmca_ynode_name(hsmca_ynode_get(r, "n1"), name, sizeof(name), &err), 0);
	assert_string_equal(name, "talos-access.2026_x");
	assert_int_equal(hsmca_ynode_name(hsmca_ynode_get(r, "n2"), name, sizeof(name), &err), -1);
	assert_non_null(strstr(err.msg, "t.yaml:8: n2: 'Talos' is not a valid name"));
	assert_int_equal(hsmca_ynode_name(hsmca_ynode_get(r, "n3"), name, sizeof(name), &err), -1);
	assert_true(hsmca_yname_valid("a"));
	assert_true(hsmca_yname_valid("0a.b_c-d"));
	assert_false(hsmca_yname_valid(""));
	assert_false(hsmca_yname_valid(".."));
	assert_false(hsmca_yname_valid("a/b"));
	assert_true(hsmca_yname_valid("a23456789012345678901234567890123456789012345678901234567890123"));
	assert_false(hsmca_yname_valid("a234567890123456789012345678901234567890123456789012345678901234"));
	hsmca_ytree_free(t);
}

static void test_get_bool(void **state)
{
	struct hsmca_ytree *t = load_ok("a: true\nb: false\nc: yes\nd: True\ne: \"true\"\nf:\n", 0);
	const struct hsmca_ynode *r = hsmca_ytree_root(t);
	hsmca_error err = {0};
	bool v = false;

	(void)state;
	assert_int_equal(hsmca_ynode_bool(hsmca_ynode_get(r, "a"), &v, &err), 0);
	assert_true(v);
	assert_int_equal(hsmca_ynode_bool(hsmca_ynode_get(r, "b"), &v, &err), 0);
	assert_false(v);
	v = true;
	assert_int_equal(hsmca_ynode_bool(hsmca_ynode_get(r, "c"), &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:3: c: expected true or false (unquoted), got 'yes'");
	assert_true(v); /* untouched on error */
	assert_int_equal(hsmca_ynode_bool(hsmca_ynode_get(r, "d"), &v, &err), -1);
	assert_int_equal(hsmca_ynode_bool(hsmca_ynode_get(r, "e"), &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:5: e: expected true or false (unquoted), got quoted 'true'");
	assert_int_equal(hsmca_ynode_bool(hsmca_ynode_get(r, "f"), &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:6: f: expected true or false, got an empty value");
	hsmca_ytree_free(t);
}

static void test_get_int(void **state)
{
	struct hsmca_ytree *t = load_ok("ok: 42\n"
					"neg: -7\n"
					"zero: 0\n"
					"lead: 010\n"
					"plus: +1\n"
					"hex: 0x10\n"
					"quoted: \"5\"\n"
					"big: 9223372036854775807\n"
					"over: 9223372036854775808\n"
					"min: -9223372036854775808\n"
					"float: 1.5\n"
					"seq: [1]\n",
					0);
	const struct hsmca_ynode *r = hsmca_ytree_root(t);
	hsmca_error err = {0};
	int64_t v = 99;

	(void)state;
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "ok"), 0, 100, &v, &err), 0);
	assert_int_equal(v, 42);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "ok"), 0, 41, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1: ok: 42 is out of range (0 to 41)");
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "neg"), -10, 10, &v, &err), 0);
	assert_int_equal(v, -7);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "zero"), 0, 0, &v, &err), 0);
	assert_int_equal(v, 0);
	v = 99;
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "lead"), 0, 100, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:4: lead: expected an integer, got '010'");
	assert_int_equal(v, 99);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "plus"), 0, 100, &v, &err), -1);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "hex"), 0, 100, &v, &err), -1);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "quoted"), 0, 100, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:7: quoted: expected an integer (unquoted), got quoted '5'");
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "big"), INT64_MIN, INT64_MAX, &v, &err), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "over"), INT64_MIN, INT64_MAX, &v, &err), -1);
	assert_non_null(strstr(err.msg, "out of range"));
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "min"), INT64_MIN, INT64_MAX, &v, &err), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "float"), 0, 100, &v, &err), -1);
	assert_int_equal(hsmca_ynode_int(hsmca_ynode_get(r, "seq"), 0, 100, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:12: seq: expected an integer, got a sequence");
	hsmca_ytree_free(t);
}

static void test_get_duration_time(void **state)
{
	struct hsmca_ytree *t = load_ok("d: 10y\n"
					"nounit: 10\n"
					"v:\n"
					"  when: 2026-02-30\n"
					"  ok: 2026-11-28\n"
					"  ts: \"2026-11-28T12:30:00Z\"\n",
					0);
	const struct hsmca_ynode *r = hsmca_ytree_root(t), *v = hsmca_ynode_get(r, "v");
	hsmca_error err = {0};
	int64_t secs = 0;
	time_t when = 0;

	(void)state;
	assert_int_equal(hsmca_ynode_duration(hsmca_ynode_get(r, "d"), &secs, &err), 0);
	assert_true(secs == (int64_t)10 * 365 * 86400);
	assert_int_equal(hsmca_ynode_duration(hsmca_ynode_get(r, "nounit"), &secs, &err), -1);
	assert_string_equal(err.msg, "t.yaml:2: nounit: '10' lacks a unit (s, m, h, d, w or y)");
	assert_int_equal(hsmca_ynode_duration(v, &secs, &err), -1);
	assert_string_equal(err.msg, "t.yaml:4: v: expected a duration, got a mapping");
	assert_int_equal(hsmca_ynode_time(hsmca_ynode_get(v, "when"), &when, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:4: v.when: '2026-02-30' is not a valid date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
	assert_true(when == 0);
	assert_int_equal(hsmca_ynode_time(hsmca_ynode_get(v, "ok"), &when, &err), 0);
	assert_true(when == (time_t)1795824000);
	assert_int_equal(hsmca_ynode_time(hsmca_ynode_get(v, "ts"), &when, &err), 0);
	assert_true(when == (time_t)1795824000 + 12 * 3600 + 30 * 60);
	hsmca_ytree_free(t);
}

static void test_load_file(void **state)
{
	char *dir = hsmca_test_tmpdir(), path[512];
	struct hsmca_ytree *t = NULL;
	hsmca_error err = {0};
	FILE *f;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/x.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("a: 1\nb: [x, y]\nb: 2\n", f);
	fclose(f);
	assert_int_equal(hsmca_ytree_load_file(path, 1024, 0, &t, &err), -1);
	assert_non_null(strstr(err.msg, "/x.yaml:3: duplicate key 'b' (first defined at line 2)"));
	assert_int_equal(hsmca_ytree_load_file(path, 4, 0, &t, &err), -1);
	assert_non_null(strstr(err.msg, "4-byte limit"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("a: 1\n", f);
	fclose(f);
	assert_int_equal(hsmca_ytree_load_file(path, 1024, 0, &t, &err), 0);
	assert_string_equal(t->name, path);
	hsmca_ytree_free(t);
	hsmca_ytree_free(NULL);
	hsmca_test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_shape),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_refused_constructs),
		cmocka_unit_test(test_multi_doc),
		cmocka_unit_test(test_empty_and_syntax),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_unnamed_and_sanitised),
		cmocka_unit_test(test_check_keys),
		cmocka_unit_test(test_require),
		cmocka_unit_test(test_get_string_and_name),
		cmocka_unit_test(test_get_bool),
		cmocka_unit_test(test_get_int),
		cmocka_unit_test(test_get_duration_time),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
