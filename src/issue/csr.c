/* CSRs: PEM/DER decoding, a strict DER walk that keeps the byte ranges
 * issuance copies into the certificate, and signature verification.
 *
 * OpenSSL's X509_REQ path decodes the public key through its provider
 * decoders (~170 µs per P-256 CSR, reference/performance.md); here EC and
 * Ed25519 keys are built from the raw point, and RSA goes through
 * d2i_PUBKEY. */
/* EC keys are checked through the EC_KEY API, deprecated in OpenSSL 3.0:
 * building an EVP_PKEY from a point goes through the provider's parameter
 * machinery (~30 µs per key here, a third of a P-256 CSR check). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "common/sha2.h"
#include "issue/issue.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

static const uint8_t oid_ec_pub[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t oid_p256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_ed25519[] = { 0x2b, 0x65, 0x70 };
static const uint8_t oid_rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const uint8_t oid_ecdsa_sha256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t oid_ecdsa_sha384[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const uint8_t oid_ecdsa_sha512[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04 };
static const uint8_t oid_ext_req[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e };
static const uint8_t oid_san[] = { 0x55, 0x1d, 0x11 };
static const uint8_t oid_bc[] = { 0x55, 0x1d, 0x13 };
static const uint8_t oid_ku[] = { 0x55, 0x1d, 0x0f };
static const uint8_t oid_eku[] = { 0x55, 0x1d, 0x25 };
static const uint8_t oid_kp_prefix[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03 };
static const uint8_t oid_cn[] = { 0x55, 0x04, 0x03 };
static const uint8_t oid_o[] = { 0x55, 0x04, 0x0a };

#define OID_IS(p, n, oid) ((n) == sizeof(oid) && memcmp((p), (oid), sizeof(oid)) == 0)

struct tlv {
	uint8_t tag;
	const uint8_t *c; /* content */
	size_t n;         /* content length */
	const uint8_t *p; /* whole TLV */
	size_t total;
};

static int next(const uint8_t **p, const uint8_t *end, struct tlv *t)
{
	if (hsmca_der_read(*p, end, &t->tag, &t->c, &t->n, &t->total) != 0)
		return -1;
	t->p = *p;
	*p += t->total;
	return 0;
}

int hsmca_csr_decode(const uint8_t *buf, size_t len, uint8_t *scratch, const uint8_t **der,
		     size_t *der_len, hsmca_error *err)
{
	static const char *const labels[] = { "-----BEGIN CERTIFICATE REQUEST-----",
					      "-----BEGIN NEW CERTIFICATE REQUEST-----" };
	const char *text = (const char *)buf, *begin = NULL, *end;
	size_t i, out = 0;
	EVP_ENCODE_CTX *ctx;
	int n;

	if (len == 0)
		return hsmca_error_set(err, "the CSR is empty");
	if (len > HSMCA_CSR_MAX)
		return hsmca_error_set(err, "the CSR is larger than %d bytes", HSMCA_CSR_MAX);
	if (buf[0] == 0x30) {
		*der = buf;
		*der_len = len;
		return 0;
	}
	for (i = 0; i < 2 && !begin; i++) {
		const char *hit = memmem(text, len, labels[i], strlen(labels[i]));

		if (hit)
			begin = hit + strlen(labels[i]);
	}
	if (!begin)
		return hsmca_error_set(err, "not a CSR: neither DER nor PEM "
					    "'-----BEGIN CERTIFICATE REQUEST-----'");
	end = memmem(begin, len - (size_t)(begin - text), "-----END ", 9);
	if (!end)
		return hsmca_error_set(err, "the PEM CSR is truncated (no END line)");
	ctx = EVP_ENCODE_CTX_new();
	if (!ctx)
		return hsmca_error_set(err, "out of memory");
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, scratch, &n, (const unsigned char *)begin, (int)(end - begin)) < 0) {
		EVP_ENCODE_CTX_free(ctx);
		return hsmca_error_set(err, "the PEM CSR has invalid base64");
	}
	out = (size_t)n;
	if (EVP_DecodeFinal(ctx, scratch + out, &n) < 0) {
		EVP_ENCODE_CTX_free(ctx);
		return hsmca_error_set(err, "the PEM CSR has invalid base64");
	}
	out += (size_t)n;
	EVP_ENCODE_CTX_free(ctx);
	*der = scratch;
	*der_len = out;
	return 0;
}

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

static int parse_string(const struct tlv *v, char *out, size_t outlen)
{
	/* UTF8String, PrintableString, IA5String; T61/BMP/Universal are refused
	 * rather than guessed at. */
	if (v->tag != DER_UTF8STRING && v->tag != DER_PRINTABLESTRING && v->tag != DER_IA5STRING)
		return -1;
	if (v->n == 0 || v->n >= outlen || !utf8_ok(v->c, v->n))
		return -1;
	memcpy(out, v->c, v->n);
	out[v->n] = '\0';
	return 0;
}

/* Subject: collect CN and O values (the profile decides what is kept). */
static int parse_subject(const struct tlv *name, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = name->c, *end = name->c + name->n;

	while (p < end) {
		struct tlv set, atv, oid, val;
		const uint8_t *q;

		if (next(&p, end, &set) != 0 || set.tag != DER_SET)
			return hsmca_error_set(err, "malformed CSR subject");
		q = set.c;
		while (q < set.c + set.n) {
			const uint8_t *r;

			if (next(&q, set.c + set.n, &atv) != 0 || atv.tag != DER_SEQUENCE)
				return hsmca_error_set(err, "malformed CSR subject");
			r = atv.c;
			if (next(&r, atv.c + atv.n, &oid) != 0 || oid.tag != DER_OID ||
			    next(&r, atv.c + atv.n, &val) != 0)
				return hsmca_error_set(err, "malformed CSR subject");
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
			}
		}
	}
	return 0;
}

static int parse_spki(struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = csr->spki, *end = csr->spki + csr->spki_len, *q;
	struct tlv seq, alg, oid, param, bits;
	char oidtxt[80];

	if (next(&p, end, &seq) != 0 || seq.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "malformed CSR public key");
	q = seq.c;
	if (next(&q, seq.c + seq.n, &alg) != 0 || alg.tag != DER_SEQUENCE ||
	    next(&q, seq.c + seq.n, &bits) != 0 || bits.tag != DER_BIT_STRING || bits.n < 2)
		return hsmca_error_set(err, "malformed CSR public key");
	p = alg.c;
	if (next(&p, alg.c + alg.n, &oid) != 0 || oid.tag != DER_OID)
		return hsmca_error_set(err, "malformed CSR public key algorithm");
	csr->key_type = HSMCA_KEY_UNKNOWN;
	if (OID_IS(oid.c, oid.n, oid_ec_pub)) {
		if (next(&p, alg.c + alg.n, &param) != 0 || param.tag != DER_OID)
			return hsmca_error_set(err, "the CSR's EC key has no named curve (explicit "
						    "parameters are refused)");
		if (p != alg.c + alg.n)
			return hsmca_error_set(err, "malformed EC key parameters in the CSR");
		if ((OID_IS(param.c, param.n, oid_p256) || OID_IS(param.c, param.n, oid_p384)) &&
		    bits.n > 1 && bits.c[1] != 0x04)
			return hsmca_error_set(err, "the CSR's EC key is a compressed point; send it "
						    "uncompressed (Go and Kubernetes cannot read compressed keys)");
		if (OID_IS(param.c, param.n, oid_p256) && bits.n == 66)
			csr->key_type = HSMCA_KEY_EC_P256;
		else if (OID_IS(param.c, param.n, oid_p384) && bits.n == 98)
			csr->key_type = HSMCA_KEY_EC_P384;
		else if (OID_IS(param.c, param.n, oid_p256) || OID_IS(param.c, param.n, oid_p384))
			return hsmca_error_set(err, "malformed EC point in the CSR");
		else {
			ASN1_OBJECT *o = NULL;
			const unsigned char *op = param.p;

			o = d2i_ASN1_OBJECT(NULL, &op, (long)param.total);
			OBJ_obj2txt(oidtxt, sizeof(oidtxt), o, 0);
			ASN1_OBJECT_free(o);
			return hsmca_error_set(err, "the CSR's key is on curve %s; accepted keys are "
						    "P-256, P-384, Ed25519 and RSA", oidtxt);
		}
	} else if (OID_IS(oid.c, oid.n, oid_ed25519)) {
		if (p != alg.c + alg.n)
			return hsmca_error_set(err, "the CSR's Ed25519 key has algorithm parameters "
						    "(RFC 8410 forbids them)");
		if (bits.n != 33)
			return hsmca_error_set(err, "malformed Ed25519 key in the CSR");
		csr->key_type = HSMCA_KEY_ED25519;
	} else if (OID_IS(oid.c, oid.n, oid_rsa)) {
		/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
		const uint8_t *r = bits.c + 1;
		struct tlv rsa, mod, null;
		size_t mbytes;

		if (next(&p, alg.c + alg.n, &null) != 0 || null.tag != DER_NULL || null.n != 0 ||
		    p != alg.c + alg.n)
			return hsmca_error_set(err, "the CSR's RSA key lacks the NULL parameters RFC 3279 "
						    "requires");
		if (next(&r, bits.c + bits.n, &rsa) != 0 || rsa.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed RSA key in the CSR");
		r = rsa.c;
		if (next(&r, rsa.c + rsa.n, &mod) != 0 || mod.tag != DER_INTEGER || mod.n == 0)
			return hsmca_error_set(err, "malformed RSA key in the CSR");
		mbytes = mod.n - (mod.c[0] == 0);
		csr->rsa_bits = (int)mbytes * 8;
		if (mbytes && mod.c[mod.c[0] == 0])
			csr->rsa_bits -= __builtin_clz(mod.c[mod.c[0] == 0]) - 24;
		csr->key_type = csr->rsa_bits <= 2048 ? HSMCA_KEY_RSA_2048
			      : csr->rsa_bits <= 3072 ? HSMCA_KEY_RSA_3072 : HSMCA_KEY_RSA_4096;
	} else {
		ASN1_OBJECT *o = NULL;
		const unsigned char *op = oid.p;

		o = d2i_ASN1_OBJECT(NULL, &op, (long)oid.total);
		OBJ_obj2txt(oidtxt, sizeof(oidtxt), o, 0);
		ASN1_OBJECT_free(o);
		return hsmca_error_set(err, "the CSR's key type %s is not accepted (P-256, P-384, "
					    "Ed25519 and RSA are)", oidtxt);
	}
	return 0;
}

static int parse_general_names(const struct tlv *os, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = os->c, *end = os->c + os->n;
	struct tlv seq, gn;

	if (next(&p, end, &seq) != 0 || seq.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "malformed subjectAltName request");
	p = seq.c;
	while (p < seq.c + seq.n) {
		struct hsmca_san *san;

		if (next(&p, seq.c + seq.n, &gn) != 0)
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

static int parse_extension(const struct tlv *ext, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = ext->c, *end = ext->c + ext->n;
	struct tlv oid, v;

	if (next(&p, end, &oid) != 0 || oid.tag != DER_OID || next(&p, end, &v) != 0)
		return hsmca_error_set(err, "malformed extension request in the CSR");
	if (v.tag == DER_BOOLEAN && next(&p, end, &v) != 0)
		return hsmca_error_set(err, "malformed extension request in the CSR");
	if (v.tag != DER_OCTET_STRING)
		return hsmca_error_set(err, "malformed extension request in the CSR");
	if (OID_IS(oid.c, oid.n, oid_san))
		return parse_general_names(&v, csr, err);
	if (OID_IS(oid.c, oid.n, oid_bc)) {
		const uint8_t *q = v.c;
		struct tlv seq, b;

		if (next(&q, v.c + v.n, &seq) != 0 || seq.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed basicConstraints request");
		q = seq.c;
		if (seq.n > 0 && next(&q, seq.c + seq.n, &b) == 0 && b.tag == DER_BOOLEAN && b.n == 1 &&
		    b.c[0])
			csr->wants_ca = true;
		return 0;
	}
	if (OID_IS(oid.c, oid.n, oid_ku)) {
		const uint8_t *q = v.c;
		struct tlv b;
		size_t i;

		if (next(&q, v.c + v.n, &b) != 0 || b.tag != DER_BIT_STRING || b.n < 1)
			return hsmca_error_set(err, "malformed keyUsage request");
		for (i = 0; i < 9 && 1 + i / 8 < b.n; i++)
			if (b.c[1 + i / 8] & (0x80 >> (i % 8)))
				csr->wants_ku |= 1u << i;
		return 0;
	}
	if (OID_IS(oid.c, oid.n, oid_eku)) {
		const uint8_t *q = v.c;
		struct tlv seq, o;

		if (next(&q, v.c + v.n, &seq) != 0 || seq.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed extKeyUsage request");
		q = seq.c;
		while (q < seq.c + seq.n) {
			if (next(&q, seq.c + seq.n, &o) != 0 || o.tag != DER_OID)
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
				OBJ_obj2txt(csr->unknown_eku, sizeof(csr->unknown_eku), ao, 1);
				ASN1_OBJECT_free(ao);
				csr->wants_unknown_eku = true;
			}
		}
		return 0;
	}
	return 0; /* other requests (SKI, …) are ignored: the profile decides */
}

static int parse_attributes(const struct tlv *attrs, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = attrs->c, *end = attrs->c + attrs->n;

	while (p < end) {
		struct tlv attr, oid, set, exts, ext;
		const uint8_t *q, *r;

		if (next(&p, end, &attr) != 0 || attr.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed CSR attributes");
		q = attr.c;
		if (next(&q, attr.c + attr.n, &oid) != 0 || oid.tag != DER_OID ||
		    next(&q, attr.c + attr.n, &set) != 0 || set.tag != DER_SET)
			return hsmca_error_set(err, "malformed CSR attribute");
		if (!OID_IS(oid.c, oid.n, oid_ext_req))
			continue;
		r = set.c;
		if (next(&r, set.c + set.n, &exts) != 0 || exts.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "malformed CSR extension request");
		r = exts.c;
		while (r < exts.c + exts.n) {
			if (next(&r, exts.c + exts.n, &ext) != 0 || ext.tag != DER_SEQUENCE)
				return hsmca_error_set(err, "malformed CSR extension request");
			if (parse_extension(&ext, csr, err) != 0)
				return -1;
		}
	}
	return 0;
}

int hsmca_csr_parse(const uint8_t *der, size_t len, struct hsmca_csr *csr, hsmca_error *err)
{
	const uint8_t *p = der, *end = der + len, *q;
	struct tlv top, info, alg, sig, ver, subj, spki, attrs;

	/* All but the SAN slots, which are written as they are filled. */
	memset(csr, 0, offsetof(struct hsmca_csr, sans));
	if (next(&p, end, &top) != 0 || top.tag != DER_SEQUENCE || p != end)
		return hsmca_error_set(err, "not a CSR: the data is truncated or is not DER");
	q = top.c;
	if (next(&q, top.c + top.n, &info) != 0 || info.tag != DER_SEQUENCE ||
	    next(&q, top.c + top.n, &alg) != 0 || alg.tag != DER_SEQUENCE ||
	    next(&q, top.c + top.n, &sig) != 0 || sig.tag != DER_BIT_STRING || sig.n < 2 ||
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
	if (next(&q, info.c + info.n, &ver) != 0 || ver.tag != DER_INTEGER || ver.n != 1 ||
	    ver.c[0] != 0)
		return hsmca_error_set(err, "not a CSR: version must be 0 (v1)");
	if (next(&q, info.c + info.n, &subj) != 0 || subj.tag != DER_SEQUENCE ||
	    next(&q, info.c + info.n, &spki) != 0 || spki.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "not a CSR: malformed subject or public key");
	csr->subject = subj.p;
	csr->subject_len = subj.total;
	csr->spki = spki.p;
	csr->spki_len = spki.total;
	if (q < info.c + info.n) {
		if (next(&q, info.c + info.n, &attrs) != 0 || attrs.tag != DER_CTX(0))
			return hsmca_error_set(err, "not a CSR: malformed attributes");
		if (parse_attributes(&attrs, csr, err) != 0)
			return -1;
	}
	if (parse_subject(&subj, csr, err) != 0 || parse_spki(csr, err) != 0)
		return -1;
	return 0;
}

static EC_GROUP *groups[2];
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;

static void groups_init(void)
{
	groups[0] = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	groups[1] = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

/* Verify an ECDSA signature over a digest with the CSR's raw point.  o2i
 * rejects points off the curve; P-256 and P-384 have cofactor 1, so that is
 * the whole public-key validation. */
static int ec_verify(const struct hsmca_csr *csr, const uint8_t *md, size_t mdlen)
{
	bool p256 = csr->key_type == HSMCA_KEY_EC_P256;
	size_t plen = p256 ? 65 : 97;
	const unsigned char *pt = csr->spki + csr->spki_len - plen;
	EC_KEY *k;
	int ok = -1;

	pthread_once(&groups_once, groups_init);
	k = EC_KEY_new();
	if (!k || !groups[p256 ? 0 : 1] || EC_KEY_set_group(k, groups[p256 ? 0 : 1]) != 1 ||
	    !o2i_ECPublicKey(&k, &pt, (long)plen)) {
		EC_KEY_free(k);
		return -2; /* invalid key */
	}
	if (ECDSA_verify(0, md, (int)mdlen, csr->sig, (int)csr->sig_len, k) == 1)
		ok = 0;
	EC_KEY_free(k);
	return ok;
}

int hsmca_csr_verify(const struct hsmca_csr *csr, int min_rsa_bits, hsmca_error *err)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const uint8_t *a = csr->sig_alg;
	struct tlv alg, oid;
	const uint8_t *q;
	int ret = -1;

	ERR_clear_error();
	q = a;
	if (next(&q, a + csr->sig_alg_len, &alg) != 0)
		return hsmca_error_set(err, "malformed CSR signature algorithm");
	q = alg.c;
	if (next(&q, alg.c + alg.n, &oid) != 0 || oid.tag != DER_OID)
		return hsmca_error_set(err, "malformed CSR signature algorithm");
	switch (csr->key_type) {
	case HSMCA_KEY_EC_P256:
	case HSMCA_KEY_EC_P384: {
		uint8_t md[SHA512_DIGEST_LENGTH];
		size_t mdlen;

		if (OID_IS(oid.c, oid.n, oid_ecdsa_sha256)) {
			hsmca_sha2(256, csr->info, csr->info_len, md);
			mdlen = 32;
		} else if (OID_IS(oid.c, oid.n, oid_ecdsa_sha384)) {
			hsmca_sha2(384, csr->info, csr->info_len, md);
			mdlen = 48;
		} else if (OID_IS(oid.c, oid.n, oid_ecdsa_sha512)) {
			hsmca_sha2(512, csr->info, csr->info_len, md);
			mdlen = 64;
		} else {
			return hsmca_error_set(err, "the CSR's signature algorithm does not match its EC key");
		}
		switch (ec_verify(csr, md, mdlen)) {
		case 0:
			break;
		case -2:
			hsmca_error_openssl(err, "the CSR's EC public key is not a valid point");
			goto out;
		default:
			hsmca_error_openssl(err, "the CSR's signature does not verify (forged or corrupted)");
			goto out;
		}
		break;
	}
	case HSMCA_KEY_ED25519: {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		int ok;

		if (!OID_IS(oid.c, oid.n, oid_ed25519)) {
			EVP_MD_CTX_free(m);
			return hsmca_error_set(err, "the CSR's signature algorithm does not match its Ed25519 key");
		}
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						   csr->spki + csr->spki_len - 32, 32);
		ok = m && pkey && EVP_DigestVerifyInit(m, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestVerify(m, csr->sig, csr->sig_len, csr->info, csr->info_len) == 1;
		EVP_MD_CTX_free(m);
		if (!ok) {
			hsmca_error_openssl(err, "the CSR's signature does not verify (forged or corrupted)");
			goto out;
		}
		break;
	}
	case HSMCA_KEY_RSA_2048:
	case HSMCA_KEY_RSA_3072:
	case HSMCA_KEY_RSA_4096: {
		/* RSA: rare and cheap to verify; let OpenSSL handle PKCS#1 and PSS. */
		const unsigned char *rp = csr->der;
		X509_REQ *req;

		if (csr->rsa_bits < min_rsa_bits)
			return hsmca_error_set(err, "the CSR's key is RSA-%d; this profile needs at least "
						    "RSA-%d", csr->rsa_bits, min_rsa_bits);
		if (!(oid.n == sizeof(oid_rsa) && memcmp(oid.c, oid_rsa, sizeof(oid_rsa) - 1) == 0 &&
		      (oid.c[oid.n - 1] == 0x0a || oid.c[oid.n - 1] == 0x0b || oid.c[oid.n - 1] == 0x0c ||
		       oid.c[oid.n - 1] == 0x0d))) {
			const char *weak = "an unknown algorithm";

			if (oid.n == sizeof(oid_rsa) && memcmp(oid.c, oid_rsa, sizeof(oid_rsa) - 1) == 0)
				weak = oid.c[oid.n - 1] == 0x04 ? "MD5" : oid.c[oid.n - 1] == 0x05 ? "SHA-1"
				     : oid.c[oid.n - 1] == 0x0e ? "SHA-224" : weak;
			return hsmca_error_set(err, "the CSR is signed with %s; accepted: SHA-256/384/512 "
						    "with RSA, RSASSA-PSS", weak);
		}
		req = d2i_X509_REQ(NULL, &rp, (long)csr->der_len);
		if (!req || X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
			X509_REQ_free(req);
			hsmca_error_openssl(err, "the CSR's signature does not verify (forged or corrupted)");
			goto out;
		}
		X509_REQ_free(req);
		break;
	}
	default:
		return hsmca_error_set(err, "the CSR's key type is not accepted");
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(pkey);
	return ret;
}
