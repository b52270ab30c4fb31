#include "ca/retired.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "common/fsutil.h"

/* Copy a string member; absent is "", anything else but a string is an error. */
static int member(json_object *o, const char *key, char *out, size_t outlen)
{
	json_object *v;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	snprintf(out, outlen, "%s", json_object_get_string(v));
	return 0;
}

int hsmca_ca_retirement(const struct hsmca_ca *ca, struct hsmca_ca_retirement *out,
			hsmca_error *err)
{
	struct hsmca_ca_retirement r;
	char path[PATH_MAX];
	struct stat st;
	uint8_t *text = NULL;
	size_t len = 0;
	json_object *o = NULL, *v;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	if (hsmca_path_join(path, sizeof(path), err, "%s/%s", ca->dir, HSMCA_CA_RETIRED_FILE) != 0)
		return -1;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return hsmca_error_errno(err, "%s", path);
	}
	if (hsmca_read_file(path, 64 * 1024, &text, &len, err) != 0)
		goto out;
	o = json_tokener_parse((const char *)text);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    member(o, "retired", r.when, sizeof(r.when)) != 0 || !r.when[0] ||
	    member(o, "rotation", r.rotation, sizeof(r.rotation)) != 0 ||
	    member(o, "reason", r.reason, sizeof(r.reason)) != 0) {
		hsmca_error_set(err, "%s: not a retirement marker (a JSON object with a \"retired\" "
				     "time)", path);
		goto out;
	}
	r.key_destroyed = json_object_object_get_ex(o, "key_destroyed", &v) &&
			  json_object_get_boolean(v);
	*out = r;
	ret = 1;
out:
	json_object_put(o);
	free(text);
	return ret;
}
