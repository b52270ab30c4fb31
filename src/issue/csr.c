/* CSRs: the one strict decoder every issuance path uses (hsmca_csr_load):
 * PEM armour around exactly one DER request, then a DER walk that checks
 * every length, tag and field it passes and keeps the byte ranges issuance
 * copies into the certificate.  What a lenient parser would read one way
 * and a verifier another — trailing data, a second key, non-DER booleans,
 * duplicated extensions or attributes, an empty SAN — is refused with the
 * reason.  The public key and the signature are checked in csr_key.c. */
#include "issue/csr_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "common/b64.h"
#include "common/util.h"

static const uint8_t oid_ext_req[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e };
static const uint8_t oid_san[] = { 0x55, 0x1d, 0x11 };
static const uint8_t oid_bc[] = { 0x55, 0x1d, 0x13 };
static const uint8_t oid_ku[] = { 0x55, 0x1d, 0x0f };
static const uint8_t oid_eku[] = { 0x55, 0x1d, 0x25 };
static const uint8_t oid_kp_prefix[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03 };
static const uint8_t oid_cn[] = { 0x55, 0x04, 0x03 };
static const uint8_t oid_o[] = { 0x55, 0x04, 0x0a };

#define MAX_EXTENSIONS 32

/* ---- PEM ---- */

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The text from p up to the end of its line (without the newline). */
static size_t line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

	if (n && p[n - 1] == '\r')
		n--;
	return n;
}

/* "-----BEGIN <label>-----" / "-----END <label>-----": the label, or NULL. */
static bool armour_label(const char *line, size_t n, const char *what, char *label, size_t labellen)
{
	size_t w = strlen(what), l;

	if (n < w + 10 || memcmp(line, "-----", 5) != 0 || memcmp(line + 5, what, w) != 0 ||
	    memcmp(line + n - 5, "-----", 5) != 0)
		return false;
	l = n - w - 10;
	if (l >= labellen)
		return false;
	memcpy(label, line + 5 + w, l);
	label[l] = '\0';
	return true;
}

/* PEM (RFC 7468, strict): optional whitespace, one BEGIN line whose label
 * is CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST, base64 lines, an END
 * line with the same label, optional whitespace — nothing else. */
static int pem_decode(const char *text, size_t len, uint8_t *scratch, size_t *out_len,
		      hsmca_error *err)
{
	const char *p = text, *end = text + len, *body, *body_end;
	char label[64], end_label[64];
	uint8_t *der = NULL;
	size_t n, der_len = 0;

	while (p < end && space(*p))
		p++;
	n = line_len(p, end);
	if (!armour_label(p, n, "BEGIN ", label, sizeof(label)))
		return hsmca_error_set(err, "not a CSR: neither DER nor PEM "
					    "'-----BEGIN CERTIFICATE REQUEST-----'");
	if (strcmp(label, "CERTIFICATE REQUEST") != 0 && strcmp(label, "NEW CERTIFICATE REQUEST") != 0)
		return hsmca_error_set(err, "not a CSR: the PEM block is a '%s', not a "
					    "CERTIFICATE REQUEST", label);
	body = p + n;
	/* The first END line closes the block. */
	for (p = body; p < end; p += n + 1) {
		while (p < end && (*p == '\n' || *p == '\r'))
			p++;
		n = line_len(p, end);
		if (n >= 5 && memcmp(p, "-----", 5) == 0)
			break;
	}
	if (p >= end)
		return hsmca_error_set(err, "the PEM CSR is truncated (no END line)");
	body_end = p;
	if (!armour_label(p, n, "END ", end_label, sizeof(end_label)))
		return hsmca_error_set(err, "the PEM CSR has a malformed line '%.40s'", p);
	if (strcmp(label, end_label) != 0)
		return hsmca_error_set(err, "the PEM CSR's BEGIN and END labels differ ('%s' / '%s')",
				       label, end_label);
	for (p += n; p < end; p++) {
		if (!space(*p))
			return hsmca_error_set(err, "the PEM CSR has data after its END line (one CSR "
						    "per file)");
	}
	if (hsmca_b64_decode(body, (size_t)(body_end - body), "the PEM CSR", &der, &der_len, err) != 0)
		return hsmca_error_set(err, "the PEM CSR has invalid base64");
	if (der_len == 0 || der_len > len) {
		free(der);
		return hsmca_error_set(err, "the PEM CSR is empty");
	}
	memcpy(scratch, der, der_len);
	free(der);
	*out_len = der_len;
	return 0;
}

int hsmca_csr_decode(const uint8_t *buf, size_t len, uint8_t *scratch, const uint8_t **der,
		     size_t *der_len, hsmca_error *err)
{
	size_t n = 0;

	if (len == 0)
		return hsmca_error_set(err, "the CSR is empty");
	if (len > HSMCA_CSR_MAX)
		return hsmca_error_set(err, "the CSR is larger than %d bytes", HSMCA_CSR_MAX);
	if (buf[0] == DER_SEQUENCE) {
		*der = buf;
		*der_len = len;
		return 0;
	}
	if (memchr(buf, 0, len))
		return hsmca_error_set(err, "not a CSR: neither DER nor PEM "
					    "'-----BEGIN CERTIFICATE REQUEST-----'");
	if (pem_decode((const char *)buf, len, scratch, &n, err) != 0)
		return -1;
	*der = scratch;
	*der_len = n;
	return 0;
}

/* ---- names ---- */

/* Well-formed UTF-8 without control characters (what a name may hold). */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k, extra;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0 && c >= 0xc2)
			extra = 1;
		else if ((c & 0xf0) == 0xe0)
			extra = 2;
		else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
			extra = 3;
		else
			return false;
		if (i + extra >= n)
			return false;
		for (k = 1; k <= extra; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		if (extra == 2 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0)))
			return false; /* overlong, surrogates */
		if (extra == 3 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90)))
			return false;
		i += extra + 1;
	}
	return true;
}

static bool printable_ok(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(" '()+,-./:=?", c)) || c == 0)
			return false;
	}
	return true;
}

/* A value hsmca copies (CN, O): UTF8String, PrintableString or IA5String
 * with content valid for its type; T61/BMP/Universal are refused rather
 * than guessed at. */
static int parse_string(const struct tlv *v, char *out, size_t outlen)
{
	bool ok;

	switch (v->tag) {
	case DER_UTF8STRING: ok = utf8_ok(v->c, v->n); break;
	case DER_PRINTABLESTRING: ok = printable_ok(v->c, v->n); break;
	case DER_IA5STRING: {
		size_t i;

		ok = utf8_ok(v->c, v->n);
		for (i = 0; ok && i < v->n; i++)
			ok = v->c[i] < 0x80;
		break;
	}
	default: return -1;
	}
	if (!ok || v->n == 0 || v->n >= outlen)
		return -1;
	memcpy(out, v->c, v->n);
	out[v->n] = '\0';
	return 0;
}

/* Subject: every RDN one well-formed AttributeTypeAndValue; CN and O values
 * kept as text (the profile decides what is used). */
static int parse_subject(const struct tlv *name, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = name->c, *end = name->c + name->n;
	size_t rdns = 0;

	while (p < end) {
		struct tlv set, atv, oid, val;
		const uint8_t *q, *r;

		if (csr_next(&p, end, &set) != 0 || set.tag != DER_SET)
			return hsmca_error_set(err, "malformed CSR subject");
		if (++rdns > HSMCA_CSR_MAX_RDNS)
			return hsmca_error_set(err, "the CSR's subject has more than %d RDNs",
					       HSMCA_CSR_MAX_RDNS);
		q = set.c;
		if (csr_next(&q, set.c + set.n, &atv) != 0 || atv.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed CSR subject (empty or broken RDN)");
		if (q != set.c + set.n)
			return hsmca_error_set(err, "the CSR's subject has a multi-valued RDN (not issued: "
						    "one attribute per RDN)");
		r = atv.c;
		if (csr_next(&r, atv.c + atv.n, &oid) != 0 || !csr_oid_ok(&oid) ||
		    csr_next(&r, atv.c + atv.n, &val) != 0 || r != atv.c + atv.n)
			return hsmca_error_set(err, "malformed CSR subject attribute");
		/* Any value is a string: UTF8, Numeric, Printable, T61, IA5,
		 * Visible, Universal or BMP. */
		if (!memchr("\x0c\x12\x13\x14\x16\x1a\x1c\x1e", val.tag, 8))
			return hsmca_error_set(err, "the CSR's subject has a value that is not a string "
						    "(tag 0x%02x)", val.tag);
		if (OID_IS(oid.c, oid.n, oid_cn)) {
			if (csr->cn[0])
				return hsmca_error_set(err, "the CSR's subject has more than one CN");
			if (parse_string(&val, csr->cn, sizeof(csr->cn)) != 0)
				return hsmca_error_set(err, "the CSR's CN is not a UTF-8/Printable string "
							    "of at most 127 bytes without control "
							    "characters");
		} else if (OID_IS(oid.c, oid.n, oid_o)) {
			if (csr->n_o == 8)
				return hsmca_error_set(err, "the CSR has more than 8 O values");
			if (parse_string(&val, csr->o[csr->n_o], sizeof(csr->o[0])) != 0)
				return hsmca_error_set(err, "the CSR's O is not a UTF-8/Printable string "
							    "of at most 63 bytes without control "
							    "characters");
			csr->n_o++;
		} else if ((val.tag == DER_UTF8STRING && !utf8_ok(val.c, val.n)) ||
			   (val.tag == DER_PRINTABLESTRING && !printable_ok(val.c, val.n))) {
			return hsmca_error_set(err, "the CSR's subject has a string that is not valid "
						    "for its type");
		}
	}
	return 0;
}

/* ---- requested extensions ---- */

static int parse_general_names(const struct tlv *os, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = os->c, *end = os->c + os->n;
	struct tlv seq, gn;

	if (csr_next(&p, end, &seq) != 0 || seq.tag != DER_SEQUENCE || p != end)
		return hsmca_error_set(err, "malformed subjectAltName request");
	if (seq.n == 0)
		return hsmca_error_set(err, "the CSR asks for an empty subjectAltName (RFC 5280: "
					    "at least one name)");
	p = seq.c;
	while (p < seq.c + seq.n) {
		struct hsmca_san *san;

		if (csr_next(&p, seq.c + seq.n, &gn) != 0)
			return hsmca_error_set(err, "malformed subjectAltName request");
		if (csr->n_sans == HSMCA_ISSUE_MAX_SANS)
			return hsmca_error_set(err, "the CSR asks for more than %d SANs",
					       HSMCA_ISSUE_MAX_SANS);
		san = &csr->sans[csr->n_sans];
		switch (gn.tag) {
		case DER_CTX_PRIM(1): san->kind = HSMCA_SAN_EMAIL; break;
		case DER_CTX_PRIM(2): san->kind = HSMCA_SAN_DNS; break;
		case DER_CTX_PRIM(6): san->kind = HSMCA_SAN_URI; break;
		case DER_CTX_PRIM(7):
			if (gn.n != 4 && gn.n != 16)
				return hsmca_error_set(err, "the CSR asks for a malformed IP SAN");
			san->kind = HSMCA_SAN_IP;
			break;
		default:
			return hsmca_error_set(err, "the CSR asks for a SAN kind hsmca does not issue "
						    "(tag 0x%02x; only DNS, IP, URI and email are)", gn.tag);
		}
		if (gn.n >= sizeof(san->value) || gn.n == 0)
			return hsmca_error_set(err, "the CSR asks for an empty or oversized SAN");
		memcpy(san->value, gn.c, gn.n);
		san->len = gn.n;
		if (san->kind != HSMCA_SAN_IP && memchr(san->value, 0, san->len))
			return hsmca_error_set(err, "the CSR asks for a SAN with a NUL byte");
		if (hsmca_san_validate(san, err) != 0)
			return hsmca_error_prefix(err, "the CSR asks for an invalid SAN");
		csr->n_sans++;
	}
	return 0;
}

/* BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE,
 *                                 pathLenConstraint INTEGER (0..MAX) OPTIONAL } */
static int parse_bc(const struct tlv *v, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *q = v->c, *e;
	struct tlv seq, t;

	if (csr_next(&q, v->c + v->n, &seq) != 0 || seq.tag != DER_SEQUENCE || q != v->c + v->n)
		return hsmca_error_set(err, "malformed basicConstraints request");
	q = seq.c;
	e = seq.c + seq.n;
	if (q < e && *q == DER_BOOLEAN) {
		/* DEFAULT FALSE: DER omits it, so a present one is TRUE (0xff). */
		if (csr_next(&q, e, &t) != 0 || t.n != 1 || t.c[0] != 0xff)
			return hsmca_error_set(err, "the CSR's basicConstraints has a non-DER BOOLEAN");
		csr->wants_ca = true;
	}
	if (q < e && (csr_next(&q, e, &t) != 0 || !csr_uint_ok(&t)))
		return hsmca_error_set(err, "malformed basicConstraints request");
	if (q != e)
		return hsmca_error_set(err, "malformed basicConstraints request (extra fields)");
	return 0;
}

static int parse_ku(const struct tlv *v, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *q = v->c;
	struct tlv b;
	size_t i;

	if (csr_next(&q, v->c + v->n, &b) != 0 || b.tag != DER_BIT_STRING || b.n < 1 ||
	    q != v->c + v->n || b.c[0] > 7 || (b.n == 1 && b.c[0] != 0) ||
	    (b.n > 1 && (b.c[b.n - 1] & ((1u << b.c[0]) - 1))))
		return hsmca_error_set(err, "malformed keyUsage request");
	for (i = 0; i < 9 && 1 + i / 8 < b.n; i++)
		if (b.c[1 + i / 8] & (0x80 >> (i % 8)))
			csr->wants_ku |= 1u << i;
	return 0;
}

static int parse_eku(const struct tlv *v, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *q = v->c;
	struct tlv seq, o;

	if (csr_next(&q, v->c + v->n, &seq) != 0 || seq.tag != DER_SEQUENCE || seq.n == 0 ||
	    q != v->c + v->n)
		return hsmca_error_set(err, "malformed extKeyUsage request");
	q = seq.c;
	while (q < seq.c + seq.n) {
		if (csr_next(&q, seq.c + seq.n, &o) != 0 || !csr_oid_ok(&o))
			return hsmca_error_set(err, "malformed extKeyUsage request");
		if (o.n == sizeof(oid_kp_prefix) + 1 &&
		    memcmp(o.c, oid_kp_prefix, sizeof(oid_kp_prefix)) == 0) {
			switch (o.c[o.n - 1]) {
			case 1: csr->wants_eku |= HSMCA_EKU_SERVER_AUTH; continue;
			case 2: csr->wants_eku |= HSMCA_EKU_CLIENT_AUTH; continue;
			case 3: csr->wants_eku |= HSMCA_EKU_CODE_SIGNING; continue;
			case 4: csr->wants_eku |= HSMCA_EKU_EMAIL_PROTECTION; continue;
			case 8: csr->wants_eku |= HSMCA_EKU_TIME_STAMPING; continue;
			case 9: csr->wants_eku |= HSMCA_EKU_OCSP_SIGNING; continue;
			default: break;
			}
		}
		{
			ASN1_OBJECT *ao;
			const unsigned char *op = o.p;

			ao = d2i_ASN1_OBJECT(NULL, &op, (long)o.total);
			if (!ao || OBJ_obj2txt(csr->unknown_eku, sizeof(csr->unknown_eku), ao, 1) <= 0)
				snprintf(csr->unknown_eku, sizeof(csr->unknown_eku), "(unreadable OID)");
			ASN1_OBJECT_free(ao);
			ERR_clear_error();
			csr->wants_unknown_eku = true;
		}
	}
	return 0;
}

/* Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 *                          extnValue OCTET STRING } */
static int parse_extension(const struct tlv *ext, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = ext->c, *end = ext->c + ext->n;
	struct tlv oid, v;

	if (csr_next(&p, end, &oid) != 0 || !csr_oid_ok(&oid) || csr_next(&p, end, &v) != 0)
		return hsmca_error_set(err, "malformed extension request in the CSR");
	if (v.tag == DER_BOOLEAN) {
		if (v.n != 1 || v.c[0] != 0xff)
			return hsmca_error_set(err, "the CSR's extension request has a non-DER BOOLEAN "
						    "(critical must be absent or 0xFF)");
		if (csr_next(&p, end, &v) != 0)
			return hsmca_error_set(err, "malformed extension request in the CSR");
	}
	if (v.tag != DER_OCTET_STRING || p != end)
		return hsmca_error_set(err, "malformed extension request in the CSR");
	if (OID_IS(oid.c, oid.n, oid_san))
		return parse_general_names(&v, csr, err);
	if (OID_IS(oid.c, oid.n, oid_bc))
		return parse_bc(&v, csr, err);
	if (OID_IS(oid.c, oid.n, oid_ku))
		return parse_ku(&v, csr, err);
	if (OID_IS(oid.c, oid.n, oid_eku))
		return parse_eku(&v, csr, err);
	return 0; /* other requests (SKI, …) are ignored: the profile decides */
}

static int parse_extensions(const struct tlv *exts, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *r = exts->c, *end = exts->c + exts->n;
	struct tlv seen[MAX_EXTENSIONS];
	size_t n = 0, i;

	while (r < end) {
		struct tlv ext, oid;
		const uint8_t *o;

		if (csr_next(&r, end, &ext) != 0 || ext.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed CSR extension request");
		o = ext.c;
		if (csr_next(&o, ext.c + ext.n, &oid) != 0 || !csr_oid_ok(&oid))
			return hsmca_error_set(err, "malformed CSR extension request");
		if (n == MAX_EXTENSIONS)
			return hsmca_error_set(err, "the CSR requests more than %d extensions",
					       MAX_EXTENSIONS);
		for (i = 0; i < n; i++) {
			if (seen[i].n == oid.n && memcmp(seen[i].c, oid.c, oid.n) == 0) {
				char txt[80];
				ASN1_OBJECT *ao;
				const unsigned char *op = oid.p;

				ao = d2i_ASN1_OBJECT(NULL, &op, (long)oid.total);
				if (!ao || OBJ_obj2txt(txt, sizeof(txt), ao, 0) <= 0)
					snprintf(txt, sizeof(txt), "(unreadable OID)");
				ASN1_OBJECT_free(ao);
				ERR_clear_error();
				return hsmca_error_set(err, "the CSR requests the %s extension twice", txt);
			}
		}
		seen[n++] = oid;
		if (parse_extension(&ext, csr, err) != 0)
			return -1;
	}
	return 0;
}

/* attributes [0] IMPLICIT SET OF Attribute; Attribute ::= SEQUENCE {
 * type OID, values SET SIZE(1..MAX) }.  One extensionRequest at most, with
 * exactly one value: two would let a reader pick either. */
static int parse_attributes(const struct tlv *attrs, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = attrs->c, *end = attrs->c + attrs->n;
	bool have_ext_req = false;

	while (p < end) {
		struct tlv attr, oid, set, exts;
		const uint8_t *q, *r;

		if (csr_next(&p, end, &attr) != 0 || attr.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed CSR attributes");
		q = attr.c;
		if (csr_next(&q, attr.c + attr.n, &oid) != 0 || !csr_oid_ok(&oid) ||
		    csr_next(&q, attr.c + attr.n, &set) != 0 || set.tag != DER_SET || set.n == 0 ||
		    q != attr.c + attr.n)
			return hsmca_error_set(err, "malformed CSR attribute");
		r = set.c;
		while (r < set.c + set.n) {
			if (csr_next(&r, set.c + set.n, &exts) != 0)
				return hsmca_error_set(err, "malformed CSR attribute value");
		}
		if (!OID_IS(oid.c, oid.n, oid_ext_req))
			continue;
		if (have_ext_req)
			return hsmca_error_set(err, "the CSR has two extensionRequest attributes");
		have_ext_req = true;
		r = set.c;
		if (csr_next(&r, set.c + set.n, &exts) != 0 || exts.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed CSR extension request");
		if (r != set.c + set.n)
			return hsmca_error_set(err, "the CSR's extensionRequest has more than one value");
		if (parse_extensions(&exts, csr, err) != 0)
			return -1;
	}
	return 0;
}

/* ---- the request ---- */

int hsmca_csr_parse(const uint8_t *der, size_t len, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = der, *end = der + len, *q;
	struct tlv top, info, alg, sig, ver, subj, spki, attrs;

	/* All but the SAN slots, which are written as they are filled. */
	memset(csr, 0, offsetof(struct hsmca_csr, sans));
	if (csr_next(&p, end, &top) != 0 || top.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "not a CSR: the data is truncated or is not DER");
	if (p != end)
		return hsmca_error_set(err, "not a CSR: %zu bytes of trailing data after the request",
				       (size_t)(end - p));
	q = top.c;
	if (csr_next(&q, top.c + top.n, &info) != 0 || info.tag != DER_SEQUENCE ||
	    csr_next(&q, top.c + top.n, &alg) != 0 || alg.tag != DER_SEQUENCE ||
	    csr_next(&q, top.c + top.n, &sig) != 0 || sig.tag != DER_BIT_STRING || sig.n < 2 ||
	    sig.c[0] != 0 || q != top.c + top.n)
		return hsmca_error_set(err, "not a CSR: malformed CertificationRequest");
	csr->der = der;
	csr->der_len = len;
	csr->info = info.p;
	csr->info_len = info.total;
	csr->sig_alg = alg.p;
	csr->sig_alg_len = alg.total;
	csr->sig = sig.c + 1;
	csr->sig_len = sig.n - 1;
	q = info.c;
	if (csr_next(&q, info.c + info.n, &ver) != 0 || ver.tag != DER_INTEGER || ver.n != 1 ||
	    ver.c[0] != 0)
		return hsmca_error_set(err, "not a CSR: version must be 0 (v1)");
	if (csr_next(&q, info.c + info.n, &subj) != 0 || subj.tag != DER_SEQUENCE ||
	    csr_next(&q, info.c + info.n, &spki) != 0 || spki.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "not a CSR: malformed subject or public key");
	csr->subject = subj.p;
	csr->subject_len = subj.total;
	csr->spki = spki.p;
	csr->spki_len = spki.total;
	/* PKCS#10: attributes [0] is not OPTIONAL (it may be empty). */
	if (q == info.c + info.n)
		return hsmca_error_set(err, "not a CSR: the attributes field is missing (PKCS#10 "
					    "requires it, even empty)");
	if (csr_next(&q, info.c + info.n, &attrs) != 0 || attrs.tag != DER_CTX(0))
		return hsmca_error_set(err, "not a CSR: malformed attributes");
	if (q != info.c + info.n)
		return hsmca_error_set(err, "not a CSR: extra data after the attributes in the "
					    "CertificationRequestInfo");
	if (parse_attributes(&attrs, csr, err) != 0 || parse_subject(&subj, csr, err) != 0 ||
	    hsmca_csr_parse_spki(csr, err) != 0)
		return -1;
	return 0;
}

int hsmca_csr_load(const uint8_t *buf, size_t len, uint8_t *scratch, int min_rsa_bits,
		   struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *der;
	size_t der_len;

	if (hsmca_csr_decode(buf, len, scratch, &der, &der_len, err) != 0 ||
	    hsmca_csr_parse(der, der_len, csr, err) != 0 ||
	    hsmca_csr_verify(csr, min_rsa_bits, err) != 0)
		return -1;
	return 0;
}
