/* A small DER writer.  X.509 objects are built here directly rather than
 * through OpenSSL's X509 API, which re-encodes and re-decodes keys (most of
 * the cost of issuance, see docs/performance.md).  Errors are sticky: after
 * an allocation failure every call is a no-op and hsmca_der_ok() is false. */
#ifndef HSMCA_X509_DER_H
#define HSMCA_X509_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define DER_BOOLEAN 0x01
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_ENUMERATED 0x0a
#define DER_UTF8STRING 0x0c
#define DER_PRINTABLESTRING 0x13
#define DER_IA5STRING 0x16
#define DER_UTCTIME 0x17
#define DER_GENERALIZEDTIME 0x18
#define DER_SEQUENCE 0x30
#define DER_SET 0x31
#define DER_CTX(n) (0xa0 | (n))      /* [n] constructed */
#define DER_CTX_PRIM(n) (0x80 | (n)) /* [n] primitive */

struct hsmca_der {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool failed;
};

void hsmca_der_init(struct hsmca_der *d);
void hsmca_der_free(struct hsmca_der *d);
void hsmca_der_reset(struct hsmca_der *d); /* keep the buffer, drop the content */
bool hsmca_der_ok(const struct hsmca_der *d);

/* Open a constructed TLV; returns a mark for hsmca_der_end(). */
size_t hsmca_der_begin(struct hsmca_der *d, uint8_t tag);
void hsmca_der_end(struct hsmca_der *d, size_t mark);

void hsmca_der_raw(struct hsmca_der *d, const void *p, size_t n);
void hsmca_der_tlv(struct hsmca_der *d, uint8_t tag, const void *p, size_t n);
/* A non-negative INTEGER from big-endian magnitude bytes (leading zeros
 * stripped, a 0x00 added when the top bit is set). */
void hsmca_der_uint(struct hsmca_der *d, const uint8_t *mag, size_t n);
void hsmca_der_int(struct hsmca_der *d, long v);
void hsmca_der_bool(struct hsmca_der *d, bool v);
/* UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
void hsmca_der_time(struct hsmca_der *d, time_t t);
/* GeneralizedTime always (CRL invalidity dates etc.). */
void hsmca_der_gentime(struct hsmca_der *d, time_t t);
/* BIT STRING with 0 unused bits. */
void hsmca_der_bits(struct hsmca_der *d, const uint8_t *p, size_t n);

/* ---- reading ---- */

/* Parse one TLV at p (within end). Sets tag, content start and length, and
 * the total TLV size.  Definite lengths only; rejects non-minimal lengths. */
int hsmca_der_read(const uint8_t *p, const uint8_t *end, uint8_t *tag, const uint8_t **content,
		   size_t *clen, size_t *total);

#endif
