#include "yaml/ybound.h"

#include <stdint.h>

int hsmca_yaml_precheck(const void *buf, size_t len, size_t max_bytes, const char *what,
			hsmca_error *err)
{
	const uint8_t *p = buf;
	size_t i, depth = 0, line = 1;

	if (len > max_bytes)
		return hsmca_error_set(err, "parse %s: %zu bytes, more than the %zu-byte limit", what,
				       len, max_bytes);
	for (i = 0; i < len; i++) {
		switch (p[i]) {
		case '\n':
			line++;
			break;
		case '[':
		case '{':
			if (++depth > HSMCA_YAML_MAX_FLOW_DEPTH)
				return hsmca_error_set(err, "parse %s: line %zu: flow collections nested "
						       "deeper than %d levels",
						       what, line, HSMCA_YAML_MAX_FLOW_DEPTH);
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return 0;
}
