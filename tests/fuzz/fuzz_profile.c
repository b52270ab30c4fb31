/* Fuzz the custom profile reader: <home>/profiles/<name>.yaml as
 * hsmca_profile_get() loads it, then every formatter over the result. */
#include <stdint.h>

#include "fuzz_util.h"
#include "issue/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char home[300];
	char path[400], buf[512];
	struct hsmca_profile_def def;
	hsmca_error err;

	if (size > 128 * 1024)
		return 0;
	if (!home[0]) {
		fuzz_mkdir("h", home, sizeof(home));
		fuzz_mkdir("h/profiles", path, sizeof(path));
	}
	fuzz_write("h/profiles/fz.yaml", data, size, path, sizeof(path));
	if (hsmca_profile_get(home, "fz", &def, &err) == 0) {
		hsmca_ku_format(def.key_usage, buf, sizeof(buf));
		hsmca_eku_format(def.ext_key_usage, buf, sizeof(buf));
		hsmca_san_kinds_format(def.san_kinds, buf, sizeof(buf));
	}
	return 0;
}
