/* Keys made by hsmca_key_generate() cannot leave the token.
 *
 * For every key type hsmca generates, this test goes around the token layer
 * with its own PKCS#11 session on the same module and tries what an attacker
 * with the user PIN would try: read the private value, wrap the key out under
 * an AES key it controls, flip CKA_EXTRACTABLE / CKA_SENSITIVE, copy the
 * object with weaker attributes.  Each must be refused.  Control cases
 * (an extractable key wraps fine with the same wrapping key and mechanism;
 * public attributes of the same objects read fine) show the refusals come
 * from the key's protection and not from a broken test.
 *
 * It also checks that every generated key signs with every algorithm it
 * fits, that the signatures verify, that a corrupted signature does not, and
 * that the pair shares one random 16-byte CKA_ID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkcs11/token.h"
#include "testutil.h"

#define SO_PIN "so-pin-8213"
#define USER_PIN "user-pin-5531"
#define TOKEN_LABEL "extract-test"

static const enum hsmca_key_type key_types[] = {
	HSMCA_KEY_EC_P256, HSMCA_KEY_EC_P384, HSMCA_KEY_ED25519, HSMCA_KEY_RSA_3072, HSMCA_KEY_RSA_4096,
};
#define NKEYS (sizeof(key_types) / sizeof(key_types[0]))

static const enum hsmca_sigalg all_sigalgs[] = {
	HSMCA_SIG_ECDSA_SHA256,	  HSMCA_SIG_ECDSA_SHA384,   HSMCA_SIG_ED25519,
	HSMCA_SIG_RSA_SHA256,	  HSMCA_SIG_RSA_SHA384,	    HSMCA_SIG_RSA_PSS_SHA256,
	HSMCA_SIG_RSA_PSS_SHA384,
};
#define NSIGALGS (sizeof(all_sigalgs) / sizeof(all_sigalgs[0]))

struct fixture {
	char *dir;
	hsmca_module *module;
	hsmca_token *token;
	hsmca_key *keys[NKEYS];
	CK_FUNCTION_LIST *fns;
	CK_SESSION_HANDLE raw; /* our own session, outside the token layer */
};

static void set_pin(struct hsmca_pin *p, const char *v)
{
	memset(p, 0, sizeof(*p));
	p->len = strlen(v);
	memcpy(p->value, v, p->len);
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct hsmca_pin so, user;
	hsmca_error err = { "", 0 };
	const char *module;
	CK_SLOT_ID slot;
	char label[64];
	size_t i;
	CK_RV rv;

	if (!f)
		return -1;
	*state = f;
	f->raw = CK_INVALID_HANDLE;
	f->dir = hsmca_test_tmpdir();
	if (!f->dir)
		return -1;
	module = hsmca_test_softhsm(f->dir);
	set_pin(&so, SO_PIN);
	set_pin(&user, USER_PIN);
	if (hsmca_module_open(module, &f->module, &err) != 0 ||
	    hsmca_module_init_token(f->module, TOKEN_LABEL, &so, &user, &slot, &err) != 0 ||
	    hsmca_token_open(f->module, "pkcs11:token=" TOKEN_LABEL, &f->token, &err) != 0 ||
	    hsmca_token_login(f->token, false, &user, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	for (i = 0; i < NKEYS; i++) {
		snprintf(label, sizeof(label), "x-%s", hsmca_key_type_name(key_types[i]));
		if (hsmca_key_generate(f->token, key_types[i], label, &f->keys[i], &err) != 0) {
			fprintf(stderr, "setup: generate %s: %s\n", label, err.msg);
			return -1;
		}
	}
	/* Our own session on the same slot: login state is per token and
	 * application, so it sees the private objects without a second login. */
	f->fns = hsmca_module_functions(f->module);
	rv = f->fns->C_OpenSession(hsmca_token_get_info(f->token)->slot,
				   CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &f->raw);
	if (rv != CKR_OK) {
		fprintf(stderr, "setup: C_OpenSession: %s\n", hsmca_ckr_name(rv));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	if (!f)
		return 0;
	if (f->raw != CK_INVALID_HANDLE)
		f->fns->C_CloseSession(f->raw);
	for (i = 0; i < NKEYS; i++)
		hsmca_key_free(f->keys[i]);
	hsmca_token_close(f->token);
	hsmca_module_close(f->module);
	hsmca_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* The handle of the single object of class `cls` with this CKA_ID, through
 * our own session. */
static CK_OBJECT_HANDLE find_by_id(struct fixture *f, CK_OBJECT_CLASS cls, const uint8_t *id,
				   size_t id_len)
{
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_ID, (void *)id, id_len } };
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n = 0;

	assert_int_equal(f->fns->C_FindObjectsInit(f->raw, tmpl, 2), CKR_OK);
	assert_int_equal(f->fns->C_FindObjects(f->raw, found, 4, &n), CKR_OK);
	assert_int_equal(f->fns->C_FindObjectsFinal(f->raw), CKR_OK);
	assert_int_equal(n, 1);
	return found[0];
}

static CK_OBJECT_HANDLE private_handle(struct fixture *f, size_t i)
{
	const struct hsmca_key_info *ki = hsmca_key_get_info(f->keys[i]);

	return find_by_id(f, CKO_PRIVATE_KEY, ki->id, ki->id_len);
}

static bool is_rsa(enum hsmca_key_type t)
{
	return t == HSMCA_KEY_RSA_3072 || t == HSMCA_KEY_RSA_4096;
}

static CK_BBOOL read_bool(struct fixture *f, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 0x55;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	assert_int_equal(f->fns->C_GetAttributeValue(f->raw, h, &a, 1), CKR_OK);
	assert_int_equal(a.ulValueLen, sizeof(v));
	return v;
}

/* The protection attributes as read through our own session, not through
 * the token layer that set them. */
static void assert_protected(struct fixture *f, CK_OBJECT_HANDLE h)
{
	assert_int_equal(read_bool(f, h, CKA_SENSITIVE), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_EXTRACTABLE), CK_FALSE);
	assert_int_equal(read_bool(f, h, CKA_ALWAYS_SENSITIVE), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_NEVER_EXTRACTABLE), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_LOCAL), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_PRIVATE), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_TOKEN), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_SIGN), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_DECRYPT), CK_FALSE);
	assert_int_equal(read_bool(f, h, CKA_UNWRAP), CK_FALSE);
	assert_int_equal(read_bool(f, h, CKA_DERIVE), CK_FALSE);
}

static void test_attributes_read_back(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct hsmca_key_info *ki = hsmca_key_get_info(f->keys[i]);

		assert_protected(f, private_handle(f, i));
		/* The token layer reports the same. */
		assert_int_equal(ki->type, key_types[i]);
		assert_true(ki->sensitive);
		assert_false(ki->extractable);
		assert_true(ki->always_sensitive);
		assert_true(ki->never_extractable);
		assert_true(ki->local);
	}
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Reading a private value is refused; the same call on a public attribute
 * of the same object works (so the refusal is about sensitivity). */
static void test_private_value_unreadable(void **state)
{
	static const CK_ATTRIBUTE_TYPE rsa_secret[] = {
		CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
		CKA_COEFFICIENT,
	};
	struct fixture *f = *state;
	uint8_t buf[1024];
	size_t i, j;

	for (i = 0; i < NKEYS; i++) {
		CK_OBJECT_HANDLE h = private_handle(f, i);
		CK_ATTRIBUTE a;
		CK_RV rv;

		if (is_rsa(key_types[i])) {
			for (j = 0; j < sizeof(rsa_secret) / sizeof(rsa_secret[0]); j++) {
				memset(buf, 0, sizeof(buf));
				a = (CK_ATTRIBUTE){ rsa_secret[j], buf, sizeof(buf) };
				rv = f->fns->C_GetAttributeValue(f->raw, h, &a, 1);
				assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
				assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
				assert_true(all_zero(buf, sizeof(buf)));
				/* Size query without a buffer is refused too. */
				a = (CK_ATTRIBUTE){ rsa_secret[j], NULL, 0 };
				rv = f->fns->C_GetAttributeValue(f->raw, h, &a, 1);
				assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
			}
			a = (CK_ATTRIBUTE){ CKA_MODULUS, buf, sizeof(buf) };
			assert_int_equal(f->fns->C_GetAttributeValue(f->raw, h, &a, 1), CKR_OK);
			assert_int_equal(a.ulValueLen, key_types[i] == HSMCA_KEY_RSA_3072 ? 384 : 512);
		} else {
			memset(buf, 0, sizeof(buf));
			a = (CK_ATTRIBUTE){ CKA_VALUE, buf, sizeof(buf) };
			rv = f->fns->C_GetAttributeValue(f->raw, h, &a, 1);
			assert_int_equal(rv, CKR_ATTRIBUTE_SENSITIVE);
			assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
			assert_true(all_zero(buf, sizeof(buf)));
			a = (CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 };
			assert_int_equal(f->fns->C_GetAttributeValue(f->raw, h, &a, 1),
					 CKR_ATTRIBUTE_SENSITIVE);
			a = (CK_ATTRIBUTE){ CKA_EC_PARAMS, buf, sizeof(buf) };
			assert_int_equal(f->fns->C_GetAttributeValue(f->raw, h, &a, 1), CKR_OK);
			assert_true(a.ulValueLen > 2);
		}
	}
}

/* A session AES-256 key that may wrap: what an attacker holding the user
 * PIN can make. */
static CK_OBJECT_HANDLE make_wrapping_key(struct fixture *f)
{
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &no, sizeof(no) },	  { CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_WRAP, &yes, sizeof(yes) },  { CKA_UNWRAP, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	assert_int_equal(f->fns->C_GenerateKey(f->raw, &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &h),
			 CKR_OK);
	return h;
}

/* A session EC P-256 pair that is sensitive but extractable: the control
 * that shows the wrapping key and mechanism do work. */
static CK_OBJECT_HANDLE make_extractable_key(struct fixture *f, CK_OBJECT_HANDLE *pub)
{
	static const uint8_t p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pt[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE kt[] = {
		{ CKA_TOKEN, &no, sizeof(no) },		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },	{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE;

	assert_int_equal(f->fns->C_GenerateKeyPair(f->raw, &mech, pt, sizeof(pt) / sizeof(pt[0]), kt,
						   sizeof(kt) / sizeof(kt[0]), pub, &priv),
			 CKR_OK);
	return priv;
}

static void test_wrap_refused(void **state)
{
	static const CK_MECHANISM_TYPE mechs[] = { CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP };
	struct fixture *f = *state;
	CK_OBJECT_HANDLE wrap = make_wrapping_key(f), ctl_pub = CK_INVALID_HANDLE, ctl;
	static uint8_t out[8192];
	size_t i, m;

	ctl = make_extractable_key(f, &ctl_pub);
	/* Control: the same wrapping key and mechanism export an extractable key. */
	{
		CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
		CK_ULONG len = sizeof(out);

		memset(out, 0, sizeof(out));
		assert_int_equal(f->fns->C_WrapKey(f->raw, &mech, wrap, ctl, out, &len), CKR_OK);
		assert_true(len > 32);
		assert_false(all_zero(out, len));
	}
	for (i = 0; i < NKEYS; i++) {
		CK_OBJECT_HANDLE h = private_handle(f, i);

		for (m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++) {
			CK_MECHANISM mech = { mechs[m], NULL, 0 };
			CK_ULONG len = 0;
			CK_RV rv;

			/* Size query first, then with a buffer: both refused, nothing out. */
			rv = f->fns->C_WrapKey(f->raw, &mech, wrap, h, NULL, &len);
			assert_int_not_equal(rv, CKR_OK);
			memset(out, 0, sizeof(out));
			len = sizeof(out);
			rv = f->fns->C_WrapKey(f->raw, &mech, wrap, h, out, &len);
			assert_int_not_equal(rv, CKR_OK);
			if (mechs[m] == CKM_AES_KEY_WRAP_PAD)
				assert_int_equal(rv, CKR_KEY_UNEXTRACTABLE);
			assert_true(all_zero(out, sizeof(out)));
		}
	}
	assert_int_equal(f->fns->C_DestroyObject(f->raw, ctl), CKR_OK);
	assert_int_equal(f->fns->C_DestroyObject(f->raw, ctl_pub), CKR_OK);
	assert_int_equal(f->fns->C_DestroyObject(f->raw, wrap), CKR_OK);
}

/* The protection cannot be switched off afterwards, nor dodged by copying
 * the object with weaker attributes. */
static void test_protection_not_weakened(void **state)
{
	struct fixture *f = *state;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		CK_OBJECT_HANDLE h = private_handle(f, i), copy = CK_INVALID_HANDLE;
		CK_ATTRIBUTE ext = { CKA_EXTRACTABLE, &yes, sizeof(yes) };
		CK_ATTRIBUTE sens = { CKA_SENSITIVE, &no, sizeof(no) };
		CK_ATTRIBUTE both[] = { { CKA_EXTRACTABLE, &yes, sizeof(yes) },
					{ CKA_SENSITIVE, &no, sizeof(no) } };
		CK_RV rv;

		assert_int_not_equal(f->fns->C_SetAttributeValue(f->raw, h, &ext, 1), CKR_OK);
		assert_int_not_equal(f->fns->C_SetAttributeValue(f->raw, h, &sens, 1), CKR_OK);
		rv = f->fns->C_CopyObject(f->raw, h, both, 2, &copy);
		if (rv == CKR_OK) {
			/* A token that copies anyway must not have weakened the copy. */
			assert_protected(f, copy);
			f->fns->C_DestroyObject(f->raw, copy);
		}
		rv = f->fns->C_CopyObject(f->raw, h, &ext, 1, &copy);
		if (rv == CKR_OK) {
			assert_protected(f, copy);
			f->fns->C_DestroyObject(f->raw, copy);
		}
		/* Nothing changed on the original. */
		assert_protected(f, h);
	}
}

static void test_id_shared_by_pair(void **state)
{
	struct fixture *f = *state;
	uint8_t ids[NKEYS][16];
	size_t i, j;

	for (i = 0; i < NKEYS; i++) {
		const struct hsmca_key_info *ki = hsmca_key_get_info(f->keys[i]);
		CK_OBJECT_HANDLE priv, pub;
		uint8_t id[64], label[200];
		CK_ATTRIBUTE a = { CKA_ID, id, sizeof(id) };

		assert_int_equal(ki->id_len, 16);
		memcpy(ids[i], ki->id, 16);
		priv = find_by_id(f, CKO_PRIVATE_KEY, ki->id, ki->id_len);
		pub = find_by_id(f, CKO_PUBLIC_KEY, ki->id, ki->id_len);
		assert_int_equal(f->fns->C_GetAttributeValue(f->raw, priv, &a, 1), CKR_OK);
		assert_int_equal(a.ulValueLen, 16);
		assert_memory_equal(id, ki->id, 16);
		a = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
		assert_int_equal(f->fns->C_GetAttributeValue(f->raw, pub, &a, 1), CKR_OK);
		assert_int_equal(a.ulValueLen, 16);
		assert_memory_equal(id, ki->id, 16);
		/* Both halves carry the label. */
		a = (CK_ATTRIBUTE){ CKA_LABEL, label, sizeof(label) };
		assert_int_equal(f->fns->C_GetAttributeValue(f->raw, pub, &a, 1), CKR_OK);
		assert_int_equal(a.ulValueLen, strlen(ki->label));
		assert_memory_equal(label, ki->label, a.ulValueLen);
		/* The public key object is not a private one. */
		assert_int_equal(read_bool(f, pub, CKA_PRIVATE), CK_FALSE);
	}
	/* Random: no two pairs share an ID (2^-128 chance of a false failure). */
	for (i = 0; i < NKEYS; i++)
		for (j = i + 1; j < NKEYS; j++)
			assert_true(memcmp(ids[i], ids[j], 16) != 0);
}

static void test_sign_and_verify(void **state)
{
	static const uint8_t msg[] = "hsmca: to be signed in the token";
	struct fixture *f = *state;
	size_t i, a, fitted = 0;

	for (i = 0; i < NKEYS; i++) {
		EVP_PKEY *pub = hsmca_key_pkey(f->keys[i]);

		assert_non_null(pub);
		for (a = 0; a < NSIGALGS; a++) {
			uint8_t sig[HSMCA_SIG_MAX];
			size_t siglen = 0;
			hsmca_error err = { "", 0 };
			int rc = hsmca_key_sign(f->keys[i], all_sigalgs[a], msg, sizeof(msg) - 1, sig,
						&siglen, &err);

			if (!hsmca_sigalg_fits(all_sigalgs[a], key_types[i])) {
				assert_int_equal(rc, -1);
				assert_true(strstr(err.msg, "cannot make") != NULL);
				continue;
			}
			if (rc != 0)
				fail_msg("%s with %s: %s", hsmca_key_type_name(key_types[i]),
					 hsmca_sigalg_name(all_sigalgs[a]), err.msg);
			fitted++;
			assert_true(siglen > 0 && siglen <= HSMCA_SIG_MAX);
			if (hsmca_verify_sig(pub, all_sigalgs[a], msg, sizeof(msg) - 1, sig, siglen, &err) != 0)
				fail_msg("%s with %s does not verify: %s", hsmca_key_type_name(key_types[i]),
					 hsmca_sigalg_name(all_sigalgs[a]), err.msg);
			/* Another message does not verify with this signature. */
			assert_int_equal(hsmca_verify_sig(pub, all_sigalgs[a], msg, sizeof(msg) - 2, sig,
							  siglen, &err),
					 -1);
		}
	}
	/* 2 ECDSA for each EC key, 1 Ed25519, 4 for each RSA key. */
	assert_int_equal(fitted, 2 + 2 + 1 + 4 + 4);
}

static void test_corrupted_signature_rejected(void **state)
{
	static const uint8_t msg[] = "certificate bytes";
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		enum hsmca_sigalg alg = hsmca_sigalg_default(key_types[i], false, false);
		EVP_PKEY *pub = hsmca_key_pkey(f->keys[i]);
		uint8_t sig[HSMCA_SIG_MAX], bad[HSMCA_SIG_MAX];
		size_t siglen = 0, pos[3], p;
		hsmca_error err = { "", 0 };

		assert_int_equal(hsmca_key_sign(f->keys[i], alg, msg, sizeof(msg) - 1, sig, &siglen, &err), 0);
		assert_int_equal(hsmca_verify_sig(pub, alg, msg, sizeof(msg) - 1, sig, siglen, &err), 0);
		pos[0] = 0;
		pos[1] = siglen / 2;
		pos[2] = siglen - 1;
		for (p = 0; p < 3; p++) {
			memcpy(bad, sig, siglen);
			bad[pos[p]] ^= 0x01;
			err.msg[0] = '\0';
			assert_int_equal(hsmca_verify_sig(pub, alg, msg, sizeof(msg) - 1, bad, siglen, &err), -1);
			assert_true(strstr(err.msg, "does not verify") != NULL);
		}
		/* Truncated. */
		assert_int_equal(hsmca_verify_sig(pub, alg, msg, sizeof(msg) - 1, sig, siglen - 1, &err), -1);
		/* A key of another type does not verify it. */
		assert_int_equal(hsmca_verify_sig(hsmca_key_pkey(f->keys[(i + 1) % NKEYS]), alg, msg,
						  sizeof(msg) - 1, sig, siglen, &err),
				 -1);
	}
	/* PKCS#1 v1.5 and PSS are not interchangeable. */
	{
		size_t r = 3; /* rsa-3072 */
		EVP_PKEY *pub = hsmca_key_pkey(f->keys[r]);
		uint8_t sig[HSMCA_SIG_MAX];
		size_t siglen = 0;
		hsmca_error err = { "", 0 };

		assert_int_equal(key_types[r], HSMCA_KEY_RSA_3072);
		assert_int_equal(hsmca_key_sign(f->keys[r], HSMCA_SIG_RSA_PSS_SHA256, msg, sizeof(msg) - 1,
						sig, &siglen, &err),
				 0);
		assert_int_equal(hsmca_verify_sig(pub, HSMCA_SIG_RSA_SHA256, msg, sizeof(msg) - 1, sig,
						  siglen, &err),
				 -1);
		assert_int_equal(hsmca_verify_sig(pub, HSMCA_SIG_RSA_PSS_SHA384, msg, sizeof(msg) - 1, sig,
						  siglen, &err),
				 -1);
	}
}

/* A label that exists is refused and nothing new appears on the token. */
static void test_existing_label_refused(void **state)
{
	struct fixture *f = *state;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_TOKEN, &yes, sizeof(yes) } };
	CK_OBJECT_HANDLE found[32];
	CK_ULONG before = 0, after = 0;
	hsmca_key *k = NULL;
	hsmca_error err = { "", 0 };

	assert_int_equal(f->fns->C_FindObjectsInit(f->raw, tmpl, 2), CKR_OK);
	assert_int_equal(f->fns->C_FindObjects(f->raw, found, 32, &before), CKR_OK);
	assert_int_equal(f->fns->C_FindObjectsFinal(f->raw), CKR_OK);
	assert_int_equal(hsmca_key_generate(f->token, HSMCA_KEY_EC_P256, "x-ec-p256", &k, &err), -1);
	assert_null(k);
	assert_true(strstr(err.msg, "already exists") != NULL);
	assert_int_equal(f->fns->C_FindObjectsInit(f->raw, tmpl, 2), CKR_OK);
	assert_int_equal(f->fns->C_FindObjects(f->raw, found, 32, &after), CKR_OK);
	assert_int_equal(f->fns->C_FindObjectsFinal(f->raw), CKR_OK);
	assert_int_equal(before, NKEYS);
	assert_int_equal(after, before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attributes_read_back),
		cmocka_unit_test(test_private_value_unreadable),
		cmocka_unit_test(test_wrap_refused),
		cmocka_unit_test(test_protection_not_weakened),
		cmocka_unit_test(test_id_shared_by_pair),
		cmocka_unit_test(test_sign_and_verify),
		cmocka_unit_test(test_corrupted_signature_rejected),
		cmocka_unit_test(test_existing_label_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
