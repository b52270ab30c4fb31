/* Fuzz the rotation journal reader (hsmca_rot_journal_load): the plan line,
 * then every event replayed into the step state, torn tails. */
#include <stdint.h>

#include "fuzz_util.h"
#include "rotate/rot_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char home[300];
	struct hsmca_rot_plan plan;
	struct hsmca_rot_jstate st;
	hsmca_error err;
	char path[400];

	if (size > 1024 * 1024)
		return 0;
	if (!home[0]) {
		fuzz_mkdir("h", home, sizeof(home));
		fuzz_mkdir("h/rotate", path, sizeof(path));
	}
	fuzz_write("h/rotate/journal", data, size, path, sizeof(path));
	if (hsmca_rot_journal_load(home, &plan, &st, NULL, &err) == 0) {
		hsmca_rot_plan_free(&plan);
		hsmca_rot_jstate_free(&st);
	}
	return 0;
}
