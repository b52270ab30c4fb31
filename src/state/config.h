/* The state directory and its configuration file, hsmca.yaml.
 *
 *   <home>/hsmca.yaml       module, token URI, PIN source, embedded token settings
 *   <home>/audit.log        hash-chained audit log (audit.h)
 *   <home>/cas/<name>/      CA certificates and metadata (ca.h)
 *   <home>/softhsm2.conf    only for the embedded development token
 *   <home>/tokens/          its SoftHSM2 token store
 */
#ifndef HSMCA_CONFIG_H
#define HSMCA_CONFIG_H

#include <limits.h>
#include <stdbool.h>

#include "common/error.h"

struct hsmca_config {
	char module[PATH_MAX];      /* path or p11-kit name */
	char token[512];            /* pkcs11: URI of the token */
	char pin_source[PATH_MAX];  /* default user PIN source, "" = prompt */
	char softhsm2_conf[PATH_MAX]; /* embedded SoftHSM2 config, "" if none */
	char tpm_store[PATH_MAX];   /* libtpm2_pkcs11 store dir, "" if none */
	char tpm_tcti[512];         /* TCTI string for the TPM token */
};

/* The state directory: `flag` (--home), else $HSMCA_HOME, else
 * $HOME/.local/share/hsmca.  If it exists, it and everything in it must pass
 * hsmca_secure_tree() (owned by you or root, writable by nobody else, and
 * so every parent up to "/"): otherwise -1 with the offending path and fix.
 * A directory that does not exist is returned without a check. */
int hsmca_home_resolve(const char *flag, char *out, size_t outlen, hsmca_error *err);

/* Load <home>/hsmca.yaml strictly (unknown keys are errors with line numbers). */
int hsmca_config_load(const char *home, struct hsmca_config *cfg, hsmca_error *err);
/* Write <home>/hsmca.yaml atomically. */
int hsmca_config_save(const char *home, const struct hsmca_config *cfg, hsmca_error *err);
/* Whether <home>/hsmca.yaml exists. */
bool hsmca_config_exists(const char *home);

/* Export the environment a module needs for this config (SOFTHSM2_CONF for
 * the embedded token, TPM2_PKCS11_STORE / TPM2_PKCS11_TCTI for a TPM). */
void hsmca_config_apply_env(const struct hsmca_config *cfg);

#endif
