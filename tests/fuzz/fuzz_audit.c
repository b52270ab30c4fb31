/* Fuzz audit log reading: each line through the strict line parser, and the
 * whole log (with its .head file) through hsmca_audit_verify, the hash-chain
 * check.  Input: the log, then "\n----\n", then the head file. */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "audit/audit.h"
#include "audit/audit_line.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmca_audit_rec rec;
	json_tokener *tok;
	const uint8_t *rest;
	size_t first, rest_len, i, lines = 0, bad = 0;
	hsmca_error err;
	char path[400];

	if (size > 1024 * 1024)
		return 0;
	fuzz_split(data, size, &first, &rest, &rest_len);
	tok = hsmca_audit_tokener_new(&err);
	if (!tok)
		return 0;
	for (i = 0; i < first;) {
		const uint8_t *nl = memchr(data + i, '\n', first - i);
		size_t n = nl ? (size_t)(nl - (data + i)) : first - i;

		(void)hsmca_audit_line_parse(tok, (const char *)data + i, n, &rec, &err);
		i += n + 1;
	}
	json_tokener_free(tok);
	fuzz_write("audit.log.head", rest, rest_len, path, sizeof(path));
	fuzz_write("audit.log", data, first, path, sizeof(path));
	(void)hsmca_audit_verify(path, &lines, &bad, &err);
	return 0;
}
