/* Fuzz the CA certificate reader: <home>/cas/<name>/ca.pem as hsmca_ca_load()
 * reads it (PEM, re-encode, subject key id, validity, subject located in the
 * DER and formatted, fingerprint).  ca.yaml is fixed; the input is ca.pem. */
#include <stdint.h>

#include "ca/ca.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ca_yaml[] = "version: 1\nname: \"f\"\nkind: \"root\"\nparent: \"\"\n"
			      "key_label: \"f-key\"\nkey_uri: \"pkcs11:object=f-key\"\n"
			      "signature: \"ecdsa-sha256\"\ncreated: \"2026-01-01T00:00:00Z\"\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char home[300];
	char path[400];
	struct hsmca_ca *ca = NULL;
	hsmca_error err;

	if (size > 64 * 1024)
		return 0;
	if (!home[0]) {
		fuzz_mkdir("h", home, sizeof(home));
		fuzz_mkdir("h/cas", path, sizeof(path));
		fuzz_mkdir("h/cas/f", path, sizeof(path));
		fuzz_write("h/cas/f/ca.yaml", ca_yaml, sizeof(ca_yaml) - 1, path, sizeof(path));
	}
	fuzz_write("h/cas/f/ca.pem", data, size, path, sizeof(path));
	if (hsmca_ca_load(home, "f", &ca, &err) == 0)
		hsmca_ca_free(ca);
	return 0;
}
