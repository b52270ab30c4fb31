#include "common/b64.h"

#include <stdlib.h>

#include <openssl/evp.h>

#include "common/util.h"

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* A strict hand decoder: EVP_DecodeBlock would accept garbage after padding
 * and cannot say how many pad bytes there were. */
int hsmca_b64_decode(const char *in, size_t inlen, const char *what, uint8_t **out,
			   size_t *outlen, hsmca_error *err)
{
	uint8_t *buf;
	size_t i, n = 0, pad = 0, digits = 0;
	uint32_t acc = 0;

	buf = malloc(inlen / 4 * 3 + 4);
	if (!buf)
		return hsmca_error_set(err, "decode %s: out of memory", what);
	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad > 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		digits++;
		if (digits % 4 == 0) {
			buf[n++] = (uint8_t)(acc >> 16);
			buf[n++] = (uint8_t)(acc >> 8);
			buf[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	switch (digits % 4) {
	case 0:
		if (pad != 0)
			goto bad;
		break;
	case 2:
		if (pad != 0 && pad != 2)
			goto bad;
		buf[n++] = (uint8_t)(acc >> 4);
		break;
	case 3:
		if (pad != 0 && pad != 1)
			goto bad;
		buf[n++] = (uint8_t)(acc >> 10);
		buf[n++] = (uint8_t)(acc >> 2);
		break;
	default:
		goto bad;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	hsmca_wipe(&acc, sizeof(acc));
	return 0;
bad:
	hsmca_wipe(buf, inlen / 4 * 3 + 4);
	hsmca_wipe(&acc, sizeof(acc));
	free(buf);
	return hsmca_error_set(err, "decode %s: not valid base64", what);
}

int hsmca_b64_encode(const uint8_t *in, size_t inlen, char **out, hsmca_error *err)
{
	size_t cap = (inlen + 2) / 3 * 4 + 1;
	char *buf;

	if (inlen > (size_t)INT32_MAX)
		return hsmca_error_set(err, "base64 encode: input too large");
	buf = malloc(cap);
	if (!buf)
		return hsmca_error_set(err, "base64 encode: out of memory");
	EVP_EncodeBlock((unsigned char *)buf, in, (int)inlen);
	*out = buf;
	return 0;
}
