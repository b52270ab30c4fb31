/* Lookups, messages and typed getters on a loaded tree (see ytree.h). */
#include "yaml/ytree.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static void excerpt(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0, keep = outlen > 4 ? outlen - 4 : 0;

	for (i = 0; i < len && o < keep; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (i < len && outlen >= 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (outlen)
		out[o < outlen ? o : outlen - 1] = '\0';
}

void hsmca_ynode_text(const struct hsmca_ynode *n, char *buf, size_t buflen)
{
	if (!buflen)
		return;
	buf[0] = '\0';
	if (n && n->kind == HSMCA_YNODE_SCALAR)
		excerpt(n->value, n->len, buf, buflen);
}

static void path_build(const struct hsmca_ynode *n, char *buf, size_t buflen, size_t *pos)
{
	const struct hsmca_ynode *p = n->parent;
	char key[72];
	int w;

	if (!p)
		return;
	path_build(p, buf, buflen, pos);
	if (n->is_key || *pos >= buflen)
		return;
	if (p->kind == HSMCA_YNODE_MAP) {
		const struct hsmca_ynode *k = p->keys[n->index];

		excerpt(k->value, k->len, key, sizeof(key));
		w = snprintf(buf + *pos, buflen - *pos, "%s%s", *pos ? "." : "", key);
	} else {
		w = snprintf(buf + *pos, buflen - *pos, "[%zu]", n->index);
	}
	if (w > 0)
		*pos += (size_t)w < buflen - *pos ? (size_t)w : buflen - *pos - 1;
}

void hsmca_ynode_path(const struct hsmca_ynode *n, char *buf, size_t buflen)
{
	size_t pos = 0;

	if (!buflen)
		return;
	buf[0] = '\0';
	if (n)
		path_build(n, buf, buflen, &pos);
}

/* "f.yaml:7: ca.name: <msg>", or without the path for a root. */
static int path_error(const struct hsmca_ynode *n, hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int path_error(const struct hsmca_ynode *n, hsmca_error *err, const char *fmt, ...)
{
	char path[256], msg[HSMCA_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hsmca_ynode_path(n, path, sizeof(path));
	if (path[0])
		return hsmca_ynode_error(n, err, "%s: %s", path, msg);
	return hsmca_ynode_error(n, err, "%s", msg);
}

bool hsmca_ynode_is_null(const struct hsmca_ynode *n)
{
	return n && n->kind == HSMCA_YNODE_SCALAR && n->style == HSMCA_YSTYLE_PLAIN &&
	       (n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
		strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

const char *hsmca_ynode_describe(const struct hsmca_ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case HSMCA_YNODE_MAP:
		return "a mapping";
	case HSMCA_YNODE_SEQ:
		return "a sequence";
	case HSMCA_YNODE_SCALAR:
		break;
	}
	return hsmca_ynode_is_null(n) ? "an empty value" : "a string";
}

/* ---- lookups and typed getters ----------------------------------------- */

const struct hsmca_ynode *hsmca_ynode_get(const struct hsmca_ynode *map, const char *key)
{
	size_t i, klen = strlen(key);

	if (!map || map->kind != HSMCA_YNODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (map->keys[i]->len == klen && memcmp(map->keys[i]->value, key, klen) == 0)
			return map->items[i];
	return NULL;
}

int hsmca_ynode_expect_map(const struct hsmca_ynode *n, hsmca_error *err)
{
	if (n->kind != HSMCA_YNODE_MAP)
		return path_error(n, err, "expected a mapping, got %s", hsmca_ynode_describe(n));
	return 0;
}

int hsmca_ynode_expect_seq(const struct hsmca_ynode *n, hsmca_error *err)
{
	if (n->kind != HSMCA_YNODE_SEQ)
		return path_error(n, err, "expected a sequence, got %s", hsmca_ynode_describe(n));
	return 0;
}

int hsmca_ynode_require(const struct hsmca_ynode *map, const char *key,
			const struct hsmca_ynode **out, hsmca_error *err)
{
	const struct hsmca_ynode *v, *at = map;
	char path[256];

	if (hsmca_ynode_expect_map(map, err) < 0)
		return -1;
	v = hsmca_ynode_get(map, key);
	if (v) {
		*out = v;
		return 0;
	}
	/* A block mapping starts at its first key; the line of the key that
	 * names the mapping ("ca:") is where a reader looks for it. */
	if (map->parent && map->parent->kind == HSMCA_YNODE_MAP)
		at = map->parent->keys[map->index];
	hsmca_ynode_path(map, path, sizeof(path));
	if (path[0])
		return hsmca_ynode_error(at, err, "%s: missing required key '%s'", path, key);
	return hsmca_ynode_error(at, err, "missing required key '%s'", key);
}

int hsmca_ynode_check_keys(const struct hsmca_ynode *map, const char *const allowed[],
			   const char *filename, hsmca_error *err)
{
	char list[512], key[72], path[256], in[272] = "";
	size_t i, j, pos = 0;
	const struct hsmca_ynode *k;

	if (hsmca_ynode_expect_map(map, err) < 0)
		return -1;
	for (i = 0; i < map->n; i++) {
		k = map->keys[i];
		for (j = 0; allowed[j]; j++)
			if (strlen(allowed[j]) == k->len && memcmp(allowed[j], k->value, k->len) == 0)
				break;
		if (allowed[j])
			continue;
		list[0] = '\0';
		for (j = 0; allowed[j] && pos < sizeof(list); j++) {
			int w = snprintf(list + pos, sizeof(list) - pos, "%s%s", j ? ", " : "",
					 allowed[j]);

			if (w < 0)
				break;
			pos += (size_t)w;
		}
		excerpt(k->value, k->len, key, sizeof(key));
		hsmca_ynode_path(map, path, sizeof(path));
		if (path[0])
			snprintf(in, sizeof(in), " in %s", path);
		if (filename)
			return hsmca_error_set(err, "%s:%u: unknown key '%s'%s (expected one of: %s)",
					       filename, k->line, key, in, list);
		return hsmca_ynode_error(k, err, "unknown key '%s'%s (expected one of: %s)", key, in,
					 list);
	}
	return 0;
}

int hsmca_ynode_string(const struct hsmca_ynode *n, char *out, size_t outlen, hsmca_error *err)
{
	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected a string, got %s", hsmca_ynode_describe(n));
	if (memchr(n->value, '\0', n->len))
		return path_error(n, err, "value contains a NUL character");
	if (n->len >= outlen)
		return path_error(n, err, "value is too long (%zu bytes, at most %zu)", n->len,
				  outlen ? outlen - 1 : 0);
	memcpy(out, n->value, n->len + 1);
	return 0;
}

bool hsmca_yname_valid(const char *s)
{
	size_t i;

	if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i]; i++) {
		char c = s[i];

		if (i > 62)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int hsmca_ynode_name(const struct hsmca_ynode *n, char *out, size_t outlen, hsmca_error *err)
{
	char text[72];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected a name, got %s", hsmca_ynode_describe(n));
	if (n->len >= outlen || memchr(n->value, '\0', n->len) || !hsmca_yname_valid(n->value)) {
		excerpt(n->value, n->len, text, sizeof(text));
		return path_error(n, err,
				  "'%s' is not a valid name (1 to 63 of a-z 0-9 . _ -, "
				  "starting with a letter or digit)", text);
	}
	memcpy(out, n->value, n->len + 1);
	return 0;
}

int hsmca_ynode_bool(const struct hsmca_ynode *n, bool *out, hsmca_error *err)
{
	char text[72];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected true or false, got %s",
				  hsmca_ynode_describe(n));
	if (n->style == HSMCA_YSTYLE_PLAIN && strcmp(n->value, "true") == 0) {
		*out = true;
		return 0;
	}
	if (n->style == HSMCA_YSTYLE_PLAIN && strcmp(n->value, "false") == 0) {
		*out = false;
		return 0;
	}
	excerpt(n->value, n->len, text, sizeof(text));
	return path_error(n, err, "expected true or false (unquoted), got %s'%s'",
			  n->style == HSMCA_YSTYLE_QUOTED ? "quoted " : "", text);
}

int hsmca_ynode_int(const struct hsmca_ynode *n, int64_t min, int64_t max, int64_t *out,
		    hsmca_error *err)
{
	const char *p;
	bool neg = false;
	uint64_t v = 0, limit;
	char text[72];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected an integer, got %s", hsmca_ynode_describe(n));
	p = n->value;
	if (*p == '-') {
		neg = true;
		p++;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (n->style != HSMCA_YSTYLE_PLAIN || *p < '0' || *p > '9' || (p[0] == '0' && p[1]))
		goto bad;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		if (v > (limit - (uint64_t)(*p - '0')) / 10)
			goto range;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if ((size_t)(p - n->value) != n->len)
		goto bad;
	{
		int64_t s = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v)
				: (int64_t)v;

		if (s < min || s > max)
			goto range;
		*out = s;
	}
	return 0;
bad:
	excerpt(n->value, n->len, text, sizeof(text));
	return path_error(n, err, "expected an integer%s, got %s'%s'",
			  n->style == HSMCA_YSTYLE_QUOTED ? " (unquoted)" : "",
			  n->style == HSMCA_YSTYLE_QUOTED ? "quoted " : "", text);
range:
	excerpt(n->value, n->len, text, sizeof(text));
	return path_error(n, err, "%s is out of range (%lld to %lld)", text, (long long)min,
			  (long long)max);
}

/* Run a util.c parser on a scalar and put "file:line: " before its message,
 * which already starts with the path (passed as `what`). */
static int parse_with(const struct hsmca_ynode *n, hsmca_error *err, bool is_time, void *out)
{
	char text[64], path[256];

	if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n))
		return path_error(n, err, "expected a %s, got %s", is_time ? "date" : "duration",
				  hsmca_ynode_describe(n));
	if (hsmca_ynode_string(n, text, sizeof(text), err) < 0)
		return -1;
	hsmca_ynode_path(n, path, sizeof(path));
	if (!path[0])
		snprintf(path, sizeof(path), "value");
	if (is_time ? hsmca_parse_time(text, path, out, err)
		    : hsmca_parse_duration(text, path, out, err)) {
		if (n->tree->name[0])
			return hsmca_error_prefix(err, "%s:%u", n->tree->name, n->line);
		return hsmca_error_prefix(err, "line %u", n->line);
	}
	return 0;
}

int hsmca_ynode_duration(const struct hsmca_ynode *n, int64_t *seconds, hsmca_error *err)
{
	int64_t v;

	if (parse_with(n, err, false, &v) < 0)
		return -1;
	*seconds = v;
	return 0;
}

int hsmca_ynode_time(const struct hsmca_ynode *n, time_t *out, hsmca_error *err)
{
	time_t v;

	if (parse_with(n, err, true, &v) < 0)
		return -1;
	*out = v;
	return 0;
}

int hsmca_ynode_require_version(const struct hsmca_ynode *root, int64_t supported,
				hsmca_error *err)
{
	const struct hsmca_ynode *n;
	int64_t v;

	if (hsmca_ynode_require(root, "version", &n, err) < 0 ||
	    hsmca_ynode_int(n, INT64_MIN, INT64_MAX, &v, err) < 0)
		return -1;
	if (v != supported)
		return path_error(n, err, "unsupported version %lld (this hsmca reads version %lld)",
				  (long long)v, (long long)supported);
	return 0;
}
