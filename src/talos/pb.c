#include "talos/pb.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static bool pb_reserve(struct hsmca_talos_pbuf *b, size_t more)
{
	uint8_t *np;
	size_t ncap;

	if (b->failed)
		return false;
	if (more <= b->cap - b->len)
		return true;
	if (more > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return false;
	}
	ncap = b->cap ? b->cap : 256;
	while (ncap - b->len < more)
		ncap *= 2;
	np = malloc(ncap);
	if (!np) {
		b->failed = true;
		return false;
	}
	if (b->p) {
		memcpy(np, b->p, b->len);
		hsmca_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

void hsmca_talos_pb_put_raw(struct hsmca_talos_pbuf *b, const void *data, size_t len)
{
	if (len == 0 || !pb_reserve(b, len))
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void hsmca_talos_pb_put_varint(struct hsmca_talos_pbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	hsmca_talos_pb_put_raw(b, tmp, n);
}

void hsmca_talos_pb_put_uint(struct hsmca_talos_pbuf *b, uint32_t field, uint64_t v)
{
	hsmca_talos_pb_put_varint(b, (uint64_t)field << 3 | HSMCA_PB_VARINT);
	hsmca_talos_pb_put_varint(b, v);
}

void hsmca_talos_pb_put_bytes(struct hsmca_talos_pbuf *b, uint32_t field, const void *data,
			      size_t len)
{
	hsmca_talos_pb_put_varint(b, (uint64_t)field << 3 | HSMCA_PB_LEN);
	hsmca_talos_pb_put_varint(b, len);
	hsmca_talos_pb_put_raw(b, data, len);
}

void hsmca_talos_pb_free(struct hsmca_talos_pbuf *b)
{
	if (!b)
		return;
	if (b->p) {
		hsmca_wipe(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (*p < end && shift < 64) {
		uint8_t c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
		shift += 7;
	}
	return -1;
}

int hsmca_talos_pb_next(const uint8_t **p, const uint8_t *end, struct hsmca_talos_pbfield *f)
{
	uint64_t key, n;

	if (*p >= end)
		return 0;
	if (pb_varint(p, end, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
		return -1;
	memset(f, 0, sizeof(*f));
	f->field = (uint32_t)(key >> 3);
	f->wt = (int)(key & 7);
	switch (f->wt) {
	case HSMCA_PB_VARINT:
		return pb_varint(p, end, &f->v) == 0 ? 1 : -1;
	case HSMCA_PB_LEN:
		if (pb_varint(p, end, &n) != 0 || n > (uint64_t)(end - *p))
			return -1;
		break;
	case HSMCA_PB_I64:
		n = 8;
		break;
	case HSMCA_PB_I32:
		n = 4;
		break;
	default:
		return -1;
	}
	if (n > (uint64_t)(end - *p))
		return -1;
	f->data = *p;
	f->len = (size_t)n;
	*p += n;
	return 1;
}

int hsmca_talos_pb_find(const uint8_t *buf, size_t len, uint32_t field, const uint8_t **data,
			size_t *dlen)
{
	const uint8_t *p = buf, *end = buf + len;
	struct hsmca_talos_pbfield f;
	int r;

	while ((r = hsmca_talos_pb_next(&p, end, &f)) == 1) {
		if (f.field == field && f.wt == HSMCA_PB_LEN) {
			*data = f.data;
			*dlen = f.len;
			return 1;
		}
	}
	return r;
}
