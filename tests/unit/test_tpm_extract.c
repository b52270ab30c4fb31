/* Keys hsmca_key_generate() makes in a TPM cannot leave it (issue 4, item 2).
 *
 * The test starts its own software TPM (scripts/tpm-sim.sh: swtpm behind
 * tpm2-abrmd on a private D-Bus bus, in a temporary directory), makes a
 * token with C_InitToken through the token layer, generates ec-p256,
 * ec-p384 and rsa-3072 keys, and then goes around the token layer with its
 * own PKCS#11 session, trying what an attacker holding the user PIN would:
 * read the private value (CKA_VALUE, the RSA private components), wrap the
 * key out (C_WrapKey), flip CKA_EXTRACTABLE / CKA_SENSITIVE — which
 * libtpm2_pkcs11 allows — and then read or wrap again, or copy the object.
 * Every attempt fails; the attributes the key is judged by
 * (CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL) stay TRUE and the
 * token layer keeps reporting the key as TPM-bound.  Controls: public
 * attributes of the same objects read fine, and the keys sign (so the
 * refusals are about the private part, not a broken session).
 *
 * It also checks what differs on a TPM: ed25519 and rsa-4096 are refused
 * before anything is created; a TPM that stops answering (swtpm SIGSTOPped)
 * is reported by the token watchdog after its deadline; and a TPM that dies
 * (swtpm killed) gives a prompt error that says so, not CKR_GENERAL_ERROR
 * alone.  That test runs last, since it takes the TPM away. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pkcs11/token.h"
#include "testutil.h"

#define TPM_MODULE "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
#define SO_PIN "so-pin-7731"
#define USER_PIN "user-pin-4419"
#define TOKEN_LABEL "tpm-extract"

static const enum hsmca_key_type key_types[] = {
	HSMCA_KEY_EC_P256,
	HSMCA_KEY_EC_P384,
	HSMCA_KEY_RSA_3072,
};
#define NKEYS (sizeof(key_types) / sizeof(key_types[0]))

static const enum hsmca_sigalg all_sigalgs[] = {
	HSMCA_SIG_ECDSA_SHA256, HSMCA_SIG_ECDSA_SHA384,	  HSMCA_SIG_RSA_SHA256,
	HSMCA_SIG_RSA_SHA384,	HSMCA_SIG_RSA_PSS_SHA256, HSMCA_SIG_RSA_PSS_SHA384,
};
#define NSIGALGS (sizeof(all_sigalgs) / sizeof(all_sigalgs[0]))

struct fixture {
	char *dir;
	char sim[4096];
	int guard; /* write end of the pipe the sim guardian waits on */
	hsmca_module *module;
	hsmca_token *token;
	hsmca_key *keys[NKEYS];
	CK_FUNCTION_LIST *fns;
	CK_SESSION_HANDLE raw; /* our own session, outside the token layer */
};

/* ---- the simulator ------------------------------------------------------ */

/* Run `bash scripts/tpm-sim.sh ACTION --dir DIR`; returns its exit status. */
static int sim_run(const char *action, const char *dir)
{
	const char *src = getenv("HSMCA_TEST_SRCDIR");
	char script[4096];
	pid_t pid;
	int status;

	if (!src || snprintf(script, sizeof(script), "%s/scripts/tpm-sim.sh", src) >= (int)sizeof(script))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execlp("bash", "bash", script, action, "--dir", dir, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A child that stops the simulator when this process ends, however it ends
 * (a crashed test must not leave swtpm and tpm2-abrmd running): it waits
 * for EOF on a pipe whose write end only this process holds. */
static int sim_guardian(const char *dir)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[1]);
		setsid(); /* out of the way of signals sent to the test's group */
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(sim_run("stop", dir) == 0 ? 0 : 1);
	}
	close(fds[0]);
	return fds[1];
}

/* Export the KEY=value lines of DIR/env. */
static int sim_env(const char *dir)
{
	char path[4200], line[1024];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/env", dir);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (!eq)
			continue;
		*eq = '\0';
		setenv(line, eq + 1, 1);
		n++;
	}
	fclose(f);
	return n > 0 ? 0 : -1;
}

static pid_t sim_swtpm_pid(const char *dir)
{
	char path[4200];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/swtpm.pid", dir);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = -1;
	fclose(f);
	return (pid_t)pid;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- fixture ------------------------------------------------------------ */

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
	CK_SLOT_ID slot;
	char label[64];
	size_t i;
	CK_RV rv;

	if (!f)
		return -1;
	*state = f;
	f->raw = CK_INVALID_HANDLE;
	f->guard = -1;
	f->dir = hsmca_test_tmpdir();
	if (!f->dir)
		return -1;
	snprintf(f->sim, sizeof(f->sim), "%s/sim", f->dir);
	f->guard = sim_guardian(f->sim);
	if (f->guard < 0 || sim_run("start", f->sim) != 0 || sim_env(f->sim) != 0) {
		fprintf(stderr, "setup: cannot start the TPM simulator in %s\n", f->sim);
		return -1;
	}
	set_pin(&so, SO_PIN);
	set_pin(&user, USER_PIN);
	if (hsmca_module_open(TPM_MODULE, &f->module, &err) != 0 ||
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
	if (f->dir) {
		sim_run("stop", f->sim);
		hsmca_test_rmtree(f->dir);
	}
	if (f->guard >= 0)
		close(f->guard);
	free(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

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

static CK_OBJECT_HANDLE private_of(struct fixture *f, const hsmca_key *k)
{
	const struct hsmca_key_info *ki = hsmca_key_get_info(k);

	return find_by_id(f, CKO_PRIVATE_KEY, ki->id, ki->id_len);
}

static CK_OBJECT_HANDLE public_of(struct fixture *f, const hsmca_key *k)
{
	const struct hsmca_key_info *ki = hsmca_key_get_info(k);

	return find_by_id(f, CKO_PUBLIC_KEY, ki->id, ki->id_len);
}

/* Every object on the token, as seen by our session. */
static CK_ULONG count_objects(struct fixture *f)
{
	CK_OBJECT_HANDLE found[256];
	CK_ULONG n = 0;

	assert_int_equal(f->fns->C_FindObjectsInit(f->raw, NULL, 0), CKR_OK);
	assert_int_equal(f->fns->C_FindObjects(f->raw, found, 256, &n), CKR_OK);
	assert_int_equal(f->fns->C_FindObjectsFinal(f->raw), CKR_OK);
	return n;
}

static bool is_rsa(enum hsmca_key_type t)
{
	return t == HSMCA_KEY_RSA_3072;
}

static CK_BBOOL read_bool(struct fixture *f, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 0x55;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	assert_int_equal(f->fns->C_GetAttributeValue(f->raw, h, &a, 1), CKR_OK);
	assert_int_equal(a.ulValueLen, sizeof(v));
	return v;
}

/* What the key is judged by on a TPM: these never change after generation. */
static void assert_bound(struct fixture *f, CK_OBJECT_HANDLE h)
{
	assert_int_equal(read_bool(f, h, CKA_ALWAYS_SENSITIVE), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_NEVER_EXTRACTABLE), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_LOCAL), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_PRIVATE), CK_TRUE);
	assert_int_equal(read_bool(f, h, CKA_TOKEN), CK_TRUE);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The private value of h cannot be read, with or without a buffer, and
 * nothing lands in the buffer.  libtpm2_pkcs11 answers
 * CKR_ATTRIBUTE_TYPE_INVALID (it has no such attribute: the private part
 * exists only wrapped by the TPM), SoftHSM-style tokens
 * CKR_ATTRIBUTE_SENSITIVE; either is a refusal. */
static void assert_value_unreadable(struct fixture *f, CK_OBJECT_HANDLE h, bool rsa)
{
	static const CK_ATTRIBUTE_TYPE rsa_secret[] = {
		CKA_PRIVATE_EXPONENT, CKA_PRIME_1,	CKA_PRIME_2,
		CKA_EXPONENT_1,	      CKA_EXPONENT_2, CKA_COEFFICIENT,
	};
	static const CK_ATTRIBUTE_TYPE ec_secret[] = { CKA_VALUE };
	const CK_ATTRIBUTE_TYPE *secret = rsa ? rsa_secret : ec_secret;
	size_t n = rsa ? sizeof(rsa_secret) / sizeof(rsa_secret[0]) : 1, j;
	static uint8_t buf[2048];

	for (j = 0; j < n; j++) {
		CK_ATTRIBUTE a = { secret[j], buf, sizeof(buf) };
		CK_RV rv;

		memset(buf, 0, sizeof(buf));
		rv = f->fns->C_GetAttributeValue(f->raw, h, &a, 1);
		assert_true(rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE);
		assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
		assert_true(all_zero(buf, sizeof(buf)));
		a = (CK_ATTRIBUTE){ secret[j], NULL, 0 };
		rv = f->fns->C_GetAttributeValue(f->raw, h, &a, 1);
		assert_true(rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE);
		assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
	}
}

/* C_WrapKey of h under `wrapping` with every mechanism an attacker might
 * pick: refused, nothing written. */
static void assert_unwrappable(struct fixture *f, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE h)
{
	static const CK_MECHANISM_TYPE mechs[] = {
		CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP, CKM_AES_CBC_PAD, CKM_RSA_PKCS_OAEP, CKM_RSA_PKCS,
	};
	static uint8_t out[8192];
	size_t m;

	for (m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++) {
		CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
		uint8_t iv[16] = { 0 };
		CK_MECHANISM mech = { mechs[m], NULL, 0 };
		CK_ULONG len = 0;
		CK_RV rv;

		if (mechs[m] == CKM_RSA_PKCS_OAEP) {
			mech.pParameter = &oaep;
			mech.ulParameterLen = sizeof(oaep);
		} else if (mechs[m] == CKM_AES_CBC_PAD) {
			mech.pParameter = iv;
			mech.ulParameterLen = sizeof(iv);
		}
		rv = f->fns->C_WrapKey(f->raw, &mech, wrapping, h, NULL, &len);
		assert_int_not_equal(rv, CKR_OK);
		memset(out, 0, sizeof(out));
		len = sizeof(out);
		rv = f->fns->C_WrapKey(f->raw, &mech, wrapping, h, out, &len);
		assert_int_not_equal(rv, CKR_OK);
		assert_true(all_zero(out, sizeof(out)));
	}
}

/* ---- tests -------------------------------------------------------------- */

static void test_attributes_read_back(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct hsmca_key_info *ki = hsmca_key_get_info(f->keys[i]);
		CK_OBJECT_HANDLE h = private_of(f, f->keys[i]);

		assert_bound(f, h);
		assert_int_equal(read_bool(f, h, CKA_SENSITIVE), CK_TRUE);
		assert_int_equal(read_bool(f, h, CKA_EXTRACTABLE), CK_FALSE);
		assert_int_equal(read_bool(f, h, CKA_SIGN), CK_TRUE);
		/* hsmca asks for these FALSE on a TPM too ... */
		assert_int_equal(read_bool(f, h, CKA_UNWRAP), CK_FALSE);
		assert_int_equal(read_bool(f, h, CKA_DERIVE), CK_FALSE);
		/* ... but not CKA_DECRYPT, which libtpm2_pkcs11 refuses to set FALSE:
		 * its TPM keys always carry decrypt (docs/tpm.md).  If this starts
		 * failing, the module changed and hsmca should ask for FALSE again. */
		assert_int_equal(read_bool(f, h, CKA_DECRYPT), CK_TRUE);
		/* The token layer reports the same, and calls the key TPM-bound. */
		assert_int_equal(ki->type, key_types[i]);
		assert_true(ki->always_sensitive);
		assert_true(ki->never_extractable);
		assert_true(ki->local);
		assert_true(ki->tpm_bound);
		assert_false(ki->unwrap);
		assert_false(ki->derive);
		assert_true(hsmca_module_is_tpm(f->module));
	}
}

static void test_private_value_unreadable(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[1024];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		CK_OBJECT_HANDLE h = private_of(f, f->keys[i]);
		CK_ATTRIBUTE a;

		assert_value_unreadable(f, h, is_rsa(key_types[i]));
		/* Control: a public attribute of the same object reads fine. */
		if (is_rsa(key_types[i])) {
			a = (CK_ATTRIBUTE){ CKA_MODULUS, buf, sizeof(buf) };
			assert_int_equal(f->fns->C_GetAttributeValue(f->raw, h, &a, 1), CKR_OK);
			assert_int_equal(a.ulValueLen, 384);
		} else {
			a = (CK_ATTRIBUTE){ CKA_EC_PARAMS, buf, sizeof(buf) };
			assert_int_equal(f->fns->C_GetAttributeValue(f->raw, h, &a, 1), CKR_OK);
			assert_true(a.ulValueLen > 2);
		}
	}
}

static void test_wrap_refused(void **state)
{
	struct fixture *f = *state;
	CK_OBJECT_HANDLE rsa_pub = CK_INVALID_HANDLE;
	size_t i;

	/* Wrapping keys an attacker has: the RSA public key on the token, and
	 * any of the other keys' handles. */
	for (i = 0; i < NKEYS; i++)
		if (is_rsa(key_types[i]))
			rsa_pub = public_of(f, f->keys[i]);
	assert_int_not_equal(rsa_pub, CK_INVALID_HANDLE);
	for (i = 0; i < NKEYS; i++) {
		CK_OBJECT_HANDLE h = private_of(f, f->keys[i]);

		assert_unwrappable(f, rsa_pub, h);
		assert_unwrappable(f, private_of(f, f->keys[(i + 1) % NKEYS]), h);
	}
}

/* libtpm2_pkcs11 lets CKA_EXTRACTABLE be set TRUE and CKA_SENSITIVE FALSE
 * after generation (docs/tpm.md).  That changes the flags, not the key: it
 * still cannot be read, wrapped or copied out, the never/always attributes
 * stay TRUE, and the token layer still proves it TPM-bound. */
static void test_weakened_flags_do_not_free_the_key(void **state)
{
	struct fixture *f = *state;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE ext = { CKA_EXTRACTABLE, &yes, sizeof(yes) };
	CK_ATTRIBUTE sens = { CKA_SENSITIVE, &no, sizeof(no) };
	hsmca_error err = { "", 0 };
	hsmca_key *k = NULL, *again = NULL;
	CK_OBJECT_HANDLE h, copy = CK_INVALID_HANDLE;
	uint8_t sig[HSMCA_SIG_MAX];
	size_t siglen = 0;
	CK_RV rv;

	assert_int_equal(hsmca_key_generate(f->token, HSMCA_KEY_EC_P256, "weakened", &k, &err), 0);
	h = private_of(f, k);
	rv = f->fns->C_SetAttributeValue(f->raw, h, &ext, 1);
	if (rv == CKR_OK)
		assert_int_equal(read_bool(f, h, CKA_EXTRACTABLE), CK_TRUE);
	rv = f->fns->C_SetAttributeValue(f->raw, h, &sens, 1);
	if (rv == CKR_OK)
		assert_int_equal(read_bool(f, h, CKA_SENSITIVE), CK_FALSE);

	assert_bound(f, h);
	assert_value_unreadable(f, h, false);
	assert_unwrappable(f, private_of(f, f->keys[0]), h);
	rv = f->fns->C_CopyObject(f->raw, h, &ext, 1, &copy);
	if (rv == CKR_OK) {
		assert_value_unreadable(f, copy, false);
		assert_unwrappable(f, private_of(f, f->keys[0]), copy);
		f->fns->C_DestroyObject(f->raw, copy);
	}

	/* The token layer, reading afresh, sees the flipped flags but still
	 * proves the key by the attributes that cannot flip. */
	assert_int_equal(hsmca_key_find(f->token, "weakened", &again, &err), 0);
	assert_true(hsmca_key_get_info(again)->always_sensitive);
	assert_true(hsmca_key_get_info(again)->never_extractable);
	assert_true(hsmca_key_get_info(again)->local);
	assert_true(hsmca_key_get_info(again)->tpm_bound);
	/* The key still works, from inside the TPM only. */
	assert_int_equal(hsmca_key_sign(again, HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)"m", 1, sig,
					&siglen, &err),
			 0);
	assert_int_equal(hsmca_verify_sig(hsmca_key_pkey(again), HSMCA_SIG_ECDSA_SHA256,
					  (const uint8_t *)"m", 1, sig, siglen, &err),
			 0);
	assert_int_equal(hsmca_key_destroy(again, &err), 0);
	hsmca_key_free(again);
	hsmca_key_free(k);
}

static void test_signatures_verify(void **state)
{
	static const uint8_t msg[] = "tbsCertificate stand-in";
	struct fixture *f = *state;
	uint8_t sig[HSMCA_SIG_MAX];
	size_t i, a, siglen;
	hsmca_error err = { "", 0 };

	for (i = 0; i < NKEYS; i++) {
		hsmca_key *k = f->keys[i];
		int fitting = 0;

		for (a = 0; a < NSIGALGS; a++) {
			if (!hsmca_sigalg_fits(all_sigalgs[a], key_types[i]))
				continue;
			fitting++;
			siglen = 0;
			if (hsmca_key_sign(k, all_sigalgs[a], msg, sizeof(msg), sig, &siglen, &err) != 0)
				fail_msg("%s / %s: %s", hsmca_key_type_name(key_types[i]),
					 hsmca_sigalg_name(all_sigalgs[a]), err.msg);
			assert_int_equal(hsmca_verify_sig(hsmca_key_pkey(k), all_sigalgs[a], msg, sizeof(msg),
							  sig, siglen, &err),
					 0);
			sig[siglen / 2] ^= 0x40;
			assert_int_equal(hsmca_verify_sig(hsmca_key_pkey(k), all_sigalgs[a], msg, sizeof(msg),
							  sig, siglen, &err),
					 -1);
		}
		assert_true(fitting >= 2);
	}
}

/* ed25519 and rsa-4096 are refused with a clear message before anything
 * is created. */
static void test_unsupported_types_refused(void **state)
{
	static const enum hsmca_key_type refused[] = { HSMCA_KEY_ED25519, HSMCA_KEY_RSA_4096 };
	struct fixture *f = *state;
	CK_ULONG before = count_objects(f);
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		hsmca_error err = { "", 0 };
		hsmca_key *k = NULL;
		char want[64];
		bool exists = true;

		assert_int_equal(hsmca_key_generate(f->token, refused[i], "refused", &k, &err), -1);
		assert_null(k);
		snprintf(want, sizeof(want), "this TPM does not support %s keys",
			 hsmca_key_type_name(refused[i]));
		if (!strstr(err.msg, want) || !strstr(err.msg, "nothing was created"))
			fail_msg("unexpected message: %s", err.msg);
		assert_int_equal(hsmca_key_label_exists(f->token, "refused", &exists, &err), 0);
		assert_false(exists);
	}
	assert_int_equal(count_objects(f), before);
}

/* The watchdog: swtpm stopped (SIGSTOP) makes C_Sign block; after the
 * deadline the callback runs, once, naming the call.  Here the callback
 * lets swtpm go on (SIGCONT) and the signature then completes; the CLI's
 * callback exits instead. */
static struct {
	pid_t swtpm;
	atomic_int calls;
	char call[64];
	unsigned seconds;
	double at;
} stall;

static void on_stall(void *arg, const char *call, unsigned seconds)
{
	(void)arg;
	snprintf(stall.call, sizeof(stall.call), "%s", call);
	stall.seconds = seconds;
	stall.at = now_s();
	atomic_fetch_add(&stall.calls, 1);
	kill(stall.swtpm, SIGCONT);
}

static void test_watchdog_on_stalled_tpm(void **state)
{
	struct fixture *f = *state;
	hsmca_error err = { "", 0 };
	uint8_t sig[HSMCA_SIG_MAX];
	size_t siglen = 0;
	double t0, t1;

	stall.swtpm = sim_swtpm_pid(f->sim);
	assert_true(stall.swtpm > 1);
	assert_int_equal(hsmca_token_watchdog(2, on_stall, NULL, &err), 0);
	/* Normal calls, quicker than the deadline, do not trigger it. */
	assert_int_equal(hsmca_key_sign(f->keys[0], HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)"a", 1,
					sig, &siglen, &err),
			 0);
	sleep(3); /* idle: nothing in flight, nothing to report */
	assert_int_equal(atomic_load(&stall.calls), 0);

	assert_int_equal(kill(stall.swtpm, SIGSTOP), 0);
	t0 = now_s();
	if (hsmca_key_sign(f->keys[0], HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)"b", 1, sig, &siglen,
			   &err) != 0) {
		kill(stall.swtpm, SIGCONT);
		fail_msg("sign after SIGCONT: %s", err.msg);
	}
	t1 = now_s();
	kill(stall.swtpm, SIGCONT);
	assert_int_equal(hsmca_token_watchdog(0, NULL, NULL, &err), 0);
	assert_int_equal(atomic_load(&stall.calls), 1);
	assert_string_equal(stall.call, "C_Sign");
	assert_int_equal(stall.seconds, 2);
	/* It fired after the deadline (with the 0.25 s polling), not before,
	 * and the call had been blocked until then. */
	assert_true(stall.at - t0 >= 2.0 && stall.at - t0 < 10.0);
	assert_true(t1 >= stall.at);
	assert_int_equal(hsmca_verify_sig(hsmca_key_pkey(f->keys[0]), HSMCA_SIG_ECDSA_SHA256,
					  (const uint8_t *)"b", 1, sig, siglen, &err),
			 0);
}

/* Last: swtpm is killed under a logged-in session.  The next signature
 * fails within seconds (no hang), with a message that says the TPM
 * stopped responding and names the TCTI; later calls keep failing the same
 * way, and closing everything does not crash. */
static void test_tpm_gone_is_named(void **state)
{
	struct fixture *f = *state;
	hsmca_error err = { "", 0 };
	hsmca_key *k = NULL;
	uint8_t sig[HSMCA_SIG_MAX];
	size_t siglen = 0;
	pid_t pid = sim_swtpm_pid(f->sim);
	const char *tcti = getenv("TPM2_PKCS11_TCTI");
	double t0;
	int i;

	assert_true(pid > 1);
	assert_non_null(tcti);
	/* It works before. */
	assert_int_equal(hsmca_key_sign(f->keys[0], HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)"x", 1,
					sig, &siglen, &err),
			 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	for (i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(50000);

	t0 = now_s();
	assert_int_equal(hsmca_key_sign(f->keys[0], HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)"x", 1,
					sig, &siglen, &err),
			 -1);
	assert_true(now_s() - t0 < 10.0);
	assert_int_equal(err.code, CKR_GENERAL_ERROR);
	if (!strstr(err.msg, "the TPM stopped responding") || !strstr(err.msg, tcti) ||
	    !strstr(err.msg, "CKR_GENERAL_ERROR"))
		fail_msg("unexpected message: %s", err.msg);

	hsmca_error_clear(&err);
	t0 = now_s();
	assert_int_equal(hsmca_key_generate(f->token, HSMCA_KEY_EC_P256, "after-death", &k, &err), -1);
	assert_true(now_s() - t0 < 10.0);
	assert_null(k);
	if (!strstr(err.msg, "the TPM stopped responding"))
		fail_msg("unexpected message: %s", err.msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attributes_read_back),
		cmocka_unit_test(test_private_value_unreadable),
		cmocka_unit_test(test_wrap_refused),
		cmocka_unit_test(test_weakened_flags_do_not_free_the_key),
		cmocka_unit_test(test_signatures_verify),
		cmocka_unit_test(test_unsupported_types_refused),
		cmocka_unit_test(test_watchdog_on_stalled_tpm),
		cmocka_unit_test(test_tpm_gone_is_named),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
