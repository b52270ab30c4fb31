/* Unit tests for CRLs (src/store/crl.c) against a real SoftHSM2 token: root CAs
 * made by hsmca_ca_create_root, revocations through records.h, CRLs signed
 * in the token and re-read with OpenSSL. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ceremony.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "store/crl.h"
#include "store/records.h"
#include "state/session.h"
#include "testutil.h"
#include "x509/x509.h"

#define SO_PIN "so-pin-1187"
#define USER_PIN "user-pin-7731"
#define TOKEN_LABEL "crl-test"
#define NOW "2030-01-01T00:00:00Z"
#define NOW_T 1893456000

struct fixture {
	char *dir;
	struct hsmca_session s;
	struct hsmca_ca *ca;  /* ec-p256, 1 year from NOW */
};

static void set_pin(struct hsmca_pin *p, const char *v)
{
	memset(p, 0, sizeof(*p));
	p->len = strlen(v);
	memcpy(p->value, v, p->len);
}

static int make_ca(struct fixture *f, const char *name, const char *type, bool pss,
		   struct hsmca_ca **out)
{
	struct hsmca_ceremony c;
	hsmca_error err = { "", 0 };

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "%s", name);
	snprintf(c.key_type, sizeof(c.key_type), "%s", type);
	snprintf(c.key_label, sizeof(c.key_label), "%s-key", name);
	snprintf(c.subject, sizeof(c.subject), "CN=%s CRL Test Root,O=hsmca tests", name);
	c.validity = 365 * 86400;
	c.path_len = -1;
	c.rsa_pss = pss;
	snprintf(c.sig_hash, sizeof(c.sig_hash), "%s",
		 strcmp(type, "ec-p384") == 0 ? "sha384" : "sha256");
	if (hsmca_ca_create_root(&f->s, &c, out, &err) != 0) {
		fprintf(stderr, "make_ca %s: %s\n", name, err.msg);
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct hsmca_pin so, user;
	hsmca_error err = { "", 0 };
	char path[PATH_MAX];
	const char *module;
	CK_SLOT_ID slot;

	if (!f)
		return -1;
	*state = f;
	f->dir = hsmca_test_tmpdir();
	if (!f->dir)
		return -1;
	setenv("HSMCA_NOW", NOW, 1);
	module = hsmca_test_softhsm(f->dir);
	set_pin(&so, SO_PIN);
	set_pin(&user, USER_PIN);
	snprintf(f->s.home, sizeof(f->s.home), "%s", f->dir);
	snprintf(path, sizeof(path), "%s/audit.log", f->dir);
	if (hsmca_module_open(module, &f->s.module, &err) != 0 ||
	    hsmca_module_init_token(f->s.module, TOKEN_LABEL, &so, &user, &slot, &err) != 0 ||
	    hsmca_token_open(f->s.module, "pkcs11:token=" TOKEN_LABEL, &f->s.token, &err) != 0 ||
	    hsmca_token_login(f->s.token, false, &user, &err) != 0 ||
	    hsmca_audit_open(path, &f->s.audit, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	f->s.software = true;
	return make_ca(f, "root", "ec-p256", false, &f->ca);
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	hsmca_ca_free(f->ca);
	hsmca_audit_close(f->s.audit);
	hsmca_token_close(f->s.token);
	hsmca_module_close(f->s.module);
	hsmca_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	unsetenv("HSMCA_NOW");
	return 0;
}

/* Assert success and show the library's message when it fails. */
#define assert_ok(call)                                                   \
	do {                                                              \
		int rc_ = (call);                                         \
		if (rc_ != 0)                                             \
			print_error("%s: %s\n", #call, err.msg);          \
		assert_int_equal(rc_, 0);                                 \
	} while (0)

static X509_CRL *parse(const struct hsmca_der *d)
{
	const unsigned char *p = d->buf;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)d->len);

	assert_non_null(crl);
	assert_ptr_equal(p, d->buf + d->len);
	return crl;
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return timegm(&tm);
}

static uint64_t crl_number_of(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	uint64_t v = 0;

	assert_non_null(n);
	assert_int_equal(ASN1_INTEGER_get_uint64(&v, n), 1);
	ASN1_INTEGER_free(n);
	return v;
}

static void record_serial(const char *ca_dir, const uint8_t *serial, size_t len)
{
	struct hsmca_record rec;
	hsmca_records *r = NULL;
	hsmca_error err = { "", 0 };

	memset(&rec, 0, sizeof(rec));
	memcpy(rec.serial, serial, len);
	rec.serial_len = len;
	snprintf(rec.subject, sizeof(rec.subject), "CN=leaf");
	snprintf(rec.profile, sizeof(rec.profile), "client");
	rec.not_before = NOW_T;
	rec.not_after = NOW_T + 86400 * 30;
	rec.issued_at = NOW_T;
	assert_int_equal(hsmca_records_open(ca_dir, &r, &err), 0);
	assert_int_equal(hsmca_records_append(r, &rec, &err), 0);
	assert_int_equal(hsmca_records_sync(r, &err), 0);
	hsmca_records_close(r);
}

static char *read_text(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	hsmca_error err = { "", 0 };

	assert_int_equal(hsmca_read_file(path, 1 << 20, &buf, &len, &err), 0);
	return (char *)buf;
}

/* ---- tests -------------------------------------------------------------- */

static void test_empty_crl(void **state)
{
	struct fixture *f = *state;
	struct hsmca_der d;
	struct hsmca_crl_info info;
	hsmca_error err = { "", 0 };
	X509_CRL *crl;
	const ASN1_OCTET_STRING *akid_os;
	AUTHORITY_KEYID *akid;
	char path[PATH_MAX], *text;

	hsmca_der_init(&d);
	assert_ok(hsmca_crl_build_ex(&f->s, f->ca, 7 * 86400, &d, &info, &err));
	assert_int_equal(info.number, 1);
	assert_int_equal(info.this_update, NOW_T);
	assert_int_equal(info.next_update, NOW_T + 7 * 86400);
	assert_false(info.clamped);
	assert_int_equal(info.revoked, 0);

	crl = parse(&d);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(f->ca->x509)), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(f->ca->x509)),
			 0);
	assert_int_equal(asn1_time(X509_CRL_get0_lastUpdate(crl)), NOW_T);
	assert_int_equal(asn1_time(X509_CRL_get0_nextUpdate(crl)), NOW_T + 7 * 86400);
	assert_int_equal(crl_number_of(crl), 1);
	assert_null(X509_CRL_get_REVOKED(crl));
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	akid_os = akid->keyid;
	assert_non_null(akid_os);
	assert_int_equal(ASN1_STRING_length(akid_os), 20);
	assert_memory_equal(ASN1_STRING_get0_data(akid_os), f->ca->ski, 20);
	AUTHORITY_KEYID_free(akid);
	/* The signature algorithm is the CA's. */
	assert_int_equal(X509_CRL_get_signature_nid(crl), NID_ecdsa_with_SHA256);
	X509_CRL_free(crl);

	snprintf(path, sizeof(path), "%s/crlnumber", f->ca->dir);
	text = read_text(path);
	assert_string_equal(text, "1\n");
	free(text);
	snprintf(path, sizeof(path), "%s/audit.log", f->dir);
	text = read_text(path);
	assert_non_null(strstr(text, "\"event\":\"sign\""));
	assert_non_null(strstr(text, "\"kind\":\"crl\""));
	assert_non_null(strstr(text, "\"crl_number\":\"1\""));
	free(text);
	hsmca_der_free(&d);
}

static void test_revoked_entries(void **state)
{
	struct fixture *f = *state;
	uint8_t s1[16], s2[20], s3[16];
	struct hsmca_der d;
	hsmca_error err = { "", 0 };
	uint64_t number = 0, before = 0;
	STACK_OF(X509_REVOKED) *list;
	X509_CRL *crl;
	int i, seen = 0;

	assert_int_equal(RAND_bytes(s1, sizeof(s1)), 1);
	assert_int_equal(RAND_bytes(s2, sizeof(s2)), 1);
	assert_int_equal(RAND_bytes(s3, sizeof(s3)), 1);
	s1[0] = 0x41;
	s2[0] = 0x7f; /* 20 bytes, top bit clear */
	s3[0] = 0x42;
	record_serial(f->ca->dir, s1, sizeof(s1));
	record_serial(f->ca->dir, s2, sizeof(s2));
	record_serial(f->ca->dir, s3, sizeof(s3));
	assert_int_equal(hsmca_revoke(f->ca->dir, s1, sizeof(s1), 1, NOW_T - 3600, &err), 0);
	assert_int_equal(hsmca_revoke(f->ca->dir, s2, sizeof(s2), 0, NOW_T - 60, &err), 0);
	/* s3 is issued but not revoked: not listed. */

	assert_int_equal(hsmca_crl_last_number(f->ca->dir, &before, &err), 0);
	hsmca_der_init(&d);
	assert_ok(hsmca_crl_build(&f->s, f->ca, 86400, &d, &number, &err));
	assert_int_equal(number, before + 1);
	crl = parse(&d);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(f->ca->x509)), 1);
	assert_int_equal(crl_number_of(crl), number);
	list = X509_CRL_get_REVOKED(crl);
	assert_non_null(list);
	assert_int_equal(sk_X509_REVOKED_num(list), 2);
	for (i = 0; i < sk_X509_REVOKED_num(list); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(list, i);
		const ASN1_INTEGER *sn = X509_REVOKED_get0_serialNumber(r);
		ASN1_ENUMERATED *reason;
		int crit = 0;

		reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
		if (ASN1_STRING_length(sn) == 16) {
			assert_memory_equal(ASN1_STRING_get0_data(sn), s1, 16);
			assert_int_equal(asn1_time(X509_REVOKED_get0_revocationDate(r)), NOW_T - 3600);
			assert_non_null(reason);
			assert_int_equal(ASN1_ENUMERATED_get(reason), 1);
			seen |= 1;
		} else {
			assert_int_equal(ASN1_STRING_length(sn), 20);
			assert_memory_equal(ASN1_STRING_get0_data(sn), s2, 20);
			assert_int_equal(asn1_time(X509_REVOKED_get0_revocationDate(r)), NOW_T - 60);
			/* unspecified: no reasonCode extension at all */
			assert_null(reason);
			assert_int_equal(X509_REVOKED_get_ext_count(r), 0);
			seen |= 2;
		}
		ASN1_ENUMERATED_free(reason);
	}
	assert_int_equal(seen, 3);
	X509_CRL_free(crl);

	/* The number keeps growing. */
	assert_ok(hsmca_crl_build(&f->s, f->ca, 86400, &d, &number, &err));
	assert_int_equal(number, before + 2);
	hsmca_der_free(&d);
}

static void test_clamp_and_expired(void **state)
{
	struct fixture *f = *state;
	struct hsmca_der d;
	struct hsmca_crl_info info;
	hsmca_error err = { "", 0 };
	uint64_t before = 0, after = 0;
	char when[21];
	X509_CRL *crl;

	hsmca_der_init(&d);
	/* Five days before the CA's notAfter, a 7-day interval is cut back. */
	hsmca_format_time(f->ca->not_after - 5 * 86400, when);
	setenv("HSMCA_NOW", when, 1);
	assert_ok(hsmca_crl_build_ex(&f->s, f->ca, 7 * 86400, &d, &info, &err));
	assert_true(info.clamped);
	assert_int_equal(info.next_update, f->ca->not_after);
	crl = parse(&d);
	assert_int_equal(asn1_time(X509_CRL_get0_nextUpdate(crl)), f->ca->not_after);
	X509_CRL_free(crl);
	/* 5 days exactly fits: not clamped. */
	assert_int_equal(hsmca_crl_build_ex(&f->s, f->ca, 5 * 86400, &d, &info, &err), 0);
	assert_false(info.clamped);

	/* After the CA expired: refused, and no number is spent. */
	assert_int_equal(hsmca_crl_last_number(f->ca->dir, &before, &err), 0);
	hsmca_format_time(f->ca->not_after, when);
	setenv("HSMCA_NOW", when, 1);
	assert_int_equal(hsmca_crl_build_ex(&f->s, f->ca, 7 * 86400, &d, &info, &err), -1);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(hsmca_crl_last_number(f->ca->dir, &after, &err), 0);
	assert_int_equal(before, after);
	setenv("HSMCA_NOW", NOW, 1);

	assert_int_equal(hsmca_crl_build_ex(&f->s, f->ca, 0, &d, &info, &err), -1);
	assert_non_null(strstr(err.msg, "positive"));
	hsmca_der_free(&d);
}

static void test_crlnumber_file(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = { "", "\n", "abc\n", "-1\n", "01\n", "1 2\n",
					   "18446744073709551616\n", "1\n\n" };
	struct hsmca_der d;
	hsmca_error err = { "", 0 };
	char path[PATH_MAX];
	uint64_t number = 0;
	size_t i;

	hsmca_der_init(&d);
	snprintf(path, sizeof(path), "%s/crlnumber", f->ca->dir);
	for (i = 0; i < HSMCA_ARRAY_LEN(bad); i++) {
		assert_int_equal(hsmca_write_atomic(path, bad[i], strlen(bad[i]), 0644, &err), 0);
		assert_int_equal(hsmca_crl_last_number(f->ca->dir, &number, &err), -1);
		assert_non_null(strstr(err.msg, "does not hold a CRL number"));
		/* A CRL is refused rather than numbered from a guess. */
		assert_int_equal(hsmca_crl_build(&f->s, f->ca, 86400, &d, &number, &err), -1);
	}
	assert_int_equal(hsmca_write_atomic(path, "41\n", 3, 0644, &err), 0);
	assert_ok(hsmca_crl_build(&f->s, f->ca, 86400, &d, &number, &err));
	assert_int_equal(number, 42);
	assert_int_equal(hsmca_write_atomic(path, "18446744073709551615", 20, 0644, &err), 0);
	assert_int_equal(hsmca_crl_build(&f->s, f->ca, 86400, &d, &number, &err), -1);
	assert_non_null(strstr(err.msg, "cannot grow"));
	assert_int_equal(hsmca_write_atomic(path, "42\n", 3, 0644, &err), 0);
	hsmca_der_free(&d);
}

/* The encoder alone: a serial with its top bit set gets its 0x00, big CRL
 * numbers encode as positive INTEGERs. */
static void test_tbs_encode(void **state)
{
	struct fixture *f = *state;
	uint8_t serial[16];
	struct hsmca_crl_entry e;
	struct hsmca_der tbs, whole;
	X509_CRL *crl;
	const ASN1_INTEGER *sn;
	BIGNUM *bn;
	size_t seq;

	memset(serial, 0xc3, sizeof(serial));
	e = (struct hsmca_crl_entry){ serial, sizeof(serial), NOW_T, 4 };
	hsmca_der_init(&tbs);
	hsmca_der_init(&whole);
	hsmca_crl_tbs_encode(&tbs, HSMCA_SIG_ECDSA_SHA256, f->ca->subject_der,
			     f->ca->subject_der_len, NOW_T, NOW_T + 60, &e, 1, f->ca->ski,
			     UINT64_MAX);
	assert_true(hsmca_der_ok(&tbs));
	/* Wrap with a dummy signature so OpenSSL parses the TBS. */
	seq = hsmca_der_begin(&whole, DER_SEQUENCE);
	hsmca_der_raw(&whole, tbs.buf, tbs.len);
	hsmca_sigalg_der(&whole, HSMCA_SIG_ECDSA_SHA256);
	hsmca_der_bits(&whole, (const uint8_t *)"\x30\x00", 2);
	hsmca_der_end(&whole, seq);
	crl = parse(&whole);
	sn = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0));
	assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER); /* positive */
	assert_int_equal(ASN1_STRING_length(sn), 16);
	assert_memory_equal(ASN1_STRING_get0_data(sn), serial, 16);
	{
		ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);

		bn = ASN1_INTEGER_to_BN(n, NULL);
		assert_non_null(bn);
		assert_false(BN_is_negative(bn));
		assert_int_equal(BN_num_bits(bn), 64);
		BN_free(bn);
		ASN1_INTEGER_free(n);
	}
	X509_CRL_free(crl);
	hsmca_der_free(&tbs);
	hsmca_der_free(&whole);
}

/* Other signature algorithms: the CRL carries and verifies with each. */
static void test_other_key_types(void **state)
{
	static const struct {
		const char *name, *type;
		bool pss;
		int nid;
	} cases[] = {
		{ "p384", "ec-p384", false, NID_ecdsa_with_SHA384 },
		{ "ed", "ed25519", false, NID_ED25519 },
		{ "rsapss", "rsa-3072", true, NID_rsassaPss },
	};
	struct fixture *f = *state;
	hsmca_error err = { "", 0 };
	size_t i;

	for (i = 0; i < HSMCA_ARRAY_LEN(cases); i++) {
		struct hsmca_ca *ca = NULL;
		struct hsmca_der d;
		uint64_t number = 0;
		X509_CRL *crl;

		assert_int_equal(make_ca(f, cases[i].name, cases[i].type, cases[i].pss, &ca), 0);
		hsmca_der_init(&d);
		assert_ok(hsmca_crl_build(&f->s, ca, 86400, &d, &number, &err));
		assert_int_equal(number, 1);
		crl = parse(&d);
		assert_int_equal(X509_CRL_get_signature_nid(crl), cases[i].nid);
		assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca->x509)), 1);
		/* ...and not with another CA's key. */
		assert_int_not_equal(X509_CRL_verify(crl, X509_get0_pubkey(f->ca->x509)), 1);
		X509_CRL_free(crl);
		hsmca_der_free(&d);
		hsmca_ca_free(ca);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_crl),
		cmocka_unit_test(test_revoked_entries),
		cmocka_unit_test(test_clamp_and_expired),
		cmocka_unit_test(test_crlnumber_file),
		cmocka_unit_test(test_tbs_encode),
		cmocka_unit_test(test_other_key_types),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
