/* The audit line format and the head file, shared by writer and verifier. */
#include "audit/audit_line.h"

#include <errno.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/sha2.h"

#include "common/fsutil.h"
#include "common/util.h"

#define HEAD_MAX 4096

const char hsmca_audit_zero_hash[HSMCA_AUDIT_HASH_HEX + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

int hsmca_audit_sha256_hex(const void *data, size_t len,
			   char out[static HSMCA_AUDIT_HASH_HEX + 1], hsmca_error *err)
{
	uint8_t md[32];

	(void)err; /* the low-level digest cannot fail */
	hsmca_sha2(256, data, len, md); /* a batch hashes one line per certificate */
	hsmca_hex(md, sizeof(md), out);
	return 0;
}

bool hsmca_audit_is_hash(const char *s)
{
	size_t i;

	for (i = 0; i < HSMCA_AUDIT_HASH_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[HSMCA_AUDIT_HASH_HEX] == '\0';
}

int hsmca_audit_lock(int fd, int op, const char *path, hsmca_error *err)
{
	while (flock(fd, op) != 0) {
		if (errno != EINTR)
			return hsmca_error_errno(err, "cannot lock %s", path);
	}
	return 0;
}

static int get_string(json_object *obj, const char *key, const char **out, hsmca_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return hsmca_error_set(err, "missing field \"%s\"", key);
	if (!json_object_is_type(v, json_type_string))
		return hsmca_error_set(err, "field \"%s\" is not a string", key);
	*out = json_object_get_string(v);
	return 0;
}

/* Parse one line (no newline) and check its shape; the chain itself is the
 * caller's business.  Messages carry no line number: the caller adds it. */
int hsmca_audit_line_parse(json_tokener *tok, const char *line, size_t len,
			   struct hsmca_audit_rec *rec, hsmca_error *err)
{
	static const char *const strings[] = {"time", "actor", "event", "object", "outcome"};
	static const char *const known[] = {"seq",     "time",	 "actor", "event",
					    "object",  "outcome", "detail", "prev"};
	json_object *obj = NULL, *v;
	enum json_tokener_error jerr;
	const char *s;
	size_t i;
	int ret = -1;

	if (len == 0)
		return hsmca_error_set(err, "empty line");
	if (memchr(line, '\0', len))
		return hsmca_error_set(err, "not valid JSON (contains a NUL byte)");
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!obj || jerr != json_tokener_success) {
		hsmca_error_set(err, "not valid JSON (%s)",
				jerr == json_tokener_continue ? "unexpected end of line"
							      : json_tokener_error_desc(jerr));
		goto out;
	}
	if (json_tokener_get_parse_end(tok) != len) {
		hsmca_error_set(err, "not valid JSON (trailing bytes after the object)");
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		hsmca_error_set(err, "not a JSON object");
		goto out;
	}
	json_object_object_foreach(obj, key, val)
	{
		bool ok = false;

		(void)val;
		for (i = 0; i < HSMCA_ARRAY_LEN(known); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			hsmca_error_set(err, "unexpected field \"%.64s\"", key);
			goto out;
		}
	}
	if (!json_object_object_get_ex(obj, "seq", &v)) {
		hsmca_error_set(err, "missing field \"seq\"");
		goto out;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1) {
		hsmca_error_set(err, "seq is not a positive integer");
		goto out;
	}
	rec->seq = json_object_get_int64(v);
	for (i = 0; i < HSMCA_ARRAY_LEN(strings); i++) {
		if (get_string(obj, strings[i], &s, err) != 0)
			goto out;
	}
	if (strcmp(s, "ok") != 0 && strcmp(s, "failed") != 0) {
		hsmca_error_set(err, "outcome is \"%.32s\", expected \"ok\" or \"failed\"", s);
		goto out;
	}
	if (json_object_object_get_ex(obj, "detail", &v)) {
		if (!json_object_is_type(v, json_type_object)) {
			hsmca_error_set(err, "field \"detail\" is not an object");
			goto out;
		}
		json_object_object_foreach(v, dkey, dval)
		{
			if (!json_object_is_type(dval, json_type_string)) {
				hsmca_error_set(err, "detail \"%.64s\" is not a string", dkey);
				goto out;
			}
		}
	}
	if (get_string(obj, "prev", &s, err) != 0)
		goto out;
	if (!hsmca_audit_is_hash(s)) {
		hsmca_error_set(err, "prev is not a 64-digit lower-case hex SHA-256");
		goto out;
	}
	memcpy(rec->prev, s, sizeof(rec->prev));
	ret = 0;
out:
	json_object_put(obj);
	return ret;
}

json_tokener *hsmca_audit_tokener_new(hsmca_error *err)
{
	json_tokener *tok = json_tokener_new();

	if (!tok) {
		hsmca_error_set(err, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

int hsmca_audit_head_read(const char *head_path, struct hsmca_audit_head *head, hsmca_error *err)
{
	uint8_t *data = NULL;
	size_t len = 0;
	json_object *obj = NULL, *v;
	int ret = -1;

	head->present = false;
	head->seq = 0;
	memcpy(head->hash, hsmca_audit_zero_hash, sizeof(head->hash));
	if (access(head_path, F_OK) != 0 && errno == ENOENT)
		return 0;
	head->present = true;
	if (hsmca_read_file(head_path, HEAD_MAX, &data, &len, err) != 0)
		goto out;
	obj = json_tokener_parse((const char *)data);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		hsmca_error_set(err, "head file %s is not valid JSON", head_path);
		goto out;
	}
	if (!json_object_object_get_ex(obj, "seq", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		hsmca_error_set(err, "head file %s: seq is missing or not an integer", head_path);
		goto out;
	}
	head->seq = (size_t)json_object_get_int64(v);
	if (!json_object_object_get_ex(obj, "hash", &v) ||
	    !json_object_is_type(v, json_type_string) || !hsmca_audit_is_hash(json_object_get_string(v))) {
		hsmca_error_set(err, "head file %s: hash is missing or not a hex SHA-256", head_path);
		goto out;
	}
	memcpy(head->hash, json_object_get_string(v), sizeof(head->hash));
	ret = 0;
out:
	json_object_put(obj);
	free(data);
	return ret;
}
