/* Bounded YAML (issue 11, item 3): every YAML loader refuses an alias bomb,
 * flow collections nested past the limit (the 1 MB "[[[[…" talosconfig) and
 * block nesting past the depth limit, with a message that says which, while
 * ordinary documents (anchors without aliases included) still load.  No
 * timing is asserted: a refusal is linear in the input by construction
 * (yaml/ybound.c, talos/yamldoc.c); the issue's report gives measurements. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "kube/kube_internal.h"
#include "talos/mconfig.h"
#include "talos/talm.h"
#include "talos/talos.h"
#include "talos/yamldoc.h"
#include "yaml/ybound.h"
#include "yaml/ytree.h"

/* An 837-byte talm node file whose body is an alias bomb: each level lists
 * the previous one ten times, 10^8 leaves for a walk that follows aliases. */
static char *alias_bomb(size_t *len)
{
	static const char head[] =
		"# talm: nodes=[\"192.0.2.4\"], endpoints=[\"192.0.2.4\"], "
		"templates=[\"templates/controlplane.yaml\"]\n"
		"machine:\n"
		"  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
	char *buf = calloc(1, 837 + 1);
	size_t n;
	int i, j;

	assert_non_null(buf);
	n = (size_t)snprintf(buf, 838, "%s", head);
	for (i = 1; i <= 8; i++) {
		n += (size_t)snprintf(buf + n, 838 - n, "  a%d: &a%d [", i, i);
		for (j = 0; j < 10; j++)
			n += (size_t)snprintf(buf + n, 838 - n, "*a%d%s", i - 1, j < 9 ? "," : "]\n");
	}
	n += (size_t)snprintf(buf + n, 838 - n, "  certSANs: [*a8]\n#");
	assert_true(n < 837);
	memset(buf + n, '#', 836 - n); /* pad the trailing comment to 837 bytes */
	buf[836] = '\n';
	*len = 837;
	return buf;
}

/* "key: [[[[…]]]]" of about `size` bytes. */
static char *nested_flow(size_t size, const char *prefix, size_t *len)
{
	size_t pre = strlen(prefix), half = (size - pre - 1) / 2, i;
	char *buf = malloc(size + 1);

	assert_non_null(buf);
	memcpy(buf, prefix, pre);
	for (i = 0; i < half; i++) {
		buf[pre + i] = '[';
		buf[pre + half + i] = ']';
	}
	buf[pre + 2 * half] = '\n';
	*len = pre + 2 * half + 1;
	buf[*len] = '\0';
	return buf;
}

static void test_alias_bomb_node_file(void **state)
{
	hsmca_error err = { "", 0 };
	uint8_t *out = NULL;
	size_t len, outlen = 0;
	bool changed = false;
	char *bomb = alias_bomb(&len);
	const char *body;

	(void)state;
	assert_int_equal(len, 837);
	body = strchr(bomb, '\n') + 1; /* after the modeline */
	assert_int_equal(hsmca_talm_body_accepted_edit((const uint8_t *)body, len - (size_t)(body - bomb),
						       HSMCA_MCONFIG_MACHINE_ACCEPTED, "unused", true,
						       &out, &outlen, &changed, &err),
			 -1);
	assert_non_null(strstr(err.msg, "YAML aliases are not accepted"));
	assert_null(out);
	free(bomb);
}

static void test_alias_in_machine_config_from_node(void **state)
{
	/* What a hostile node could answer to GetMachineConfig. */
	static const char cfg[] = "version: v1alpha1\n"
				  "machine:\n"
				  "  type: controlplane\n"
				  "  acceptedCAs: &l\n"
				  "    - crt: AAAA\n"
				  "  x: *l\n";
	hsmca_error err = { "", 0 };
	uint8_t (*fps)[32] = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(hsmca_mconfig_accepted_list((const uint8_t *)cfg, sizeof(cfg) - 1,
						     HSMCA_MCONFIG_MACHINE_ACCEPTED, &fps, &n, &err),
			 -1);
	assert_non_null(strstr(err.msg, "machine config"));
	assert_non_null(strstr(err.msg, "YAML aliases are not accepted (the node at line 4"));
	free(fps);
}

static void test_anchor_without_alias_loads(void **state)
{
	static const char doc[] = "version: v1alpha1\nmachine: &m\n  type: worker\n";
	struct hsmca_talos_ydocs d;
	hsmca_error err = { "", 0 };

	(void)state;
	assert_int_equal(hsmca_talos_yaml_load((const uint8_t *)doc, sizeof(doc) - 1, "doc", &d, &err), 0);
	assert_int_equal(d.n, 1);
	hsmca_talos_yaml_free(&d);
}

static void test_nested_flow_talosconfig(void **state)
{
	char path[] = "/tmp/hsmca-ybound-XXXXXX";
	struct hsmca_talos_creds c;
	char **eps = NULL, **nodes = NULL;
	hsmca_error err = { "", 0 };
	size_t len;
	char *doc = nested_flow(1000000, "context: a\ncontexts: ", &len);
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, len), (ssize_t)len);
	close(fd);
	assert_int_equal(hsmca_talos_creds_from_talosconfig(path, NULL, &c, &eps, &nodes, &err), -1);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "line 2: flow collections nested deeper than 64 levels"));
	unlink(path);
	free(doc);
}

static void test_nested_flow_kubeconfig_and_ytree(void **state)
{
	hsmca_error err = { "", 0 };
	struct kyaml *k = NULL;
	struct hsmca_ytree *t = NULL;
	size_t len;
	char *doc = nested_flow(1000000, "clusters: ", &len);

	(void)state;
	assert_int_equal(kyaml_load(doc, len, "kc", &k, &err), -1);
	assert_non_null(strstr(err.msg, "kc: line 1: flow collections nested deeper than 64 levels"));
	assert_int_equal(hsmca_ytree_load(doc, len, "yt", 0, &t, &err), -1);
	assert_non_null(strstr(err.msg, "yt: line 1: flow collections nested deeper than 64 levels"));
	free(doc);
	/* 64 levels are fine for the pre-check (the loaders' own limits apply). */
	doc = nested_flow(2 * 64 + 3, "a: ", &len);
	assert_int_equal(hsmca_yaml_precheck(doc, len, len, "ok", &err), 0);
	free(doc);
}

static void test_deep_block_nesting(void **state)
{
	struct hsmca_talos_ydocs d;
	hsmca_error err = { "", 0 };
	char *doc = malloc(200 * 200);
	size_t n = 0;
	int i;

	(void)state;
	assert_non_null(doc);
	for (i = 0; i < 100; i++)
		n += (size_t)sprintf(doc + n, "%*sk%d:\n", i, "", i);
	assert_int_equal(hsmca_talos_yaml_load((const uint8_t *)doc, n, "deep", &d, &err), -1);
	assert_non_null(strstr(err.msg, "nesting deeper than 64 levels"));
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alias_bomb_node_file),
		cmocka_unit_test(test_alias_in_machine_config_from_node),
		cmocka_unit_test(test_anchor_without_alias_loads),
		cmocka_unit_test(test_nested_flow_talosconfig),
		cmocka_unit_test(test_nested_flow_kubeconfig_and_ytree),
		cmocka_unit_test(test_deep_block_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
