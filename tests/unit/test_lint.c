/* Unit tests for the pre-signing TBS lint (src/x509/lint.c).  The issuance
 * paths only ever hand it well-formed TBSes, so no CLI test can see it
 * refuse one (scripts/mutate.sh showed a lint that accepts everything
 * survived the suite): here TBSes are built with OpenSSL, one rule broken
 * at a time, and each must be refused while the correct one passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509/x509.h"

enum breakage {
	OK,
	SHORT_SERIAL,
	NOT_AFTER_FIRST,
	NO_KEY_USAGE,
	LEAF_SAYS_CA,
	LEAF_CERT_SIGN,
	CA_NO_CERT_SIGN,
	CA_PATH_LEN,
};

static EVP_PKEY *key;

static int setup(void **state)
{
	(void)state;
	key = EVP_EC_gen("P-256");
	return key ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return 0;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* DER of a TBSCertificate: a CA (self-issued root) or a leaf, with one
 * rule broken.  *len receives its length; the caller frees it. */
static uint8_t *make_tbs(bool ca, enum breakage b, size_t *len)
{
	static const uint8_t serial16[16] = { 0x4a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	X509 *x = X509_new();
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	BIGNUM *bn = BN_bin2bn(serial16, b == SHORT_SERIAL ? 4 : 16, NULL);
	uint8_t *der = NULL;
	int n;

	assert_non_null(x);
	assert_non_null(bn);
	assert_non_null(BN_to_ASN1_INTEGER(bn, serial));
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(X509_set_serialNumber(x, serial), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, b == NOT_AFTER_FIRST ? 10 : 0,
					 NULL));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, 3600, NULL));
	if (b == NOT_AFTER_FIRST)
		assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, NULL));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
						    (const unsigned char *)"lint", -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	if (ca) {
		add_ext(x, x, NID_basic_constraints,
			b == CA_PATH_LEN ? "critical,CA:TRUE,pathlen:3" : "critical,CA:TRUE,pathlen:0");
		add_ext(x, x, NID_key_usage,
			b == CA_NO_CERT_SIGN ? "critical,digitalSignature,cRLSign"
					     : "critical,keyCertSign,cRLSign");
		add_ext(x, x, NID_subject_key_identifier, "hash");
	} else {
		if (b == LEAF_SAYS_CA)
			add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		if (b != NO_KEY_USAGE)
			add_ext(x, x, NID_key_usage,
				b == LEAF_CERT_SIGN ? "critical,digitalSignature,keyCertSign"
						    : "critical,digitalSignature");
		add_ext(x, x, NID_subject_key_identifier, "hash");
		add_ext(x, x, NID_authority_key_identifier, "keyid:always");
	}
	/* The TBS carries the signature algorithm: sign once to set it. */
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	n = i2d_re_X509_tbs(x, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_free(x);
	return der;
}

static int lint(bool ca, enum breakage b, time_t issuer_not_after, hsmca_error *err)
{
	struct hsmca_lint_expect ex = { .ca = ca, .root = ca, .path_len = ca ? 0 : -1,
					.issuer_not_after = issuer_not_after };
	size_t len;
	uint8_t *tbs = make_tbs(ca, b, &len);
	int rc = hsmca_lint_tbs(tbs, len, &ex, err);

	OPENSSL_free(tbs);
	return rc;
}

static void expect_refused(bool ca, enum breakage b, const char *why)
{
	hsmca_error err = { 0 };

	assert_int_equal(lint(ca, b, 0, &err), -1);
	if (!strstr(err.msg, why))
		fail_msg("lint refused for \"%s\", expected \"%s\"", err.msg, why);
}

static void test_good_tbs_pass(void **state)
{
	hsmca_error err = { 0 };

	(void)state;
	if (lint(false, OK, 0, &err) != 0)
		fail_msg("good leaf refused: %s", err.msg);
	if (lint(true, OK, 0, &err) != 0)
		fail_msg("good root refused: %s", err.msg);
	if (lint(false, OK, time(NULL) + 7200, &err) != 0)
		fail_msg("leaf inside its issuer's validity refused: %s", err.msg);
}

static void test_broken_tbs_refused(void **state)
{
	hsmca_error err = { 0 };

	(void)state;
	expect_refused(false, SHORT_SERIAL, "64 bits");
	expect_refused(false, NOT_AFTER_FIRST, "notBefore is not before notAfter");
	expect_refused(false, NO_KEY_USAGE, "keyUsage extension missing");
	expect_refused(false, LEAF_SAYS_CA, "must not say CA:TRUE");
	expect_refused(false, LEAF_CERT_SIGN, "must not have keyCertSign");
	expect_refused(true, CA_NO_CERT_SIGN, "keyCertSign and cRLSign");
	expect_refused(true, CA_PATH_LEN, "pathLenConstraint");
	assert_int_equal(lint(false, OK, time(NULL) + 60, &err), -1);
	assert_non_null(strstr(err.msg, "past the issuer's notAfter"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_tbs_pass),
		cmocka_unit_test(test_broken_tbs_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
