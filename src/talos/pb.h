/* The little protobuf the Talos API needs, by hand: varints and
 * length-delimited fields (field numbers in docs/talos-client.md). */
#ifndef HSMCA_TALOS_PB_H
#define HSMCA_TALOS_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Growable output buffer; grows by copy-and-wipe so no stale copy of a
 * config is left in freed memory.  `failed` sticks after an allocation
 * failure; check it once at the end. */
struct hsmca_talos_pbuf {
	uint8_t *p;
	size_t len, cap;
	bool failed;
};

void hsmca_talos_pb_put_raw(struct hsmca_talos_pbuf *b, const void *data, size_t len);
void hsmca_talos_pb_put_varint(struct hsmca_talos_pbuf *b, uint64_t v);
void hsmca_talos_pb_put_uint(struct hsmca_talos_pbuf *b, uint32_t field, uint64_t v);
void hsmca_talos_pb_put_bytes(struct hsmca_talos_pbuf *b, uint32_t field, const void *data,
			      size_t len);
/* Wipe and free the buffer; NULL-safe, leaves it empty. */
void hsmca_talos_pb_free(struct hsmca_talos_pbuf *b);

/* Wire types. */
enum { HSMCA_PB_VARINT = 0, HSMCA_PB_I64 = 1, HSMCA_PB_LEN = 2, HSMCA_PB_I32 = 5 };

struct hsmca_talos_pbfield {
	uint32_t field;
	int wt;
	uint64_t v;          /* varint value */
	const uint8_t *data; /* HSMCA_PB_LEN, I64, I32 payload */
	size_t len;
};

/* Read the next field from [*p, end): 1 = read, 0 = end of message,
 * -1 = malformed (truncated, bad varint, field 0, groups). */
int hsmca_talos_pb_next(const uint8_t **p, const uint8_t *end, struct hsmca_talos_pbfield *f);

/* Find the first length-delimited `field` in a message: 1 found (data/len
 * point into buf), 0 absent, -1 malformed. */
int hsmca_talos_pb_find(const uint8_t *buf, size_t len, uint32_t field, const uint8_t **data,
			size_t *dlen);

#endif
