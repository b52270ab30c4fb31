/* Unit tests for src/talos/mconfig.c: accepted-CA edits by text splicing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "common/b64.h"
#include "talos/mconfig.h"
#include "testutil.h"

/* ---- fixtures */

/* A self-signed ECDSA P-256 certificate as PEM (malloc'd). */
static char *make_cert(const char *cn, int ca)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	BIO *mem = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	char *out;

	assert_non_null(key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(uintptr_t)cn & 0x7fffffff);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	PEM_write_bio_X509(mem, x);
	BIO_get_mem_ptr(mem, &bm);
	out = strndup(bm->data, bm->length);
	BIO_free(mem);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
	return out;
}

static char *b64(const char *s)
{
	char *out = NULL;
	hsmca_error err = {0};

	assert_int_equal(hsmca_b64_encode((const uint8_t *)s, strlen(s), &out, &err), 0);
	return out;
}

static void fp_of(const char *pem, uint8_t fp[32])
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	unsigned n = 0;

	assert_non_null(x);
	X509_digest(x, EVP_sha256(), fp, &n);
	X509_free(x);
	BIO_free(bio);
}

static char *ca1, *ca2, *leaf;
static const char FAKE_KEY_B64[] = "U0VDUkVUS0VZTUFURVJJQUxfZG9fbm90X2xlYWs="; /* "SECRETKEYMATERIAL_do_not_leak" */

static char *cfg_printf(const char *fmt, ...)
{
	char *out = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&out, fmt, ap) > 0);
	va_end(ap);
	return out;
}

/* A Talos-like control-plane config, talosctl layout (4 spaces, comments). */
static char *base_config(const char *machine_extra, const char *extra_doc)
{
	return cfg_printf("version: v1alpha1 # Indicates the schema used to decode the contents.\n"
			  "debug: false\n"
			  "# Provides machine specific configuration options.\n"
			  "machine:\n"
			  "    type: controlplane # Defines the role of the machine.\n"
			  "    token: abcdef.0123456789abcdef\n"
			  "    # The root certificate authority of the PKI.\n"
			  "    ca:\n"
			  "        crt: %s\n"
			  "        key: %s\n"
			  "%s"
			  "    certSANs: []\n"
			  "    install:\n"
			  "        disk: /dev/sda # The disk used for installations.\n"
			  "# Provides cluster specific configuration options.\n"
			  "cluster:\n"
			  "    clusterName: demo\n"
			  "    ca:\n"
			  "        crt: %s\n"
			  "        key: %s\n"
			  "%s",
			  "TUFDSElORUNB", FAKE_KEY_B64, machine_extra, "S1VCRUNB", FAKE_KEY_B64,
			  extra_doc);
}

static int setup(void **state)
{
	(void)state;
	ca1 = make_cert("hsmca test CA 1", 1);
	ca2 = make_cert("hsmca test CA 2", 1);
	leaf = make_cert("leaf", 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(ca1);
	free(ca2);
	free(leaf);
	return 0;
}

static void free_out(uint8_t *p, size_t n)
{
	hsmca_wipe(p, n);
	free(p);
}

static void assert_list(const char *cfg, enum hsmca_mconfig_target t, const char *a, const char *b)
{
	uint8_t (*fps)[32] = NULL, want[32];
	size_t n = 99;
	hsmca_error err = {0};

	assert_int_equal(hsmca_mconfig_accepted_list((const uint8_t *)cfg, strlen(cfg), t, &fps, &n,
						     &err), 0);
	assert_int_equal(n, (a != NULL) + (b != NULL));
	if (a) {
		fp_of(a, want);
		assert_memory_equal(fps[0], want, 32);
	}
	if (b) {
		fp_of(b, want);
		assert_memory_equal(fps[1], want, 32);
	}
	free(fps);
}

/* ---- tests */

static void test_machine_type(void **state)
{
	char type[32];
	hsmca_error err = {0};
	char *cfg = base_config("", "");
	const char *worker = "version: v1alpha1\nmachine:\n  type: worker\n";
	const char *none = "version: v1alpha1\ncluster:\n  clusterName: x\n";

	(void)state;
	assert_int_equal(hsmca_mconfig_machine_type((const uint8_t *)cfg, strlen(cfg), type,
						    sizeof(type), &err), 0);
	assert_string_equal(type, "controlplane");
	assert_int_equal(hsmca_mconfig_machine_type((const uint8_t *)worker, strlen(worker), type,
						    sizeof(type), &err), 0);
	assert_string_equal(type, "worker");
	assert_int_equal(hsmca_mconfig_machine_type((const uint8_t *)none, strlen(none), type,
						    sizeof(type), &err), -1);
	assert_non_null(strstr(err.msg, "no machine.type"));
	assert_int_equal(hsmca_mconfig_machine_type((const uint8_t *)cfg, strlen(cfg), type, 5,
						    &err), -1);
	free(cfg);
}

/* Add to a config without the list, then remove: byte-identical round trip,
 * and idempotent both ways. */
static void test_machine_add_remove_roundtrip(void **state)
{
	char *cfg = base_config("", "---\napiVersion: v1alpha1\nkind: OtherDoc\nfoo: bar\n");
	uint8_t *out = NULL, *out2 = NULL, *out3 = NULL;
	size_t outlen = 0, out2len = 0, out3len = 0;
	bool changed = false;
	hsmca_error err = {0};
	char *b = b64(ca1), *line;

	(void)state;
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, &out,
						    &outlen, &changed, &err),
			 0);
	assert_true(changed);
	assert_int_equal(strlen((char *)out), outlen);
	/* The new lines sit at the end of machine, 4-space style, after the
	 * last machine value; everything else is untouched. */
	line = cfg_printf("        disk: /dev/sda # The disk used for installations.\n"
			  "    acceptedCAs:\n"
			  "        - crt: %s\n"
			  "# Provides cluster specific configuration options.\n",
			  b);
	assert_non_null(strstr((char *)out, line));
	assert_int_equal(outlen, strlen(cfg) + strlen("    acceptedCAs:\n        - crt: \n") +
					 strlen(b));
	assert_non_null(strstr((char *)out, "kind: OtherDoc"));
	assert_list((char *)out, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, NULL);
	assert_list((char *)out, HSMCA_MCONFIG_CLUSTER_ACCEPTED, NULL, NULL);

	/* Adding again is a no-op. */
	assert_int_equal(hsmca_mconfig_accepted_add(out, outlen, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1,
						    &out2, &out2len, &changed, &err),
			 0);
	assert_false(changed);
	assert_int_equal(out2len, outlen);
	assert_memory_equal(out2, out, outlen);

	/* Removing gives back the original bytes. */
	assert_int_equal(hsmca_mconfig_accepted_remove(out, outlen, HSMCA_MCONFIG_MACHINE_ACCEPTED,
						       ca1, &out3, &out3len, &changed, &err),
			 0);
	assert_true(changed);
	assert_int_equal(out3len, strlen(cfg));
	assert_memory_equal(out3, cfg, out3len);
	free_out(out2, out2len);
	out2 = NULL;

	/* Removing an absent CA is a no-op. */
	assert_int_equal(hsmca_mconfig_accepted_remove(out3, out3len,
						       HSMCA_MCONFIG_MACHINE_ACCEPTED, ca2, &out2,
						       &out2len, &changed, &err),
			 0);
	assert_false(changed);
	assert_memory_equal(out2, cfg, out2len);

	free_out(out, outlen);
	free_out(out2, out2len);
	free_out(out3, out3len);
	free(line);
	free(b);
	free(cfg);
}

/* Two entries: add to an existing block list, remove the first only. */
static void test_machine_two_entries(void **state)
{
	char *b1 = b64(ca1), *b2 = b64(ca2);
	char *extra = cfg_printf("    acceptedCAs:\n        - crt: %s # first\n", b1);
	char *cfg = base_config(extra, "");
	uint8_t *out = NULL, *out2 = NULL;
	size_t outlen = 0, out2len = 0;
	bool changed = false;
	hsmca_error err = {0};
	char *want;

	(void)state;
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca2, &out,
						    &outlen, &changed, &err),
			 0);
	assert_true(changed);
	want = cfg_printf("    acceptedCAs:\n        - crt: %s # first\n        - crt: %s\n"
			  "    certSANs: []\n",
			  b1, b2);
	assert_non_null(strstr((char *)out, want));
	assert_list((char *)out, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, ca2);

	assert_int_equal(hsmca_mconfig_accepted_remove(out, outlen, HSMCA_MCONFIG_MACHINE_ACCEPTED,
						       ca1, &out2, &out2len, &changed, &err),
			 0);
	assert_true(changed);
	assert_list((char *)out2, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca2, NULL);
	assert_null(strstr((char *)out2, "# first"));
	assert_non_null(strstr((char *)out2, "    acceptedCAs:\n        - crt: "));
	free(want);
	free_out(out, outlen);
	free_out(out2, out2len);
	free(cfg);
	free(extra);
	free(b1);
	free(b2);
}

/* Certificates are compared by DER: the same certificate wrapped at 76
 * columns with CRLF line ends is recognised. */
static void test_compare_by_der(void **state)
{
	char pem76[4096], *p = pem76, *b;
	const char *body = strchr(ca1, '\n') + 1;
	const char *end = strstr(ca1, "-----END");
	char raw[4096];
	size_t i, r = 0;
	char *extra, *cfg;
	uint8_t *out = NULL;
	size_t outlen = 0;
	bool changed = true;
	hsmca_error err = {0};

	(void)state;
	for (; body < end; body++) {
		if (*body != '\n')
			raw[r++] = *body;
	}
	p += sprintf(p, "-----BEGIN CERTIFICATE-----\r\n");
	for (i = 0; i < r; i += 76)
		p += sprintf(p, "%.*s\r\n", (int)(r - i < 76 ? r - i : 76), raw + i);
	sprintf(p, "-----END CERTIFICATE-----\r\n");
	assert_string_not_equal(pem76, ca1);
	b = b64(pem76);
	extra = cfg_printf("    acceptedCAs:\n        - crt: %s\n", b);
	cfg = base_config(extra, "");
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, &out,
						    &outlen, &changed, &err),
			 0);
	assert_false(changed);
	free_out(out, outlen);
	assert_int_equal(hsmca_mconfig_accepted_remove((const uint8_t *)cfg, strlen(cfg),
						       HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, &out,
						       &outlen, &changed, &err),
			 0);
	assert_true(changed);
	assert_null(strstr((char *)out, "acceptedCAs"));
	assert_list((char *)out, HSMCA_MCONFIG_MACHINE_ACCEPTED, NULL, NULL);
	free_out(out, outlen);
	free(cfg);
	free(extra);
	free(b);
}

/* Flow lists stay flow lists; null values become block lists. */
static void test_flow_and_null(void **state)
{
	char *cfg = base_config("    acceptedCAs: [] # none yet\n", "");
	char *cfg2 = base_config("    acceptedCAs: # none yet\n", "");
	uint8_t *out = NULL, *out2 = NULL, *out3 = NULL;
	size_t outlen = 0, out2len = 0, out3len = 0;
	bool changed = false;
	hsmca_error err = {0};
	char *b1 = b64(ca1), *want;

	(void)state;
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, &out,
						    &outlen, &changed, &err),
			 0);
	assert_true(changed);
	/* An empty flow list becomes a block list. */
	want = cfg_printf("    acceptedCAs:\n        - crt: %s\n    certSANs: []\n", b1);
	assert_non_null(strstr((char *)out, want));
	free(want);
	free_out(out, outlen);

	/* A non-empty flow list stays one; emptied, it is left as []. */
	free(cfg);
	want = cfg_printf("    acceptedCAs: [{crt: %s}] # one\n", b1);
	cfg = base_config(want, "");
	free(want);
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca2, &out2,
						    &out2len, &changed, &err),
			 0);
	assert_true(changed);
	assert_non_null(strstr((char *)out2, "    acceptedCAs: [{crt: "));
	assert_non_null(strstr((char *)out2, "}, {crt: "));
	assert_list((char *)out2, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, ca2);
	assert_int_equal(hsmca_mconfig_accepted_remove(out2, out2len, HSMCA_MCONFIG_MACHINE_ACCEPTED,
						       ca1, &out, &outlen, &changed, &err),
			 0);
	assert_list((char *)out, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca2, NULL);
	assert_int_equal(hsmca_mconfig_accepted_remove(out, outlen, HSMCA_MCONFIG_MACHINE_ACCEPTED,
						       ca2, &out3, &out3len, &changed, &err),
			 0);
	assert_non_null(strstr((char *)out3, "    acceptedCAs: [] # one\n"));
	assert_list((char *)out3, HSMCA_MCONFIG_MACHINE_ACCEPTED, NULL, NULL);
	free_out(out, outlen);
	free_out(out2, out2len);
	free_out(out3, out3len);

	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg2, strlen(cfg2),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, &out,
						    &outlen, &changed, &err),
			 0);
	assert_true(changed);
	want = cfg_printf("    acceptedCAs:\n        - crt: %s\n    certSANs: []\n", b1);
	assert_non_null(strstr((char *)out, want));
	assert_list((char *)out, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, NULL);
	free(want);
	free_out(out, outlen);
	free(b1);
	free(cfg);
	free(cfg2);
}

/* cluster.acceptedCAs when there is no KubeAPIServerCAConfig document. */
static void test_cluster_v1alpha1(void **state)
{
	char *cfg = base_config("", "");
	uint8_t *out = NULL, *out2 = NULL;
	size_t outlen = 0, out2len = 0;
	bool changed = false;
	hsmca_error err = {0};
	char *b1 = b64(ca1), *want;

	(void)state;
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca1, &out,
						    &outlen, &changed, &err),
			 0);
	assert_true(changed);
	want = cfg_printf("        key: %s\n    acceptedCAs:\n        - crt: %s\n", FAKE_KEY_B64,
			  b1);
	assert_non_null(strstr((char *)out, want));
	/* The file had no trailing newline problem; the machine list is untouched. */
	assert_list((char *)out, HSMCA_MCONFIG_MACHINE_ACCEPTED, NULL, NULL);
	assert_list((char *)out, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca1, NULL);
	assert_int_equal(hsmca_mconfig_accepted_remove(out, outlen, HSMCA_MCONFIG_CLUSTER_ACCEPTED,
						       ca1, &out2, &out2len, &changed, &err),
			 0);
	assert_memory_equal(out2, cfg, out2len);
	free(want);
	free_out(out, outlen);
	free_out(out2, out2len);
	free(b1);
	free(cfg);
}

/* KubeAPIServerCAConfig: plain PEM strings, literal block style. */
static void test_kube_doc(void **state)
{
	char *doc = cfg_printf("---\napiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\n"
			       "issuingCA:\n    cert: |\n        -----BEGIN CERTIFICATE-----\n"
			       "        TUFDSElORUNB\n        -----END CERTIFICATE-----\n"
			       "    key: '%s'\n",
			       FAKE_KEY_B64);
	char *cfg = base_config("", doc);
	uint8_t *out = NULL, *out2 = NULL, *out3 = NULL;
	size_t outlen = 0, out2len = 0, out3len = 0;
	bool changed = false;
	hsmca_error err = {0};

	(void)state;
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca1, &out,
						    &outlen, &changed, &err),
			 0);
	assert_true(changed);
	assert_non_null(strstr((char *)out, "acceptedCAs:\n    - |\n      -----BEGIN CERTIFICATE-----\n"));
	assert_list((char *)out, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca1, NULL);
	/* cluster.acceptedCAs of the v1alpha1 document is not the target. */
	assert_null(strstr((char *)out, "    acceptedCAs:"));
	assert_int_equal(hsmca_mconfig_accepted_add(out, outlen, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca2,
						    &out2, &out2len, &changed, &err),
			 0);
	assert_list((char *)out2, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca1, ca2);
	free_out(out, outlen);
	assert_int_equal(hsmca_mconfig_accepted_remove(out2, out2len, HSMCA_MCONFIG_CLUSTER_ACCEPTED,
						       ca1, &out, &outlen, &changed, &err),
			 0);
	assert_list((char *)out, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca2, NULL);
	assert_int_equal(hsmca_mconfig_accepted_remove(out, outlen, HSMCA_MCONFIG_CLUSTER_ACCEPTED,
						       ca2, &out3, &out3len, &changed, &err),
			 0);
	assert_int_equal(out3len, strlen(cfg));
	assert_memory_equal(out3, cfg, out3len);
	free_out(out, outlen);
	free_out(out2, out2len);
	free_out(out3, out3len);
	free(cfg);
	free(doc);
}

/* Two-space, compact-sequence layout and no final newline. */
static void test_other_layouts(void **state)
{
	char *b1 = b64(ca1), *b2 = b64(ca2);
	char *cfg = cfg_printf("machine:\n  type: worker\n  acceptedCAs:\n  - crt: %s\n"
			       "  network: {}\ncluster:\n  id: x", b1);
	char *cfg2 = cfg_printf("machine:\n  type: worker\n  install:\n    disk: /dev/sda");
	uint8_t *out = NULL;
	size_t outlen = 0;
	bool changed = false;
	hsmca_error err = {0};
	char *want;

	(void)state;
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca2, &out,
						    &outlen, &changed, &err),
			 0);
	want = cfg_printf("  acceptedCAs:\n  - crt: %s\n  - crt: %s\n  network: {}\n", b1, b2);
	assert_non_null(strstr((char *)out, want));
	free(want);
	free_out(out, outlen);
	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg2, strlen(cfg2),
						    HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, &out,
						    &outlen, &changed, &err),
			 0);
	want = cfg_printf("    disk: /dev/sda\n  acceptedCAs:\n    - crt: %s\n", b1);
	assert_string_equal((char *)out + strlen("machine:\n  type: worker\n  install:\n"), want);
	free(want);
	free_out(out, outlen);
	free(cfg);
	free(cfg2);
	free(b1);
	free(b2);
}

static void expect_fail(const char *cfg, enum hsmca_mconfig_target t, const char *ca,
			const char *msg_part)
{
	uint8_t *out = (uint8_t *)"untouched";
	size_t outlen = 7;
	bool changed = true;
	hsmca_error err = {0};

	assert_int_equal(hsmca_mconfig_accepted_add((const uint8_t *)cfg, strlen(cfg), t, ca, &out,
						    &outlen, &changed, &err),
			 -1);
	assert_string_equal((char *)out, "untouched");
	assert_int_equal(outlen, 7);
	if (!strstr(err.msg, msg_part))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg_part);
	/* No input bytes in messages: neither key material nor its decoding. */
	assert_null(strstr(err.msg, "SECRETKEY"));
	assert_null(strstr(err.msg, FAKE_KEY_B64));
}

static void test_errors(void **state)
{
	char *bkey = b64(hsmca_test_key_pem("PRIVATE KEY")); /* a key where a CA should be */
	char *bleaf = b64(leaf);
	char *two = cfg_printf("%s%s", ca1, ca2);
	char *btwo = b64(two);
	char *e1 = cfg_printf("    acceptedCAs:\n        - crt: %s\n", bkey);
	char *e2 = cfg_printf("    acceptedCAs:\n        - crt: %s\n", btwo);
	char *e3 = cfg_printf("    acceptedCAs:\n        - crt: %s\n", "bm90IGEgY2VydA==");
	char *c1 = base_config(e1, ""), *c2 = base_config(e2, ""), *c3 = base_config(e3, "");
	char *c4 = base_config("    acceptedCAs: SECRETKEYMATERIAL\n", "");
	char *c5 = base_config("    acceptedCAs:\n        - nocrt: x\n", "");
	char *ok = base_config("", "");
	const char *bad_yaml = "machine:\n  type: [SECRETKEYMATERIAL\n";
	const char *flowm = "machine: {type: worker}\n";

	(void)state;
	(void)bleaf;
	expect_fail(bad_yaml, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "not valid YAML");
	expect_fail("cluster:\n  id: x\n", HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "no machine section");
	expect_fail("foo: bar\n", HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "no v1alpha1 document");
	expect_fail(flowm, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "block mapping");
	expect_fail("machine:\n  type: worker\n", HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca1,
		    "no cluster section");
	expect_fail(c1, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "not a certificate");
	expect_fail(c2, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "2 certificates");
	expect_fail(c3, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "machine.acceptedCAs[0] is not a PEM");
	expect_fail(c4, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "is not a list");
	expect_fail(c5, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca1, "has no crt");
	expect_fail(ok, HSMCA_MCONFIG_MACHINE_ACCEPTED, leaf, "not a CA certificate");
	expect_fail(ok, HSMCA_MCONFIG_MACHINE_ACCEPTED, two, "2 certificates");
	expect_fail(ok, HSMCA_MCONFIG_MACHINE_ACCEPTED, "garbage", "not a PEM certificate");
	free(bkey);
	free(bleaf);
	free(two);
	free(btwo);
	free(e1);
	free(e2);
	free(e3);
	free(c1);
	free(c2);
	free(c3);
	free(c4);
	free(c5);
	free(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_machine_type),
		cmocka_unit_test(test_machine_add_remove_roundtrip),
		cmocka_unit_test(test_machine_two_entries),
		cmocka_unit_test(test_compare_by_der),
		cmocka_unit_test(test_flow_and_null),
		cmocka_unit_test(test_cluster_v1alpha1),
		cmocka_unit_test(test_kube_doc),
		cmocka_unit_test(test_other_layouts),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
