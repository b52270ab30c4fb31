/* Small helpers shared by the kube module: base64, time, wiping frees. */
#include "kube/kube_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict: no characters after padding, pad count must fit the digit count.
 * (OpenSSL's EVP_DecodeBlock accepts trailing garbage.) */
int kube_b64_decode(const char *in, size_t inlen, const char *what, uint8_t **out,
		    size_t *outlen, hsmca_error *err)
{
	size_t cap = inlen / 4 * 3 + 4;
	size_t i, n = 0, pad = 0, digits = 0;
	uint32_t acc = 0;
	uint8_t *buf;

	buf = malloc(cap);
	if (!buf)
		return hsmca_error_set(err, "decode %s: out of memory", what);
	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad > 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if (++digits % 4 == 0) {
			buf[n++] = (uint8_t)(acc >> 16);
			buf[n++] = (uint8_t)(acc >> 8);
			buf[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	switch (digits % 4) {
	case 0:
		if (pad != 0)
			goto bad;
		break;
	case 2:
		if (pad != 0 && pad != 2)
			goto bad;
		buf[n++] = (uint8_t)(acc >> 4);
		break;
	case 3:
		if (pad != 0 && pad != 1)
			goto bad;
		buf[n++] = (uint8_t)(acc >> 10);
		buf[n++] = (uint8_t)(acc >> 2);
		break;
	default:
		goto bad;
	}
	buf[n] = '\0';
	hsmca_wipe(&acc, sizeof(acc));
	*out = buf;
	*outlen = n;
	return 0;
bad:
	hsmca_wipe(buf, cap);
	hsmca_wipe(&acc, sizeof(acc));
	free(buf);
	return hsmca_error_set(err, "decode %s: not valid base64", what);
}

int kube_b64_encode(const uint8_t *in, size_t inlen, char **out, hsmca_error *err)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;
	char *buf;

	if (inlen > SIZE_MAX / 2)
		return hsmca_error_set(err, "base64 encode: input too large");
	buf = malloc((inlen + 2) / 3 * 4 + 1);
	if (!buf)
		return hsmca_error_set(err, "base64 encode: out of memory");
	for (i = 0; i + 2 < inlen; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		buf[o++] = tab[v >> 18 & 63];
		buf[o++] = tab[v >> 12 & 63];
		buf[o++] = tab[v >> 6 & 63];
		buf[o++] = tab[v & 63];
	}
	if (i < inlen) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < inlen)
			v |= (uint32_t)in[i + 1] << 8;
		buf[o++] = tab[v >> 18 & 63];
		buf[o++] = tab[v >> 12 & 63];
		buf[o++] = i + 1 < inlen ? tab[v >> 6 & 63] : '=';
		buf[o++] = '=';
	}
	buf[o] = '\0';
	*out = buf;
	return 0;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int kube_parse_rfc3339(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, oh, om;
	long off = 0;
	time_t t;

	if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
		return -1;
	s += 19;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
		off = 0;
	} else if ((*s == '+' || *s == '-') && strlen(s) == 6 && s[3] == ':' &&
		   !digits(s + 1, 2, &oh) && !digits(s + 4, 2, &om) && oh < 24 && om < 60) {
		off = (oh * 3600L + om * 60L) * (*s == '-' ? -1 : 1);
	} else {
		return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d)
		return -1;
	*out = t - off;
	return 0;
}

int64_t kube_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kube_free_secret_str(char *s)
{
	if (s) {
		hsmca_wipe(s, strlen(s));
		free(s);
	}
}

void kube_free_secret(void *p, size_t len)
{
	if (p) {
		hsmca_wipe(p, len);
		free(p);
	}
}
