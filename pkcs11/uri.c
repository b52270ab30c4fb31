/* RFC 7512 URI checks.  p11-kit does the matching; this file makes sure an
 * unknown attribute is an error that names it rather than a silent
 * non-match, and refuses pin-value. */
#include "pkcs11/token.h"

#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

static const char *const path_attrs[] = {
	"token", "manufacturer", "serial", "model", "object", "id", "type",
	"library-description", "library-manufacturer", "library-version",
	"slot-description", "slot-id", "slot-manufacturer", NULL,
};
static const char *const query_attrs[] = { "module-name", "module-path", "pin-source", NULL };

static bool known(const char *const *list, const char *name, size_t n)
{
	for (; *list; list++)
		if (strlen(*list) == n && strncmp(*list, name, n) == 0)
			return true;
	return false;
}

static int check_part(const char *part, size_t len, bool query, hsmca_error *err)
{
	const char *p = part, *end = part + len;

	while (p < end) {
		const char *sep = memchr(p, query ? '&' : ';', (size_t)(end - p));
		const char *eq;
		size_t n;

		if (!sep)
			sep = end;
		if (sep == p) {
			p = sep + 1;
			continue;
		}
		eq = memchr(p, '=', (size_t)(sep - p));
		if (!eq)
			return hsmca_error_set(err, "PKCS#11 URI attribute '%.*s' has no value",
					       (int)(sep - p), p);
		n = (size_t)(eq - p);
		if (query && n == 9 && strncmp(p, "pin-value", 9) == 0)
			return hsmca_error_set(err, "PKCS#11 URI: pin-value is refused: a PIN must not "
						    "appear on the command line (use pin-source)");
		if (!known(query ? query_attrs : path_attrs, p, n))
			return hsmca_error_set(err, "PKCS#11 URI: unknown %s attribute '%.*s' (known: %s)",
					       query ? "query" : "path", (int)n, p,
					       query ? "module-name, module-path, pin-source"
						     : "token, manufacturer, serial, model, object, id, "
						       "type, library-*, slot-*");
		p = sep + 1;
	}
	return 0;
}

int hsmca_uri_check(const char *uri, hsmca_error *err)
{
	const char *body, *q;
	P11KitUri *parsed;
	int rc;

	if (strncmp(uri, "pkcs11:", 7) != 0)
		return hsmca_error_set(err, "'%s' is not a PKCS#11 URI (must start with pkcs11:)", uri);
	body = uri + 7;
	q = strchr(body, '?');
	if (check_part(body, q ? (size_t)(q - body) : strlen(body), false, err) != 0)
		return -1;
	if (q && check_part(q + 1, strlen(q + 1), true, err) != 0)
		return -1;
	parsed = p11_kit_uri_new();
	rc = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, parsed);
	if (rc == P11_KIT_URI_OK && p11_kit_uri_any_unrecognized(parsed)) {
		p11_kit_uri_free(parsed);
		return hsmca_error_set(err, "PKCS#11 URI '%s' has an attribute p11-kit does not recognise",
				       uri);
	}
	p11_kit_uri_free(parsed);
	if (rc != P11_KIT_URI_OK)
		return hsmca_error_set(err, "PKCS#11 URI '%s' is malformed: %s", uri,
				       p11_kit_uri_message(rc));
	return 0;
}

static int hexdigit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode in[0..n) into out; -1 if malformed or out is too small. */
static int unescape(const char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hexdigit((unsigned char)in[i + 1]);
			lo = hexdigit((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int hsmca_uri_get(const char *uri, const char *attr, char *out, size_t outlen, hsmca_error *err)
{
	size_t alen = strlen(attr);
	const char *p;

	if (strncmp(uri, "pkcs11:", 7) != 0)
		return hsmca_error_set(err, "'%s' is not a PKCS#11 URI", uri);
	p = uri + 7;
	while (*p) {
		const char *end = p + strcspn(p, ";?&");

		if ((size_t)(end - p) > alen && strncmp(p, attr, alen) == 0 && p[alen] == '=') {
			if (unescape(p + alen + 1, (size_t)(end - p) - alen - 1, out, outlen) != 0)
				return hsmca_error_set(err, "PKCS#11 URI attribute %s is malformed or too long",
						       attr);
			return 1;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}
