/* Shared helpers for unit tests that need a real SoftHSM2 token. */
#ifndef HSMCA_TESTUTIL_H
#define HSMCA_TESTUTIL_H

#include <stddef.h>

/* Create a temporary directory (mkdtemp) under $TMPDIR; returns a static path buffer copy. */
char *hsmca_test_tmpdir(void);
/* Remove a directory tree (rm -rf). */
void hsmca_test_rmtree(const char *dir);
/* Create a private SoftHSM2 configuration and token store under dir and set
 * SOFTHSM2_CONF.  Returns the SoftHSM2 module path. */
const char *hsmca_test_softhsm(const char *dir);

/* A private key made now (EC P-256, PKCS#8 DER) in PEM under `label`
 * ("PRIVATE KEY", "EC PRIVATE KEY", "ED25519 PRIVATE KEY", …): test data
 * that is a real key without one being kept in the repository.  The same
 * label returns the same text for the life of the process; do not free. */
const char *hsmca_test_key_pem(const char *label);

#define HSMCA_TEST_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

#endif
