/* SHA-256/384/512 of a buffer, through OpenSSL's low-level calls.
 *
 * The one-shot SHA256() and EVP_Digest() fetch the digest from the provider,
 * under the store's lock, on every call; issuance hashes several times per
 * certificate on several threads, so the hot paths use these instead.
 * (Deprecated in OpenSSL 3.0, like the EC_KEY calls of the fast paths.) */
#ifndef HSMCA_COMMON_SHA2_H
#define HSMCA_COMMON_SHA2_H

#include <stddef.h>
#include <stdint.h>

/* md receives bits / 8 bytes; bits is 256, 384 or 512 (anything else: 512). */
void hsmca_sha2(int bits, const void *p, size_t n, uint8_t *md);

#endif
