/* Private structures of the token layer, shared by its .c files only. */
#ifndef HSMCA_PKCS11_INTERNAL_H
#define HSMCA_PKCS11_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>

#include "pkcs11/token.h"

struct hsmca_module {
	CK_FUNCTION_LIST *fns;	  /* what to call: `loaded`, or its watchdog wrapper */
	CK_FUNCTION_LIST *loaded; /* what p11-kit loaded, to release */
	char path[PATH_MAX];
	char manufacturer[33];
	char description[33];
	bool is_tpm;
	bool is_software;
	/* Set when a TPM failure was probed and the TPM no longer answers:
	 * libtpm2_pkcs11 cannot reconnect, so later signatures fail at once
	 * instead of each asking (and logging to stderr) again.  Worker
	 * threads share the module, hence atomic. */
	atomic_bool tpm_gone;
};

struct hsmca_token {
	hsmca_module *module;
	CK_FUNCTION_LIST *fns;
	CK_SESSION_HANDLE session;
	struct hsmca_token_info info;
};

struct hsmca_key {
	hsmca_token *token;
	CK_OBJECT_HANDLE priv;
	CK_OBJECT_HANDLE pub; /* CK_INVALID_HANDLE if the token has no public object */
	struct hsmca_key_info info;
	uint8_t *spki;
	size_t spki_len;
	EVP_PKEY *pkey;
};

/* Copy a blank-padded PKCS#11 string into a NUL-terminated, trimmed buffer. */
void hsmca_p11_string(char *out, size_t outlen, const CK_UTF8CHAR *in, size_t inlen);

/* Read the public key of (pub, priv) into k->spki / k->pkey. */
int hsmca_key_load_public(struct hsmca_key *k, hsmca_error *err);

/* Fill k->info from the private key's attributes. */
int hsmca_key_read_info(struct hsmca_key *k, hsmca_error *err);

/* ---- TPM (libtpm2_pkcs11), pkcs11/tpm.c ---- */

/* Whether a module path names libtpm2_pkcs11 (decided before loading it). */
bool hsmca_tpm_module_path(const char *path);

/* Before loading libtpm2_pkcs11: TPM2_PKCS11_LOG_LEVEL=0 and
 * TSS2_LOG=all+NONE, each only if the user has not set it.  Not thread-safe
 * (setenv); called while opening the module. */
void hsmca_tpm_prepare_env(void);

/* The TCTI the module uses, for messages ($TPM2_PKCS11_TCTI or a
 * description of the TSS default).  Never NULL. */
const char *hsmca_tpm_tcti(void);

/* Like hsmca_ckr_error(), but on a TPM module a CKR_GENERAL_ERROR (and the
 * like) says whether the TPM stopped answering — probed with one
 * C_GenerateRandom on `probe` unless it is CK_INVALID_HANDLE, and then
 * remembered in m->tpm_gone — or refused this request, and names the
 * TCTI.  m may be NULL.  Returns -1. */
int hsmca_p11_error(hsmca_module *m, CK_SESSION_HANDLE probe, hsmca_error *err, CK_RV rv,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* hsmca_p11_error() for a call made on token t's session. */
#define hsmca_token_error(t, err, rv, ...) \
	hsmca_p11_error((t)->module, (t)->session, (err), (rv), __VA_ARGS__)

/* The TPM module's function list with every entry the token layer uses
 * wrapped for the watchdog (pkcs11/watchdog.c); fns itself if another list
 * is already wrapped in this process. */
CK_FUNCTION_LIST *hsmca_watchdog_wrap(CK_FUNCTION_LIST *fns);

/* Percent-encode (RFC 3986 unreserved kept unless `all`). */
void hsmca_uri_escape(char *out, size_t outlen, const uint8_t *in, size_t n, bool all);

#endif
