/* Fuzz the Talos machine-config splicer on configs as nodes return them:
 * accepted-CA list, add and remove (each result is re-parsed and compared
 * with the original by the splicer itself), and machine.type.  The first
 * byte picks the target list. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_ca.h"
#include "talos/mconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum hsmca_mconfig_target t;
	uint8_t (*fps)[32] = NULL;
	uint8_t *out = NULL;
	size_t n = 0, outlen = 0;
	hsmca_error err;
	char type[32];
	bool changed;

	if (size < 1 || size > 256 * 1024)
		return 0;
	t = (data[0] & 1) ? HSMCA_MCONFIG_CLUSTER_ACCEPTED : HSMCA_MCONFIG_MACHINE_ACCEPTED;
	data++;
	size--;
	if (hsmca_mconfig_accepted_list(data, size, t, &fps, &n, &err) == 0)
		free(fps);
	(void)hsmca_mconfig_machine_type(data, size, type, sizeof(type), &err);
	if (hsmca_mconfig_accepted_add(data, size, t, fuzz_ca_pem, &out, &outlen, &changed,
				       &err) == 0) {
		uint8_t *back = NULL;
		size_t backlen = 0;

		/* What add wrote must be removable again. */
		if (hsmca_mconfig_accepted_remove(out, outlen, t, fuzz_ca_pem, &back, &backlen,
						  &changed, &err) != 0)
			__builtin_trap();
		free(back);
		free(out);
	}
	out = NULL;
	if (hsmca_mconfig_accepted_remove(data, size, t, fuzz_ca_pem, &out, &outlen, &changed,
					  &err) == 0)
		free(out);
	return 0;
}
