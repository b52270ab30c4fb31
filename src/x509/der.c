#include "x509/der.h"

#include <stdlib.h>
#include <string.h>

void hsmca_der_init(struct hsmca_der *d)
{
	memset(d, 0, sizeof(*d));
}

void hsmca_der_free(struct hsmca_der *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

void hsmca_der_reset(struct hsmca_der *d)
{
	d->len = 0;
	d->failed = false;
}

bool hsmca_der_ok(const struct hsmca_der *d)
{
	return !d->failed;
}

static bool reserve(struct hsmca_der *d, size_t extra)
{
	size_t need, cap;
	uint8_t *nb;

	if (d->failed)
		return false;
	need = d->len + extra;
	if (need <= d->cap)
		return true;
	cap = d->cap ? d->cap : 256;
	while (cap < need)
		cap *= 2;
	nb = realloc(d->buf, cap);
	if (!nb) {
		d->failed = true;
		return false;
	}
	d->buf = nb;
	d->cap = cap;
	return true;
}

void hsmca_der_raw(struct hsmca_der *d, const void *p, size_t n)
{
	if (!reserve(d, n))
		return;
	if (n)
		memcpy(d->buf + d->len, p, n);
	d->len += n;
}

static size_t len_size(size_t n)
{
	size_t s = 1;

	if (n < 0x80)
		return 1;
	while (n) {
		s++;
		n >>= 8;
	}
	return s;
}

static void put_len(uint8_t *out, size_t n)
{
	size_t s = len_size(n), i;

	if (s == 1) {
		out[0] = (uint8_t)n;
		return;
	}
	out[0] = (uint8_t)(0x80 | (s - 1));
	for (i = s - 1; i >= 1; i--) {
		out[i] = (uint8_t)(n & 0xff);
		n >>= 8;
	}
}

void hsmca_der_tlv(struct hsmca_der *d, uint8_t tag, const void *p, size_t n)
{
	size_t ls = len_size(n);

	if (!reserve(d, 1 + ls + n))
		return;
	d->buf[d->len++] = tag;
	put_len(d->buf + d->len, n);
	d->len += ls;
	if (n)
		memcpy(d->buf + d->len, p, n);
	d->len += n;
}

size_t hsmca_der_begin(struct hsmca_der *d, uint8_t tag)
{
	size_t mark = d->len;

	if (!reserve(d, 2))
		return mark;
	d->buf[d->len++] = tag;
	d->buf[d->len++] = 0; /* one length byte reserved; widened in end() */
	return mark;
}

void hsmca_der_end(struct hsmca_der *d, size_t mark)
{
	size_t content, ls;

	if (d->failed)
		return;
	content = d->len - mark - 2;
	ls = len_size(content);
	if (ls > 1) {
		if (!reserve(d, ls - 1))
			return;
		memmove(d->buf + mark + 1 + ls, d->buf + mark + 2, content);
		d->len += ls - 1;
	}
	put_len(d->buf + mark + 1, content);
}

void hsmca_der_uint(struct hsmca_der *d, const uint8_t *mag, size_t n)
{
	uint8_t zero = 0;

	while (n > 1 && mag[0] == 0) {
		mag++;
		n--;
	}
	if (n == 0) {
		hsmca_der_tlv(d, DER_INTEGER, &zero, 1);
		return;
	}
	if (mag[0] & 0x80) {
		size_t ls = len_size(n + 1);

		if (!reserve(d, 2 + ls + n))
			return;
		d->buf[d->len++] = DER_INTEGER;
		put_len(d->buf + d->len, n + 1);
		d->len += ls;
		d->buf[d->len++] = 0;
		memcpy(d->buf + d->len, mag, n);
		d->len += n;
		return;
	}
	hsmca_der_tlv(d, DER_INTEGER, mag, n);
}

void hsmca_der_int(struct hsmca_der *d, long v)
{
	uint8_t b[sizeof(long) + 1];
	size_t n = 0, i;
	unsigned long u = (unsigned long)v;

	/* Two's complement, minimal. */
	for (i = 0; i < sizeof(long); i++)
		b[sizeof(long) - i] = (uint8_t)(u >> (8 * i));
	b[0] = v < 0 ? 0xff : 0x00;
	while (n < sizeof(long) && ((b[n] == 0x00 && !(b[n + 1] & 0x80)) ||
				    (b[n] == 0xff && (b[n + 1] & 0x80))))
		n++;
	hsmca_der_tlv(d, DER_INTEGER, b + n, sizeof(b) - n);
}

void hsmca_der_bool(struct hsmca_der *d, bool v)
{
	uint8_t b = v ? 0xff : 0x00;

	hsmca_der_tlv(d, DER_BOOLEAN, &b, 1);
}

static void put_time(struct hsmca_der *d, time_t t, bool gen)
{
	struct tm tm;
	char buf[20];
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, sizeof(buf), gen ? "%Y%m%d%H%M%SZ" : "%y%m%d%H%M%SZ", &tm);
	hsmca_der_tlv(d, gen ? DER_GENERALIZEDTIME : DER_UTCTIME, buf, n);
}

void hsmca_der_time(struct hsmca_der *d, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	put_time(d, t, tm.tm_year + 1900 >= 2050 || tm.tm_year + 1900 < 1950);
}

void hsmca_der_gentime(struct hsmca_der *d, time_t t)
{
	put_time(d, t, true);
}

void hsmca_der_bits(struct hsmca_der *d, const uint8_t *p, size_t n)
{
	size_t ls = len_size(n + 1);

	if (!reserve(d, 2 + ls + n))
		return;
	d->buf[d->len++] = DER_BIT_STRING;
	put_len(d->buf + d->len, n + 1);
	d->len += ls;
	d->buf[d->len++] = 0;
	if (n)
		memcpy(d->buf + d->len, p, n);
	d->len += n;
}

int hsmca_der_read(const uint8_t *p, const uint8_t *end, uint8_t *tag, const uint8_t **content,
		   size_t *clen, size_t *total)
{
	size_t avail, n = 0, hdr = 2, i, nb;

	if (!p || p >= end || end - p < 2)
		return -1;
	avail = (size_t)(end - p);
	if ((p[0] & 0x1f) == 0x1f)
		return -1; /* high tag numbers are not used in X.509 */
	if (p[1] < 0x80) {
		n = p[1];
	} else {
		nb = p[1] & 0x7f;
		if (nb == 0 || nb > sizeof(size_t) || avail < 2 + nb)
			return -1;
		if (p[2] == 0)
			return -1; /* non-minimal */
		for (i = 0; i < nb; i++)
			n = (n << 8) | p[2 + i];
		if (n < 0x80)
			return -1; /* non-minimal */
		hdr = 2 + nb;
	}
	if (n > avail - hdr)
		return -1;
	*tag = p[0];
	*content = p + hdr;
	*clen = n;
	*total = hdr + n;
	return 0;
}
