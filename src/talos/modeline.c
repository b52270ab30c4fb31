/* talm modelines, parsed as talm's own parser does (cozystack/talm
 * pkg/modeline/modeline.go ParseModeline):
 *
 *   - the line is trimmed (Go strings.TrimSpace) and must then begin with
 *     "# talm: " exactly;
 *   - the rest is split on commas at bracket depth 0 outside JSON strings
 *     (splitModelineParts), each part trimmed and cut at its first '=';
 *     a part without '=' (an empty part left by a trailing comma too) is an
 *     error;
 *   - each value is decoded as Go's json.Unmarshal into a []string does:
 *     strict JSON syntax (no single quotes, no trailing commas, nothing after
 *     the value), `null` for an empty list, `null` elements as "", and a
 *     value of another type refused.  Syntax errors carry Go's own wording
 *     (encoding/json scanner.go), e.g. "invalid character ']' looking for
 *     beginning of value";
 *   - unknown keys are ignored (their values must still be valid), a key
 *     given twice keeps its last value.
 * Go's TrimSpace also trims Unicode spaces; here the ASCII ones and U+0085,
 * U+00A0 (the two a Latin-1-minded editor could leave) are trimmed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "talos/talm.h"

#define MODELINE_PREFIX "# talm: "
#define JSON_MAX_DEPTH  10000 /* Go's encoding/json maxNestingDepth */

static void strv_free(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

void hsmca_talm_modeline_free(struct hsmca_talm_modeline *m)
{
	if (!m)
		return;
	strv_free(m->nodes);
	strv_free(m->endpoints);
	strv_free(m->templates);
	memset(m, 0, sizeof(*m));
}

/* Length of a Go-space at p (0 if none). */
static size_t space_at(const char *p, const char *end)
{
	unsigned char c = (unsigned char)*p;

	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return 1;
	if (c == 0xc2 && end - p >= 2 && ((unsigned char)p[1] == 0x85 || (unsigned char)p[1] == 0xa0))
		return 2;
	return 0;
}

static void trim(const char **p, const char **end)
{
	size_t k;

	while (*p < *end && (k = space_at(*p, *end)) > 0)
		*p += k;
	for (;;) {
		if (*end > *p && space_at(*end - 1, *end) == 1)
			(*end)--;
		else if (*end - *p >= 2 && space_at(*end - 2, *end) == 2)
			*end -= 2;
		else
			break;
	}
}

/* ---- Go encoding/json syntax check (scanner.go), messages as Go has them */

static void quote_char(unsigned char c, char out[16])
{
	if (c == '\'')
		snprintf(out, 16, "'\\''");
	else if (c == '"')
		snprintf(out, 16, "'\"'");
	else if (c == '\n')
		snprintf(out, 16, "'\\n'");
	else if (c == '\r')
		snprintf(out, 16, "'\\r'");
	else if (c == '\t')
		snprintf(out, 16, "'\\t'");
	else if (c < 0x20 || c == 0x7f)
		snprintf(out, 16, "'\\x%02x'", c);
	else if (c >= 0x80)
		snprintf(out, 16, "'\\ufffd'"); /* Go quotes the rune; a stray byte reads so */
	else
		snprintf(out, 16, "'%c'", c);
}

struct jscan {
	const char *s, *end, *p;
	char *why;
	size_t whylen;
};

static int jfail(struct jscan *j, const char *ctx)
{
	char q[16];

	if (j->p >= j->end) {
		snprintf(j->why, j->whylen, "unexpected end of JSON input");
		return -1;
	}
	quote_char((unsigned char)*j->p, q);
	snprintf(j->why, j->whylen, "invalid character %s %s", q, ctx);
	return -1;
}

static void jws(struct jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int jstring(struct jscan *j)
{
	j->p++; /* opening quote */
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c < 0x20)
			return jfail(j, "in string literal");
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return jfail(j, "");
			if (*j->p == 'u') {
				int k;

				for (k = 0; k < 4; k++) {
					j->p++;
					if (j->p >= j->end)
						return jfail(j, "");
					if (!strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
						return jfail(j, "in \\u hexadecimal character escape");
				}
			} else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
				return jfail(j, "in string escape code");
			}
		}
		j->p++;
	}
	return jfail(j, "");
}

static int jnumber(struct jscan *j)
{
	if (*j->p == '-') {
		j->p++;
		if (j->p >= j->end || !is_digit(*j->p))
			return jfail(j, "in numeric literal");
	}
	if (*j->p == '0')
		j->p++;
	else
		while (j->p < j->end && is_digit(*j->p))
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || !is_digit(*j->p))
			return jfail(j, "after decimal point in numeric literal");
		while (j->p < j->end && is_digit(*j->p))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || !is_digit(*j->p))
			return jfail(j, "in exponent of numeric literal");
		while (j->p < j->end && is_digit(*j->p))
			j->p++;
	}
	return 0;
}

static int jliteral(struct jscan *j, const char *word)
{
	char ctx[64];
	size_t i;

	for (i = 1; word[i]; i++) {
		j->p++;
		if (j->p >= j->end || *j->p != word[i]) {
			snprintf(ctx, sizeof(ctx), "in literal %s (expecting '%c')", word, word[i]);
			return jfail(j, ctx);
		}
	}
	j->p++;
	return 0;
}

/* One value and everything nested in it, iteratively (an explicit stack of
 * '[' / '{', at most JSON_MAX_DEPTH deep). */
static int jvalue(struct jscan *j)
{
	char *stack = NULL;
	size_t depth = 0;
	int ret = -1;

	for (;;) {
		/* A value begins here. */
		jws(j);
		if (j->p >= j->end) {
			jfail(j, "");
			goto out;
		}
		if (*j->p == '[' || *j->p == '{') {
			char open = *j->p;

			if (depth >= JSON_MAX_DEPTH) {
				snprintf(j->why, j->whylen, "exceeded max depth");
				goto out;
			}
			if (!stack && !(stack = malloc(JSON_MAX_DEPTH))) {
				snprintf(j->why, j->whylen, "out of memory");
				goto out;
			}
			stack[depth++] = open;
			j->p++;
			jws(j);
			if (open == '[' && j->p < j->end && *j->p == ']') {
				j->p++;
				depth--;
			} else if (open == '{' && j->p < j->end && *j->p == '}') {
				j->p++;
				depth--;
			} else if (open == '{') {
				if (j->p >= j->end || *j->p != '"') {
					jfail(j, "looking for beginning of object key string");
					goto out;
				}
				if (jstring(j) != 0)
					goto out;
				jws(j);
				if (j->p >= j->end || *j->p != ':') {
					jfail(j, "after object key");
					goto out;
				}
				j->p++;
				continue;
			} else {
				continue;
			}
		} else if (*j->p == '"') {
			if (jstring(j) != 0)
				goto out;
		} else if (*j->p == '-' || is_digit(*j->p)) {
			if (jnumber(j) != 0)
				goto out;
		} else if (*j->p == 't' || *j->p == 'f' || *j->p == 'n') {
			if (jliteral(j, *j->p == 't' ? "true" : *j->p == 'f' ? "false" : "null") != 0)
				goto out;
		} else {
			jfail(j, "looking for beginning of value");
			goto out;
		}
		/* A value ended: close containers or go on to the next element. */
		for (;;) {
			if (depth == 0) {
				ret = 0;
				goto out;
			}
			jws(j);
			if (stack[depth - 1] == '[') {
				if (j->p < j->end && *j->p == ',') {
					j->p++;
					break;
				}
				if (j->p < j->end && *j->p == ']') {
					j->p++;
					depth--;
					continue;
				}
				jfail(j, "after array element");
				goto out;
			}
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				jws(j);
				if (j->p >= j->end || *j->p != '"') {
					jfail(j, "looking for beginning of object key string");
					goto out;
				}
				if (jstring(j) != 0)
					goto out;
				jws(j);
				if (j->p >= j->end || *j->p != ':') {
					jfail(j, "after object key");
					goto out;
				}
				j->p++;
				break;
			}
			if (j->p < j->end && *j->p == '}') {
				j->p++;
				depth--;
				continue;
			}
			jfail(j, "after object key:value pair");
			goto out;
		}
	}
out:
	free(stack);
	return ret;
}

/* Go's checkValid: one value, then only whitespace. */
static int go_json_valid(const char *s, size_t n, char *why, size_t whylen)
{
	struct jscan j = { s, s + n, s, why, whylen };

	if (jvalue(&j) != 0)
		return -1;
	jws(&j);
	if (j.p < j.end)
		return jfail(&j, "after top-level value");
	return 0;
}

/* ---- decoding a valid value into a string list */

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static unsigned u4(const char *p)
{
	return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the (valid) string literal at *pp; NULL on a NUL character, which
 * no node address or template path can hold. */
static char *decode_string(const char **pp, bool *has_nul)
{
	const char *p = *pp + 1;
	char *out, *o;
	size_t n = 0;

	while (p[n] != '"')
		n += p[n] == '\\' ? 2 : 1;
	out = malloc(n * 2 + 1); /* \uXXXX (6 bytes) never grows past 4 */
	if (!out)
		return NULL;
	o = out;
	while (*p != '"') {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'b': *o++ = '\b'; p++; break;
		case 'f': *o++ = '\f'; p++; break;
		case 'n': *o++ = '\n'; p++; break;
		case 'r': *o++ = '\r'; p++; break;
		case 't': *o++ = '\t'; p++; break;
		case 'u': {
			unsigned cp = u4(p + 1);

			p += 5;
			if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
				unsigned lo = u4(p + 2);

				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				} else {
					cp = 0xfffd;
				}
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd; /* a lone surrogate, as Go decodes it */
			}
			if (cp == 0)
				*has_nul = true;
			o += put_utf8(o, cp);
			break;
		}
		default: *o++ = *p++; break; /* " \ / */
		}
	}
	*o = '\0';
	*pp = p + 1;
	return out;
}

static const char *kind_of(char c)
{
	return c == '"' ? "string" : c == '[' ? "array" : c == '{' ? "object"
		: c == 't' || c == 'f' ? "bool" : "number";
}

/* Skip one valid value (strings may hold brackets). */
static const char *skip_value(const char *p)
{
	size_t depth = 0;

	do {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' || *p == ':')
			p++;
		if (*p == '"') {
			for (p++; *p != '"'; p++)
				if (*p == '\\')
					p++;
			p++;
		} else if (*p == '[' || *p == '{') {
			depth++;
			p++;
			continue;
		} else if (*p == ']' || *p == '}') {
			depth--;
			p++;
		} else {
			while (*p && !strchr(" \t\n\r,]}:", *p))
				p++;
		}
	} while (depth > 0);
	return p;
}

/* json.Unmarshal(val, &[]string): val is NUL-terminated and valid JSON. */
static int decode_strv(const char *val, char ***out, char *why, size_t whylen)
{
	const char *p = val;
	char **v = NULL;
	size_t n = 0;
	bool type_err = false, has_nul = false;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == 'n') { /* null: an empty list */
		*out = calloc(1, sizeof(char *));
		return *out ? 0 : (snprintf(why, whylen, "out of memory"), -1);
	}
	if (*p != '[') {
		snprintf(why, whylen, "json: cannot unmarshal %s into Go value of type []string",
			 kind_of(*p));
		return -1;
	}
	p++;
	for (;;) {
		char **nv;
		char *s = NULL;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')
			p++;
		if (*p == ']')
			break;
		if (*p == '"') {
			s = decode_string(&p, &has_nul);
		} else if (*p == 'n') {
			s = strdup(""); /* null into a string leaves it "" */
			p += 4;
		} else {
			if (!type_err)
				snprintf(why, whylen,
					 "json: cannot unmarshal %s into Go value of type string",
					 kind_of(*p));
			type_err = true;
			p = skip_value(p);
			continue;
		}
		nv = s ? realloc(v, (n + 2) * sizeof(*v)) : NULL;
		if (!nv) {
			free(s);
			strv_free(v);
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		v = nv;
		v[n++] = s;
		v[n] = NULL;
	}
	if (!type_err && has_nul)
		snprintf(why, whylen, "a string holds a NUL character (\\u0000)");
	if (type_err || has_nul) {
		strv_free(v);
		return -1;
	}
	if (!v && !(v = calloc(1, sizeof(char *)))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- the modeline */

/* talm's splitModelineParts: the end of the part beginning at p. */
static const char *part_end(const char *p, const char *end)
{
	bool in_string = false, escape = false;
	size_t depth = 0;

	for (; p < end; p++) {
		if (in_string) {
			if (escape)
				escape = false;
			else if (*p == '\\')
				escape = true;
			else if (*p == '"')
				in_string = false;
			continue;
		}
		if (*p == '"')
			in_string = true;
		else if (*p == '[')
			depth++;
		else if (*p == ']' && depth > 0)
			depth--;
		else if (*p == ',' && depth == 0)
			return p;
	}
	return end;
}

static int parse_part(const char *p, const char *end, struct hsmca_talm_modeline *m,
		      hsmca_error *err)
{
	const char *eq;
	char key[64], why[256], ***dst = NULL, **v = NULL, *val;
	size_t kl;
	int ret = -1;

	trim(&p, &end);
	eq = memchr(p, '=', (size_t)(end - p));
	if (!eq)
		return hsmca_error_set(err, "talm modeline: invalid format of modeline part: \"%.*s\" "
					    "(expected key=value, the value a JSON array)",
				       (int)(end - p > 200 ? 200 : end - p), p);
	kl = (size_t)(eq - p);
	snprintf(key, sizeof(key), "%.*s", (int)(kl < sizeof(key) - 1 ? kl : sizeof(key) - 1), p);
	val = strndup(eq + 1, (size_t)(end - eq - 1));
	if (!val)
		return hsmca_error_set(err, "talm modeline: out of memory");
	if (strlen(val) != (size_t)(end - eq - 1)) {
		hsmca_error_set(err, "talm modeline: value of %s holds a NUL byte", key);
		goto out;
	}
	if (go_json_valid(val, strlen(val), why, sizeof(why)) != 0 ||
	    decode_strv(val, &v, why, sizeof(why)) != 0) {
		hsmca_error_set(err, "talm modeline: error parsing JSON array for key %s: %s", key,
				why);
		goto out;
	}
	if (kl == 5 && memcmp(p, "nodes", 5) == 0)
		dst = &m->nodes;
	else if (kl == 9 && memcmp(p, "endpoints", 9) == 0)
		dst = &m->endpoints;
	else if (kl == 9 && memcmp(p, "templates", 9) == 0)
		dst = &m->templates;
	if (dst) { /* a key given twice: the last wins, as in talm */
		strv_free(*dst);
		*dst = v;
		v = NULL;
	}
	ret = 0;
out:
	strv_free(v);
	free(val);
	return ret;
}

int hsmca_talm_parse_modeline(const char *line, size_t len, struct hsmca_talm_modeline *out,
			      hsmca_error *err)
{
	struct hsmca_talm_modeline m = { 0 };
	const char *p = line, *end = line + len;
	size_t pl = strlen(MODELINE_PREFIX);
	int ret = -1;

	trim(&p, &end);
	if ((size_t)(end - p) < pl || memcmp(p, MODELINE_PREFIX, pl) != 0)
		return hsmca_error_set(err, "talm modeline: modeline prefix not found (the line "
					    "must begin with \"# talm: \")");
	p += pl;
	for (;;) {
		const char *e = part_end(p, end);

		if (parse_part(p, e, &m, err) != 0)
			goto out;
		if (e >= end)
			break;
		p = e + 1;
	}
	if ((!m.nodes && !(m.nodes = calloc(1, sizeof(char *)))) ||
	    (!m.endpoints && !(m.endpoints = calloc(1, sizeof(char *)))) ||
	    (!m.templates && !(m.templates = calloc(1, sizeof(char *))))) {
		hsmca_error_set(err, "talm modeline: out of memory");
		goto out;
	}
	*out = m;
	memset(&m, 0, sizeof(m));
	ret = 0;
out:
	hsmca_talm_modeline_free(&m);
	return ret;
}
