/* Unit tests for the TBS lints (src/x509/lint.c, lint_der.c): the DER walk
 * the batch runs on every certificate refuses what OpenSSL's parse-back
 * lint refuses, on TBSes built here with the project's DER writer and then
 * damaged one way each.  No token: keys come from OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "x509/x509.h"

#define NOW ((time_t)1893456000) /* 2030-01-01 */

struct spec {
	bool ca, empty_subject, san, san_critical, dup_ku, leaf_says_ca, urls;
	int path_len;
	int serial_len;
	time_t not_after;
	int spki_mode; /* 0 ok, 1 two BIT STRINGs, 2 seven unused bits */
};

static EVP_PKEY *key;

static int setup(void **state)
{
	(void)state;
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return key ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return 0;
}

static void spki_der(struct hsmca_der *d, int mode)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);
	const uint8_t *alg, *bits;
	size_t alg_len, bits_len;

	assert_true(n > 0);
	/* SEQUENCE { alg SEQUENCE, BIT STRING }: both short-form here. */
	alg = der + 2;
	alg_len = 2 + alg[1];
	bits = alg + alg_len;
	bits_len = (size_t)n - 2 - alg_len;
	{
		size_t seq = hsmca_der_begin(d, DER_SEQUENCE);

		hsmca_der_raw(d, alg, alg_len);
		if (mode == 2) {
			uint8_t b[80];

			memcpy(b, bits, bits_len);
			b[2] = 7; /* unused bits */
			hsmca_der_raw(d, b, bits_len);
		} else {
			hsmca_der_raw(d, bits, bits_len);
		}
		if (mode == 1)
			hsmca_der_raw(d, bits, bits_len); /* a second key */
		hsmca_der_end(d, seq);
	}
	OPENSSL_free(der);
}

static void build(const struct spec *s, struct hsmca_der *tbs)
{
	struct hsmca_der issuer, subject, spki, exts;
	struct hsmca_tbs t;
	struct hsmca_san san;
	uint8_t id[20] = { 1, 2, 3 };
	hsmca_error err;
	size_t seq;

	hsmca_der_init(&issuer);
	hsmca_der_init(&subject);
	hsmca_der_init(&spki);
	hsmca_der_init(&exts);
	assert_int_equal(hsmca_name_encode("CN=Lint Root", &issuer, &err), 0);
	if (s->empty_subject) {
		size_t m = hsmca_der_begin(&subject, DER_SEQUENCE);

		hsmca_der_end(&subject, m);
	} else {
		assert_int_equal(hsmca_name_encode("CN=leaf", &subject, &err), 0);
	}
	spki_der(&spki, s->spki_mode);
	assert_int_equal(hsmca_san_parse("DNS:leaf.example.test", &san, &err), 0);
	seq = hsmca_der_begin(&exts, DER_SEQUENCE);
	hsmca_ext_key_usage(&exts, s->ca ? HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN
					 : HSMCA_KU_DIGITAL_SIGNATURE);
	if (s->dup_ku)
		hsmca_ext_key_usage(&exts, HSMCA_KU_DIGITAL_SIGNATURE);
	hsmca_ext_basic_constraints(&exts, s->ca || s->leaf_says_ca, s->path_len);
	hsmca_ext_ski(&exts, id);
	hsmca_ext_aki(&exts, id);
	if (s->san)
		hsmca_ext_san(&exts, &san, 1, s->san_critical);
	if (s->urls)
		hsmca_ext_ca_urls(&exts, "http://pki.example.test/int.crl",
				  "http://pki.example.test/int.cer");
	hsmca_der_end(&exts, seq);
	memset(&t, 0, sizeof(t));
	t.sigalg = HSMCA_SIG_ECDSA_SHA256;
	memset(t.serial, 0x42, sizeof(t.serial));
	t.serial_len = (size_t)s->serial_len;
	t.issuer = issuer.buf;
	t.issuer_len = issuer.len;
	t.subject = subject.buf;
	t.subject_len = subject.len;
	t.not_before = NOW;
	t.not_after = s->not_after;
	t.spki = spki.buf;
	t.spki_len = spki.len;
	t.extensions = exts.buf;
	t.extensions_len = exts.len;
	hsmca_tbs_encode(tbs, &t);
	assert_true(hsmca_der_ok(tbs));
	hsmca_der_free(&issuer);
	hsmca_der_free(&subject);
	hsmca_der_free(&spki);
	hsmca_der_free(&exts);
}

/* A CA certificate with the given pathLenConstraint (and nameConstraints
 * `nc` when not NULL), as an issuer. */
static X509 *issuer_nc(long path_len, const char *nc);

static X509 *issuer_cert(long path_len)
{
	return issuer_nc(path_len, NULL);
}

static X509 *issuer_nc(long path_len, const char *nc)
{
	X509 *x = X509_new();
	X509_EXTENSION *e;
	char bc[64];

	snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%ld", path_len);
	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"Lint Root", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL);
	X509_set_pubkey(x, key);
	e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, bc);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (nc) {
		e = X509V3_EXT_conf_nid(NULL, NULL, NID_name_constraints, nc);
		assert_non_null(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* Both lints on one TBS; returns what they agree on (0 or -1). */
static int both(const struct spec *s, X509 *issuer)
{
	struct hsmca_der tbs;
	struct hsmca_lint_expect ex;
	hsmca_error e1, e2;
	int r1, r2;

	hsmca_der_init(&tbs);
	build(s, &tbs);
	memset(&ex, 0, sizeof(ex));
	ex.ca = s->ca;
	ex.path_len = s->ca ? s->path_len : -1;
	ex.issuer_not_after = NOW + 1000 * 86400;
	ex.issuer = issuer;
	r1 = hsmca_lint_tbs(tbs.buf, tbs.len, &ex, &e1);
	r2 = hsmca_lint_tbs_der(tbs.buf, tbs.len, &ex, &e2);
	hsmca_der_free(&tbs);
	if (r1 != r2)
		fail_msg("lints disagree: openssl %d (%s), der %d (%s)", r1, r1 ? e1.msg : "",
			 r2, r2 ? e2.msg : "");
	return r1;
}

static struct spec leaf(void)
{
	struct spec s = { .san = true, .path_len = -1, .serial_len = 20, .not_after = NOW + 86400 };

	return s;
}

static void test_good(void **state)
{
	struct spec s = leaf();
	X509 *root = issuer_cert(1);

	(void)state;
	assert_int_equal(both(&s, NULL), 0);
	s.empty_subject = true;
	s.san_critical = true;
	assert_int_equal(both(&s, NULL), 0);
	s = leaf();
	s.ca = true;
	s.path_len = 0;
	assert_int_equal(both(&s, root), 0);
	/* A CA with --crl-url/--issuer-url writes CDP and AIA into all it issues. */
	s = leaf();
	s.urls = true;
	assert_int_equal(both(&s, NULL), 0);
	X509_free(root);
}

static void test_refused(void **state)
{
	struct spec s;
	X509 *p0 = issuer_cert(0);

	(void)state;
	s = leaf(), s.spki_mode = 1; /* two keys in the SPKI */
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.spki_mode = 2; /* 7 unused bits */
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.dup_ku = true;
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.leaf_says_ca = true;
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.not_after = NOW + 2000 * 86400; /* past the issuer */
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.not_after = NOW; /* not after notBefore */
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.empty_subject = true; /* SAN not critical */
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.empty_subject = true, s.san = false;
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.serial_len = 4;
	assert_int_equal(both(&s, NULL), -1);
	s = leaf(), s.ca = true, s.path_len = 0; /* a CA under pathLen 0 */
	assert_int_equal(both(&s, p0), -1);
	X509_free(p0);
}

/* Names outside the issuer's nameConstraints are refused (the SAN is
 * DNS:leaf.example.test). */
static void test_name_constraints(void **state)
{
	struct spec s = leaf();
	X509 *in = issuer_nc(-1, "critical,permitted;DNS:example.test");
	X509 *out = issuer_nc(-1, "critical,permitted;DNS:other.test");
	X509 *excl = issuer_nc(-1, "critical,excluded;DNS:leaf.example.test");

	(void)state;
	assert_int_equal(both(&s, in), 0);
	assert_int_equal(both(&s, out), -1);
	assert_int_equal(both(&s, excl), -1);
	X509_free(in);
	X509_free(out);
	X509_free(excl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_name_constraints),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
