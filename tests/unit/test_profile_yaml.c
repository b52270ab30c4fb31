/* Custom profile files: good files map to the right flags and defaults, bad
 * ones fail with file:line and a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "yaml/profile_yaml.h"

#define DAY ((int64_t)86400)

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = hsmca_test_tmpdir();
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	hsmca_test_rmtree(dir);
	free(dir);
	return 0;
}

static void write_profile(const char *file, const char *text, char *path, size_t pathlen)
{
	FILE *fp;

	snprintf(path, pathlen, "%s/%s", dir, file);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static void load_ok(const char *file, const char *text, struct hsmca_profile_def *d)
{
	char path[512];
	hsmca_error err = {0};

	write_profile(file, text, path, sizeof(path));
	if (hsmca_profile_def_load(path, d, &err) != 0)
		fail_msg("unexpected error: %s", err.msg);
}

/* Must fail with "<path><rest>", leaving the output untouched. */
static void load_fails(const char *file, const char *text, const char *rest)
{
	char path[512], want[HSMCA_ERROR_MAX];
	struct hsmca_profile_def d;
	hsmca_error err = {0};

	write_profile(file, text, path, sizeof(path));
	memset(&d, 0x5a, sizeof(d));
	assert_int_equal(hsmca_profile_def_load(path, &d, &err), -1);
	snprintf(want, sizeof(want), "%s%s", path, rest);
	assert_string_equal(err.msg, want);
	assert_int_equal((unsigned char)d.name[0], 0x5a);
}

#define LEAF_HEAD "version: 1\nname: web\n"
#define LEAF_KU "key_usage: [digitalSignature]\n"
#define LEAF_VAL "validity: {max: 90d}\n"

static void test_leaf_full(void **state)
{
	struct hsmca_profile_def d;

	(void)state;
	load_ok("etcd-peer.yaml",
		"version: 1\n"
		"name: etcd-peer\n"
		"description: \"etcd peer certificates\"\n"
		"key_usage: [digitalSignature, keyEncipherment, nonRepudiation]\n"
		"extended_key_usage:\n"
		"  - serverAuth\n"
		"  - clientAuth\n"
		"validity:\n"
		"  max: 1y\n"
		"  default: 90d\n"
		"san:\n"
		"  allowed: [dns, ip]\n"
		"  required: true\n"
		"subject:\n"
		"  o: [\"system:masters\", example]\n"
		"min_rsa_bits: 3072\n",
		&d);
	assert_string_equal(d.name, "etcd-peer");
	assert_string_equal(d.description, "etcd peer certificates");
	assert_false(d.is_ca);
	assert_int_equal(d.path_len, -1);
	assert_int_equal(d.key_usage, HSMCA_KU_DIGITAL_SIGNATURE | HSMCA_KU_KEY_ENCIPHERMENT |
					      HSMCA_KU_CONTENT_COMMITMENT);
	assert_int_equal(d.ext_key_usage, HSMCA_EKU_SERVER_AUTH | HSMCA_EKU_CLIENT_AUTH);
	assert_true(d.max_validity == 365 * DAY);
	assert_true(d.default_validity == 90 * DAY);
	assert_int_equal(d.san_kinds, HSMCA_SAN_DNS | HSMCA_SAN_IP);
	assert_true(d.require_san);
	assert_string_equal(d.subject_cn, "");
	assert_int_equal(d.n_subject_o, 2);
	assert_string_equal(d.subject_o[0], "system:masters");
	assert_string_equal(d.subject_o[1], "example");
	assert_false(d.o_from_csr);
	assert_int_equal(d.min_rsa_bits, 3072);
}

static void test_leaf_defaults(void **state)
{
	struct hsmca_profile_def d;

	(void)state;
	load_ok("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL, &d);
	assert_string_equal(d.name, "web");
	assert_string_equal(d.description, "");
	assert_false(d.is_ca);
	assert_int_equal(d.ext_key_usage, 0);
	assert_true(d.default_validity == 90 * DAY);
	assert_true(d.max_validity == 90 * DAY);
	assert_int_equal(d.san_kinds, 0);
	assert_false(d.require_san);
	assert_int_equal(d.n_subject_o, 0);
	assert_false(d.o_from_csr);
	assert_int_equal(d.min_rsa_bits, 2048);

	load_ok("web.yaml",
		LEAF_HEAD LEAF_KU LEAF_VAL
		"subject: {cn: admin, o_from_request: true}\n"
		"extended_key_usage: [codeSigning, emailProtection, OCSPSigning, timeStamping]\n",
		&d);
	assert_string_equal(d.subject_cn, "admin");
	assert_true(d.o_from_csr);
	assert_int_equal(d.ext_key_usage, HSMCA_EKU_CODE_SIGNING | HSMCA_EKU_EMAIL_PROTECTION |
						  HSMCA_EKU_OCSP_SIGNING | HSMCA_EKU_TIME_STAMPING);
}

static void test_ca_profile(void **state)
{
	struct hsmca_profile_def d;

	(void)state;
	load_ok("sub-ca.yaml",
		"version: 1\nname: sub-ca\nca:\n  path_len: 0\n"
		"key_usage: [keyCertSign, cRLSign, digitalSignature]\n"
		"validity: {max: 5y}\n",
		&d);
	assert_true(d.is_ca);
	assert_int_equal(d.path_len, 0);
	assert_int_equal(d.key_usage,
			 HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN | HSMCA_KU_DIGITAL_SIGNATURE);
	assert_int_equal(d.min_rsa_bits, 3072);

	load_ok("ca2.yaml", "version: 1\nname: ca2\nca: {}\nkey_usage: [keyCertSign]\nvalidity: {max: 5y}\n",
		&d);
	assert_true(d.is_ca);
	assert_int_equal(d.path_len, -1);

	assert_int_equal(HSMCA_KU_DIGITAL_SIGNATURE, 1);
	assert_int_equal(HSMCA_KU_CRL_SIGN, 64);
	assert_int_equal(HSMCA_EKU_TIME_STAMPING, 32);
	assert_int_equal(HSMCA_SAN_EMAIL, 8);
}

static void test_name_and_file(void **state)
{
	(void)state;
	load_fails("web.yaml", "version: 1\nname: api\n" LEAF_KU LEAF_VAL,
		   ":2: name: 'api' does not match the file name 'web.yaml'");
	load_fails("web.yml", LEAF_HEAD LEAF_KU LEAF_VAL, ": a profile file must be named <name>.yaml");
	load_fails("Web.yaml", "version: 1\nname: Web\n" LEAF_KU LEAF_VAL,
		   ":2: name: 'Web' is not a valid name (1 to 63 of a-z 0-9 . _ -, starting with a letter or digit)");
	load_fails("web.yaml", "version: 1\n" LEAF_KU LEAF_VAL, ":1: missing required key 'name'");
	load_fails("web.yaml", "name: web\n" LEAF_KU LEAF_VAL, ":1: missing required key 'version'");
	load_fails("web.yaml", "", ": the file is empty");
}

static void test_strictness(void **state)
{
	(void)state;
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "sans: {}\n",
		   ":5: unknown key 'sans' (expected one of: version, name, description, ca, key_usage, "
		   "extended_key_usage, validity, san, subject, min_rsa_bits)");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU "validity: {max: 1y, deafult: 1y}\n",
		   ":4: unknown key 'deafult' in validity (expected one of: max, default)");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "name: web\n",
		   ":5: duplicate key 'name' (first defined at line 2)");
	load_fails("web.yaml", LEAF_HEAD "key_usage: digitalSignature\n" LEAF_VAL,
		   ":3: key_usage: expected a sequence, got a string");
	load_fails("web.yaml", LEAF_HEAD "key_usage: [digitalSignature, keyEncypherment]\n" LEAF_VAL,
		   ":3: key_usage[1]: unknown key usage 'keyEncypherment' (expected one of: digitalSignature, "
		   "contentCommitment, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, "
		   "keyCertSign, cRLSign)");
	load_fails("web.yaml",
		   LEAF_HEAD "key_usage:\n  - digitalSignature\n  - contentCommitment\n  - nonRepudiation\n" LEAF_VAL,
		   ":6: key_usage[2]: 'nonRepudiation' repeats an earlier entry");
	load_fails("web.yaml", LEAF_HEAD "key_usage: [[digitalSignature]]\n" LEAF_VAL,
		   ":3: key_usage[0]: expected a string, got a sequence");
	load_fails("web.yaml", LEAF_HEAD "key_usage: []\n" LEAF_VAL,
		   ":3: key_usage: must list at least one key usage");
	load_fails("web.yaml", LEAF_HEAD LEAF_VAL, ":1: missing required key 'key_usage'");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU, ":1: missing required key 'validity'");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU "validity: {default: 1y}\n",
		   ":4: validity: missing required key 'max'");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "extended_key_usage: [serverauth]\n",
		   ":5: extended_key_usage[0]: unknown extended key usage 'serverauth' (expected one of: "
		   "serverAuth, clientAuth, codeSigning, emailProtection, OCSPSigning, timeStamping)");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "san: {allowed: [dns, DNS]}\n",
		   ":5: san.allowed[1]: unknown SAN kind 'DNS' (expected one of: dns, ip, uri, email)");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "san: {required: \"false\"}\n",
		   ":5: san.required: expected true or false (unquoted), got quoted 'false'");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "min_rsa_bits: 1024\n",
		   ":5: min_rsa_bits: 1024 is out of range (2048 to 16384)");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "min_rsa_bits: \"4096\"\n",
		   ":5: min_rsa_bits: expected an integer (unquoted), got quoted '4096'");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "subject: {o: [a, b, c, d, e, f, g, h, i]}\n",
		   ":5: subject.o: at most 8 values");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "subject: {o: [a, a]}\n",
		   ":5: subject.o[1]: 'a' is listed twice");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "subject: {cn: \"\"}\n",
		   ":5: subject.cn: must not be empty (omit it to take the CN from the request)");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "description: *x\n",
		   ":5: YAML aliases are not allowed");
}

static void test_semantic_checks(void **state)
{
	(void)state;
	load_fails("web.yaml", LEAF_HEAD LEAF_KU "validity:\n  max: 90d\n  default: 1y\n",
		   ":6: validity.default (1y) is longer than validity.max");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU "validity: {max: 90}\n",
		   ":4: validity.max: '90' lacks a unit (s, m, h, d, w or y)");
	load_fails("web.yaml", LEAF_HEAD "key_usage: [digitalSignature, keyCertSign]\n" LEAF_VAL,
		   ":3: key_usage: keyCertSign is only for CA profiles (add a 'ca:' section)");
	load_fails("ca.yaml", "version: 1\nname: ca\nca: {path_len: 1}\nkey_usage: [cRLSign]\n" LEAF_VAL,
		   ":4: key_usage: a CA profile must include keyCertSign");
	load_fails("ca.yaml", "version: 1\nname: ca\nca:\nkey_usage: [keyCertSign]\n" LEAF_VAL,
		   ":3: ca: expected a mapping (write 'ca: {}' for a CA without a path length)");
	load_fails("ca.yaml", "version: 1\nname: ca\nca: {path_len: -1}\nkey_usage: [keyCertSign]\n" LEAF_VAL,
		   ":3: ca.path_len: -1 is out of range (0 to 32)");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "san: {required: true}\n",
		   ":5: san.required: true, but san.allowed lists no SAN kind");
	load_fails("web.yaml", LEAF_HEAD LEAF_KU LEAF_VAL "subject: {o: [x], o_from_request: true}\n",
		   ":5: subject.o_from_request: cannot be true when subject.o fixes the O values");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf_full),
		cmocka_unit_test(test_leaf_defaults),
		cmocka_unit_test(test_ca_profile),
		cmocka_unit_test(test_name_and_file),
		cmocka_unit_test(test_strictness),
		cmocka_unit_test(test_semantic_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
