#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

int hsmca_parse_duration(const char *s, const char *what, int64_t *seconds, hsmca_error *err)
{
	const char *p = s;
	int64_t n = 0, mult;

	if (!s || !*s)
		return hsmca_error_set(err, "%s: empty duration (expected e.g. 90d, 1y, 8760h)", what);
	while (isdigit((unsigned char)*p)) {
		if (n > INT64_MAX / 10 - 10)
			return hsmca_error_set(err, "%s: duration '%s' is too large", what, s);
		n = n * 10 + (*p - '0');
		p++;
	}
	if (p == s || n <= 0)
		return hsmca_error_set(err, "%s: '%s' is not a positive duration (expected e.g. 90d, 1y, 8760h)",
				       what, s);
	switch (*p) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	case 'y': mult = 365 * 86400; break;
	default:
		return hsmca_error_set(err, "%s: '%s' lacks a unit (s, m, h, d, w or y)", what, s);
	}
	if (p[1] != '\0')
		return hsmca_error_set(err, "%s: '%s' has trailing characters after the unit", what, s);
	if (n > (int64_t)200 * 365 * 86400 / mult)
		return hsmca_error_set(err, "%s: duration '%s' exceeds 200 years", what, s);
	*seconds = n * mult;
	return 0;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int hsmca_parse_time(const char *s, const char *what, time_t *out, hsmca_error *err)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
	struct tm tm;
	size_t len = s ? strlen(s) : 0;

	if (len == 10) {
		if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
			goto bad;
	} else if (len == 20) {
		if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
		    used != 20)
			goto bad;
	} else {
		goto bad;
	}
	if (y < 1950 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 ||
	    h < 0 || mi < 0 || sec < 0)
		goto bad;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
bad:
	return hsmca_error_set(err, "%s: '%s' is not a valid date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)",
			       what, s ? s : "");
}

void hsmca_format_time(time_t t, char buf[static 21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void hsmca_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void hsmca_hex_colon(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i;

	if (len == 0) {
		out[0] = '\0';
		return;
	}
	for (i = 0; i < len; i++) {
		out[3 * i] = digits[in[i] >> 4];
		out[3 * i + 1] = digits[in[i] & 15];
		out[3 * i + 2] = ':';
	}
	out[3 * len - 1] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hsmca_unhex(const char *in, uint8_t *out, size_t outlen)
{
	size_t n = 0;

	while (*in) {
		int hi, lo;

		if (*in == ':') {
			in++;
			continue;
		}
		hi = hexval((unsigned char)in[0]);
		lo = in[1] ? hexval((unsigned char)in[1]) : -1;
		if (hi < 0 || lo < 0 || n >= outlen)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		in += 2;
	}
	return (int)n;
}

void hsmca_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

time_t hsmca_now(void)
{
	const char *fake = getenv("HSMCA_NOW");
	time_t t;

	if (fake && hsmca_parse_time(fake, "HSMCA_NOW", &t, NULL) == 0)
		return t;
	return time(NULL);
}
