/* The ceremony file: defaults, every field, and each refusal with its
 * file:line message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ca/ceremony.h"
#include "testutil.h"

struct fixture {
	char *dir;
	char path[512]; /* <dir>/ceremony.yaml */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->dir = hsmca_test_tmpdir();
	if (!f->dir) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/ceremony.yaml", f->dir);
	/* A fixed clock so "in the past" does not depend on the day the test runs. */
	setenv("HSMCA_NOW", "2026-11-28T00:00:00Z", 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hsmca_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	unsetenv("HSMCA_NOW");
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void load_ok(struct fixture *f, const char *text, struct hsmca_ceremony *c)
{
	hsmca_error err = {0};

	write_file(f->path, text);
	if (hsmca_ceremony_load(f->path, c, &err) != 0)
		fail_msg("unexpected error: %s", err.msg);
}

/* The load must fail with "<path>:<rest>" and leave the output untouched. */
static void load_fails(struct fixture *f, const char *text, const char *rest)
{
	struct hsmca_ceremony c;
	hsmca_error err = {0};
	char want[HSMCA_ERROR_MAX];

	write_file(f->path, text);
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(hsmca_ceremony_load(f->path, &c, &err), -1);
	snprintf(want, sizeof(want), "%s%s", f->path, rest);
	assert_string_equal(err.msg, want);
	assert_int_equal((unsigned char)c.name[0], 0x5a);
	assert_int_equal((unsigned char)c.out_cert[4095], 0x5a);
}

#define HEAD "version: 1\nca:\n  name: talos-access\n  subject: \"CN=Talos Access Root,O=Example\"\n"
#define KEY "key:\n  type: ec-p256\n"

static void test_minimal_defaults(void **state)
{
	struct fixture *f = *state;
	struct hsmca_ceremony c;

	load_ok(f, HEAD KEY, &c);
	assert_string_equal(c.name, "talos-access");
	assert_string_equal(c.subject, "CN=Talos Access Root,O=Example");
	assert_string_equal(c.key_type, "ec-p256");
	assert_string_equal(c.key_label, "talos-access-key");
	assert_true(c.validity == HSMCA_CEREMONY_DEFAULT_VALIDITY);
	assert_true(c.validity == (int64_t)10 * 365 * 86400);
	assert_true(c.not_before == 0);
	assert_true(c.not_after == 0);
	assert_int_equal(c.path_len, -1);
	assert_false(c.rsa_pss);
	assert_string_equal(c.sig_hash, "sha256");
	assert_string_equal(c.out_cert, "");
}

static void test_full_example(void **state)
{
	struct fixture *f = *state;
	struct hsmca_ceremony c;
	char want[600];

	load_ok(f,
		"version: 1                 # required, must be 1\n"
		"ca:\n"
		"  name: talos-access\n"
		"  subject: \"CN=Talos Access Root,O=Example\"\n"
		"key:\n"
		"  type: rsa-4096\n"
		"  label: talos-access-2026\n"
		"validity:\n"
		"  duration: 20y\n"
		"  not_before: 2026-11-28\n"
		"extensions:\n"
		"  path_len: 0\n"
		"signature:\n"
		"  rsa_pss: true\n"
		"  hash: sha384\n"
		"outputs:\n"
		"  certificate: root.pem\n",
		&c);
	assert_string_equal(c.key_type, "rsa-4096");
	assert_string_equal(c.key_label, "talos-access-2026");
	assert_true(c.validity == (int64_t)20 * 365 * 86400);
	assert_true(c.not_before == (time_t)1795824000);
	assert_true(c.not_after == 0);
	assert_int_equal(c.path_len, 0);
	assert_true(c.rsa_pss);
	assert_string_equal(c.sig_hash, "sha384");
	snprintf(want, sizeof(want), "%s/root.pem", f->dir);
	assert_string_equal(c.out_cert, want);
}

static void test_not_after_and_hash_defaults(void **state)
{
	struct fixture *f = *state;
	struct hsmca_ceremony c;

	load_ok(f,
		HEAD "key:\n  type: ec-p384\n"
		"validity:\n  not_before: 2026-11-28\n  not_after: \"2036-11-28T00:00:00Z\"\n"
		"outputs:\n  certificate: /abs/root.pem\n",
		&c);
	assert_string_equal(c.sig_hash, "sha384");
	assert_true(c.validity == 0);
	assert_true(c.not_before == (time_t)1795824000);
	assert_true(c.not_after == (time_t)2111443200);
	assert_string_equal(c.out_cert, "/abs/root.pem");

	/* not_after alone is measured against now (HSMCA_NOW). */
	load_ok(f, HEAD "key:\n  type: ed25519\nvalidity:\n  not_after: 2036-11-28\n", &c);
	assert_string_equal(c.sig_hash, "sha256");
	assert_true(c.not_before == 0);
	assert_true(c.not_after == (time_t)2111443200);

	load_ok(f, HEAD "key:\n  type: rsa-3072\nsignature:\n  rsa_pss: false\n", &c);
	assert_false(c.rsa_pss);
	assert_string_equal(c.sig_hash, "sha256");
}

static void test_unknown_and_duplicate_keys(void **state)
{
	struct fixture *f = *state;

	load_fails(f, "version: 1\nca:\n  name: x\n  subjekt: \"CN=x\"\n" KEY,
		   ":4: unknown key 'subjekt' in ca (expected one of: name, subject)");
	load_fails(f, HEAD KEY "extras: 1\n",
		   ":7: unknown key 'extras' (expected one of: version, ca, key, validity, extensions, "
		   "signature, outputs, urls)");
	load_fails(f, HEAD KEY "validity:\n  length: 10y\n",
		   ":8: unknown key 'length' in validity (expected one of: duration, not_before, not_after)");
	load_fails(f, HEAD KEY "key:\n  type: ec-p384\n",
		   ":7: duplicate key 'key' (first defined at line 5)");
	load_fails(f, HEAD "key:\n  type: ec-p256\n  type: ec-p384\n",
		   ":7: duplicate key 'type' (first defined at line 6)");
	load_fails(f, HEAD KEY "signature:\n  <<: {hash: sha256}\n",
		   ":8: unknown key '<<' in signature (expected one of: rsa_pss, hash)");
	load_fails(f, HEAD KEY "validity: &v\n  duration: 1y\n", ":7: YAML anchors are not allowed");
}

static void test_wrong_types(void **state)
{
	struct fixture *f = *state;

	load_fails(f, "version: \"1\"\nca:\n  name: x\n  subject: \"CN=x\"\n" KEY,
		   ":1: version: expected an integer (unquoted), got quoted '1'");
	load_fails(f, "version: 2\nca:\n  name: x\n  subject: \"CN=x\"\n" KEY,
		   ":1: version: unsupported version 2 (this hsmca reads version 1)");
	load_fails(f, HEAD KEY "extensions:\n  path_len: zero\n",
		   ":8: extensions.path_len: expected an integer, got 'zero'");
	load_fails(f, HEAD KEY "extensions:\n  path_len: 99\n",
		   ":8: extensions.path_len: 99 is out of range (0 to 32)");
	load_fails(f, HEAD "key:\n  type: rsa-3072\nsignature:\n  rsa_pss: yes\n",
		   ":8: signature.rsa_pss: expected true or false (unquoted), got 'yes'");
	load_fails(f, HEAD KEY "validity: 10y\n", ":7: validity: expected a mapping, got a string");
	load_fails(f, "version: 1\nca: [talos]\n" KEY, ":2: ca: expected a mapping, got a sequence");
	load_fails(f, HEAD "key:\n  type: [ec-p256]\n",
		   ":6: key.type: expected a string, got a sequence");
	load_fails(f, "- version: 1\n", ":1: expected a mapping, got a sequence");
}

static void test_bad_values(void **state)
{
	struct fixture *f = *state;

	load_fails(f, HEAD "key:\n  type: ec-p521\n",
		   ":6: key.type: unsupported key type 'ec-p521' (expected one of: ec-p256, ec-p384, "
		   "ed25519, rsa-3072, rsa-4096)");
	load_fails(f, "version: 1\nca:\n  name: Talos\n  subject: \"CN=x\"\n" KEY,
		   ":3: ca.name: 'Talos' is not a valid name (1 to 63 of a-z 0-9 . _ -, starting with a "
		   "letter or digit)");
	load_fails(f, "version: 1\nca:\n  name: ../etc\n  subject: \"CN=x\"\n" KEY,
		   ":3: ca.name: '../etc' is not a valid name (1 to 63 of a-z 0-9 . _ -, starting with a "
		   "letter or digit)");
	load_fails(f, HEAD KEY "validity:\n  not_after: 2026-02-30\n",
		   ":8: validity.not_after: '2026-02-30' is not a valid date (expected YYYY-MM-DD or "
		   "YYYY-MM-DDTHH:MM:SSZ)");
	load_fails(f, HEAD KEY "validity:\n  duration: 10\n",
		   ":8: validity.duration: '10' lacks a unit (s, m, h, d, w or y)");
	load_fails(f, HEAD KEY "validity:\n  duration: 10y\n  not_after: 2036-11-28\n",
		   ":9: validity: give duration or not_after, not both (duration is at line 8)");
	load_fails(f, HEAD KEY "validity:\n  not_before: 2030-01-01\n  not_after: 2029-12-31\n",
		   ":9: validity.not_after (2029-12-31T00:00:00Z) is not after not_before "
		   "(2030-01-01T00:00:00Z)");
	load_fails(f, HEAD KEY "validity:\n  not_after: 2026-01-01\n",
		   ":8: validity.not_after (2026-01-01T00:00:00Z) is in the past");
	load_fails(f, HEAD KEY "validity:\n  not_before: 9990-01-01\n  duration: 20y\n",
		   ":9: validity: the certificate would end after 9999-12-31");
	load_fails(f, HEAD KEY "signature:\n  rsa_pss: true\n",
		   ":8: signature.rsa_pss: only applies to RSA keys, not ec-p256");
	load_fails(f, HEAD KEY "signature:\n  hash: sha512\n",
		   ":8: signature.hash: unsupported signature hash 'sha512' (expected one of: sha256, sha384)");
	load_fails(f, HEAD "key:\n  type: ed25519\nsignature:\n  hash: sha256\n",
		   ":8: signature.hash: ed25519 has no selectable hash; remove this key");
	load_fails(f, HEAD "key:\n  type: ec-p256\n  label: \"\"\n", ":7: key.label: must not be empty");
	load_fails(f, HEAD KEY "outputs:\n  certificate: \"\"\n",
		   ":8: outputs.certificate: must not be empty");
	load_fails(f,
		   "version: 1\nca:\n"
		   "  name: a23456789012345678901234567890123456789012345678901234567890\n"
		   "  subject: \"CN=x\"\n" KEY,
		   ":6: key: the default label 'a23456789012345678901234567890123456789012345678901234567890-key' "
		   "is longer than 63 bytes; set key.label");
}

/* urls: the CDP and caIssuers a CA writes into what it issues. */
static void test_urls(void **state)
{
	struct fixture *f = *state;
	struct hsmca_ceremony c;

	load_ok(f, HEAD KEY, &c);
	assert_string_equal(c.crl_url, "");
	assert_string_equal(c.issuer_url, "");
	load_ok(f, HEAD KEY "urls:\n  crl: http://pki.example.com/a.crl\n"
			    "  issuer: https://pki.example.com/a.cer\n", &c);
	assert_string_equal(c.crl_url, "http://pki.example.com/a.crl");
	assert_string_equal(c.issuer_url, "https://pki.example.com/a.cer");
	load_fails(f, HEAD KEY "urls:\n  crl: file:///etc/a.crl\n",
		   ":8: urls.crl 'file:///etc/a.crl': use an http://, https:// or ldap:// URL (what "
		   "relying parties fetch)");
	load_fails(f, HEAD KEY "urls:\n  issuer: \"http://a b\"\n",
		   ":8: urls.issuer 'http://a b' is not a valid absolute URI");
	load_fails(f, HEAD KEY "urls:\n  ocsp: http://a\n",
		   ":8: unknown key 'ocsp' in urls (expected one of: crl, issuer)");
}

static void test_subject(void **state)
{
	struct fixture *f = *state;
	struct hsmca_ceremony c;

	load_ok(f, "version: 1\nca:\n  name: x\n  subject: \"CN=Root, O=Example\\\\, Inc,OU=PKI,C=DE,L=Berlin,ST=BE\"\n" KEY,
		&c);
	assert_string_equal(c.subject, "CN=Root, O=Example\\, Inc,OU=PKI,C=DE,L=Berlin,ST=BE");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"O=Example\"\n" KEY,
		   ":4: ca.subject: needs exactly one CN (found 0)");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"CN=a,CN=b\"\n" KEY,
		   ":4: ca.subject: needs exactly one CN (found 2)");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"CN=a,E=x@y\"\n" KEY,
		   ":4: ca.subject: subject 'CN=a,E=x@y': unknown attribute 'E' (known: CN, O, OU, C, "
		   "ST, L, serialNumber, emailAddress, DC)");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"CN=a,\\x1b[2J\"\n" KEY,
		   ":4: ca.subject: contains a control character");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"cn=a, CN=b\"\n" KEY,
		   ":4: ca.subject: needs exactly one CN (found 2)");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"CN=a,O=\"\n" KEY,
		   ":4: ca.subject: subject 'CN=a,O=': O has an empty value");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"CN=a,C=de\"\n" KEY,
		   ":4: ca.subject: subject 'CN=a,C=de': C must be a two-letter country code");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"Talos Root\"\n" KEY,
		   ":4: ca.subject: subject 'Talos Root': expected ATTR=value at 'Talos Root'");
	load_fails(f, "version: 1\nca:\n  name: x\n  subject: \"CN=a+O=b\"\n" KEY,
		   ":4: ca.subject: subject 'CN=a+O=b': multi-valued RDNs (+) are not supported; "
		   "escape a literal + as \\+");
	/* Whatever the certificate encoder accepts is accepted here. */
	load_ok(f, "version: 1\nca:\n  name: x\n  subject: \"CN=a,DC=example,serialNumber=1\"\n" KEY, &c);
	assert_string_equal(c.subject, "CN=a,DC=example,serialNumber=1");
}

static void test_missing_required(void **state)
{
	struct fixture *f = *state;
	hsmca_error err = {0};
	struct hsmca_ceremony c;
	char missing[600];

	load_fails(f, "ca:\n  name: x\n  subject: \"CN=x\"\n" KEY, ":1: missing required key 'version'");
	load_fails(f, "version: 1\n" KEY, ":1: missing required key 'ca'");
	load_fails(f, "version: 1\nca:\n  name: x\n" KEY, ":2: ca: missing required key 'subject'");
	load_fails(f, "version: 1\nca:\n  subject: \"CN=x\"\n" KEY, ":2: ca: missing required key 'name'");
	load_fails(f, HEAD, ":1: missing required key 'key'");
	load_fails(f, HEAD "key:\n  label: x\n", ":5: key: missing required key 'type'");
	load_fails(f, HEAD "key:\n", ":5: key: expected a mapping, got an empty value");
	load_fails(f, "", ": the file is empty (see docs/ceremony.md)");
	load_fails(f, "# nothing\n", ": the file is empty (see docs/ceremony.md)");

	snprintf(missing, sizeof(missing), "%s/absent.yaml", f->dir);
	assert_int_equal(hsmca_ceremony_load(missing, &c, &err), -1);
	assert_non_null(strstr(err.msg, "absent.yaml"));
	assert_non_null(strstr(err.msg, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_minimal_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_after_and_hash_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_duplicate_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_required, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
