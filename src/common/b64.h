/* Base64 for Talos configs (standard alphabet, padded, single line). */
#ifndef HSMCA_COMMON_B64_H
#define HSMCA_COMMON_B64_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Decode standard base64; ASCII whitespace is skipped.  *out is a fresh
 * buffer, NUL-terminated one past *outlen; the caller frees it (and wipes it
 * first when the input was secret).  `what` names the input in errors. */
int hsmca_b64_decode(const char *in, size_t inlen, const char *what, uint8_t **out,
			   size_t *outlen, hsmca_error *err);

/* Encode to one padded line, NUL-terminated; the caller frees *out. */
int hsmca_b64_encode(const uint8_t *in, size_t inlen, char **out, hsmca_error *err);

#endif
