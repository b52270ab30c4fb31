/* libhsmca — the public API.
 *
 * A CA whose keys stay inside a PKCS#11 token or TPM.  Every type is
 * opaque; every function returns 0 on success and -1 on failure, after
 * which hsmca_last_error() says why.  The library never prints and never
 * exits.  An hsmca_ctx is used by one thread at a time.
 *
 * PINs are taken from a pin source ("file:PATH", "env:VAR"), never as a
 * string argument, and are wiped after use. */
#ifndef HSMCA_HSMCA_H
#define HSMCA_HSMCA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HSMCA_API __attribute__((visibility("default")))

typedef struct hsmca_ctx hsmca_ctx;

/* The library version, e.g. "0.1.0". */
HSMCA_API const char *hsmca_version(void);

/* Open the state directory `home` (NULL: $HSMCA_HOME, else
 * ~/.local/share/hsmca), its module and token, and log in with the PIN
 * from `pin_source` (NULL: the state directory's configured source).
 * On failure returns NULL and, when errbuf is not NULL, writes the reason
 * there (NUL-terminated, truncated to errlen). */
HSMCA_API hsmca_ctx *hsmca_open(const char *home, const char *pin_source, char *errbuf,
				size_t errlen);

/* Close the token session and finalise the module.  NULL is fine. */
HSMCA_API void hsmca_close(hsmca_ctx *ctx);

/* The message of the last failed call on ctx ("" if none).  Owned by ctx,
 * valid until the next call. */
HSMCA_API const char *hsmca_last_error(const hsmca_ctx *ctx);

/* The PEM certificate of CA `name`; *pem is malloc'ed (free()). */
HSMCA_API int hsmca_ca_certificate(hsmca_ctx *ctx, const char *name, char **pem, size_t *len);

/* Sign a PEM or DER certificate signing request with CA `ca` under
 * profile `profile`, in the token.  The certificate is linted, verified
 * and recorded before it is returned as PEM in *pem (free()). */
HSMCA_API int hsmca_sign_csr(hsmca_ctx *ctx, const char *ca, const char *profile,
			     const uint8_t *csr, size_t csr_len, char **pem, size_t *len);

/* Verify the audit log's hash chain; *lines receives the line count. */
HSMCA_API int hsmca_audit_check(hsmca_ctx *ctx, size_t *lines);

#ifdef __cplusplus
}
#endif

#endif
