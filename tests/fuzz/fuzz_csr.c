/* Fuzz the CSR path an untrusted requester reaches first: PEM/DER decoding,
 * the strict DER walk with requested extensions, and signature checking. */
#include <stdint.h>
#include <stdlib.h>

#include "issue/issue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmca_csr csr;
	hsmca_error err;
	const uint8_t *der;
	size_t der_len;
	uint8_t *scratch;

	if (size > HSMCA_CSR_MAX)
		return 0;
	scratch = malloc(size + 1);
	if (!scratch)
		return 0;
	if (hsmca_csr_decode(data, size, scratch, &der, &der_len, &err) == 0 &&
	    hsmca_csr_parse(der, der_len, &csr, &err) == 0)
		(void)hsmca_csr_verify(&csr, 2048, &err);
	free(scratch);
	return 0;
}
