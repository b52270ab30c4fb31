/* Low-level SHA-2 (sha2.h). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/sha2.h"

#include <openssl/sha.h>

void hsmca_sha2(int bits, const void *p, size_t n, uint8_t *md)
{
	if (bits == 256) {
		SHA256_CTX c;

		SHA256_Init(&c);
		SHA256_Update(&c, p, n);
		SHA256_Final(md, &c);
	} else {
		SHA512_CTX c;

		if (bits == 384)
			SHA384_Init(&c);
		else
			SHA512_Init(&c);
		SHA512_Update(&c, p, n);
		if (bits == 384)
			SHA384_Final(md, &c);
		else
			SHA512_Final(md, &c);
	}
}
