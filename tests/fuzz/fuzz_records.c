/* Fuzz the issuance records and revocations of a CA directory: issued.jsonl
 * (every record read; the serial set loaded with torn-tail repair) and
 * revoked.jsonl (read, sorted, searched).  Input: issued.jsonl, then
 * "\n----\n", then revoked.jsonl. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "store/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(const struct hsmca_record *rec, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[300];
	struct hsmca_revocation *revs = NULL;
	hsmca_records *r = NULL;
	const uint8_t *rest;
	size_t first, rest_len, n = 0, seen = 0, i;
	hsmca_error err;
	char path[400];

	if (size > 1024 * 1024)
		return 0;
	if (!dir[0])
		fuzz_mkdir("ca", dir, sizeof(dir));
	fuzz_split(data, size, &first, &rest, &rest_len);
	fuzz_write("ca/issued.jsonl", data, first, path, sizeof(path));
	fuzz_write("ca/revoked.jsonl", rest, rest_len, path, sizeof(path));
	(void)hsmca_records_foreach(dir, count, &seen, &err);
	if (hsmca_revocations(dir, &revs, &n, &err) == 0) {
		hsmca_revocations_sort(revs, n);
		for (i = 0; i < n; i++)
			if (hsmca_revocations_find(revs, n, revs[i].serial, revs[i].serial_len) == NULL)
				__builtin_trap();
		free(revs);
	}
	if (hsmca_records_open(dir, &r, &err) == 0) {
		static const uint8_t probe[] = { 0x01, 0x02 };

		(void)hsmca_records_has_serial(r, probe, sizeof(probe));
		hsmca_records_close(r);
	}
	return 0;
}
