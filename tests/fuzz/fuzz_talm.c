/* Fuzz talm node files: the modeline (JSON arrays after "# talm:"), the
 * node-file parser (modeline placement, machine.type of the body) and the
 * accepted-CA edit of a body or patch text.  The first byte picks the
 * target list and add or remove. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_ca.h"
#include "talos/talm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmca_talm_node_file f;
	struct hsmca_talm_modeline ml;
	enum hsmca_mconfig_target t;
	uint8_t *out = NULL;
	size_t outlen = 0;
	hsmca_error err;
	bool add, changed;

	if (size < 1 || size > 256 * 1024)
		return 0;
	t = (data[0] & 1) ? HSMCA_MCONFIG_CLUSTER_ACCEPTED : HSMCA_MCONFIG_MACHINE_ACCEPTED;
	add = (data[0] & 2) != 0;
	data++;
	size--;
	if (hsmca_talm_parse_modeline((const char *)data, size, &ml, &err) == 0)
		hsmca_talm_modeline_free(&ml);
	if (hsmca_talm_node_file_parse(data, size, "fuzz.yaml", &f, &err) == 0)
		hsmca_talm_node_file_free(&f);
	if (hsmca_talm_body_accepted_edit(data, size, t, fuzz_ca_pem, add, &out, &outlen, &changed,
					  &err) == 0)
		free(out);
	return 0;
}
