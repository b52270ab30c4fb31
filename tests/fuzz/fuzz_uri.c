/* Fuzz the RFC 7512 pkcs11: URI checks and attribute decoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const attrs[] = { "module-path", "module-name", "pin-source", "object",
					     "token", "id", "type", "serial", "slot-id", "" };
	char out[256], small[4];
	hsmca_error err;
	char *uri;
	size_t i;

	if (size > 8192)
		return 0;
	uri = malloc(size + 1);
	if (!uri)
		return 0;
	memcpy(uri, data, size);
	uri[size] = '\0';
	(void)hsmca_uri_check(uri, &err);
	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		int rc = hsmca_uri_get(uri, attrs[i], out, sizeof(out), &err);

		if (rc == 1 && memchr(out, '\0', sizeof(out)) == NULL)
			__builtin_trap();
		(void)hsmca_uri_get(uri, attrs[i], small, sizeof(small), &err);
	}
	free(uri);
	return 0;
}
