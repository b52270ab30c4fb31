/* Shared by csr.c (the request's structure) and csr_key.c (its public key
 * and signature) only: a strict DER cursor. */
#ifndef HSMCA_ISSUE_CSR_INTERNAL_H
#define HSMCA_ISSUE_CSR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "issue/issue.h"

#define OID_IS(p, n, oid) ((n) == sizeof(oid) && memcmp((p), (oid), sizeof(oid)) == 0)

struct tlv {
	uint8_t tag;
	const uint8_t *c; /* content */
	size_t n;         /* content length */
	const uint8_t *p; /* whole TLV */
	size_t total;
};

/* Read the TLV at *p (within end) and advance *p past it.  Definite,
 * minimal lengths only (hsmca_der_read). */
static inline int csr_next(const uint8_t **p, const uint8_t *end, struct tlv *t)
{
	if (hsmca_der_read(*p, end, &t->tag, &t->c, &t->n, &t->total) != 0)
		return -1;
	t->p = *p;
	*p += t->total;
	return 0;
}

/* An OBJECT IDENTIFIER's content in canonical DER: not empty, every
 * sub-identifier minimal (no leading 0x80) and terminated. */
static inline bool csr_oid_ok(const struct tlv *t)
{
	size_t i;

	if (t->tag != DER_OID || t->n == 0 || t->n > 64 || (t->c[t->n - 1] & 0x80))
		return false;
	for (i = 0; i < t->n; i++)
		if (t->c[i] == 0x80 && (i == 0 || !(t->c[i - 1] & 0x80)))
			return false;
	return true;
}

/* A non-negative INTEGER in minimal two's complement. */
static inline bool csr_uint_ok(const struct tlv *t)
{
	if (t->tag != DER_INTEGER || t->n == 0 || (t->c[0] & 0x80))
		return false;
	return !(t->n > 1 && t->c[0] == 0 && !(t->c[1] & 0x80));
}

/* The SubjectPublicKeyInfo (csr->spki): structure, algorithm, key type and
 * the key checks that need no arithmetic library (csr_key.c). */
int hsmca_csr_parse_spki(struct hsmca_csr *csr, hsmca_error *err);

#endif
