/* Fuzz the tenant (Kamaji) rotation journal reader: tj_load, then the
 * lookups resume makes over what it read. */
#include <stdint.h>

#include "fuzz_util.h"
#include "tenant/tenant_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char home[300];
	static const char *const steps[] = { "plan", "issue", "wait", "prove", "retire", "done" };
	struct tjournal j;
	hsmca_error err;
	char path[400];
	size_t i;

	if (size > 1024 * 1024)
		return 0;
	if (!home[0]) {
		fuzz_mkdir("h", home, sizeof(home));
		fuzz_mkdir("h/tenant", path, sizeof(path));
		fuzz_mkdir("h/tenant/ns-t", path, sizeof(path));
	}
	fuzz_write("h/tenant/ns-t/journal.jsonl", data, size, path, sizeof(path));
	if (tj_init(&j, home, "ns", "t", &err) != 0)
		return 0;
	if (tj_load(&j, &err) == 0) {
		(void)tj_last_step(&j);
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
			(void)tj_last(&j, steps[i]);
	}
	tj_free(&j);
	return 0;
}
