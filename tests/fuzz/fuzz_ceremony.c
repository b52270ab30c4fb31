/* Fuzz the ceremony file reader (hsmca_ceremony_load). */
#include <stdint.h>

#include "ca/ceremony.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[400];
	struct hsmca_ceremony c;
	hsmca_error err;

	if (size > 128 * 1024)
		return 0;
	fuzz_write("ceremony.yaml", data, size, path, sizeof(path));
	(void)hsmca_ceremony_load(path, &c, &err);
	return 0;
}
