/* The per-certificate lint of the batch path: the rules of hsmca_lint_tbs()
 * (lint.c) checked by walking the TBS bytes in DER ourselves.
 *
 * OpenSSL's d2i_X509 decodes the public key through its provider decoders,
 * ~170 µs of the ~240 µs a full lint costs per certificate (three times the
 * rest of a P-256 certificate's host work, docs/performance.md).  The key
 * here was decoded and checked from the very same bytes when the CSR was
 * (issue/csr_key.c), so this walk checks its structure and everything else
 * every certificate must satisfy, and needs no key decoding.  An issuer with
 * nameConstraints gets the OpenSSL lint, whose checker we do not duplicate. */
#include "x509/x509.h"

#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

struct t {
	uint8_t tag;
	const uint8_t *c;
	size_t n;
};

static int rd(const uint8_t **p, const uint8_t *end, struct t *t)
{
	size_t total;

	if (hsmca_der_read(*p, end, &t->tag, &t->c, &t->n, &total) != 0)
		return -1;
	*p += total;
	return 0;
}

static bool oid_ok(const struct t *t)
{
	size_t i;

	if (t->tag != DER_OID || t->n == 0 || (t->c[t->n - 1] & 0x80))
		return false;
	for (i = 0; i < t->n; i++)
		if (t->c[i] == 0x80 && (i == 0 || !(t->c[i - 1] & 0x80)))
			return false;
	return true;
}

#define IS(t, o) ((t).n == sizeof(o) && memcmp((t).c, (o), sizeof(o)) == 0)

static const uint8_t oid_bc[] = { 0x55, 0x1d, 0x13 };
static const uint8_t oid_ku[] = { 0x55, 0x1d, 0x0f };
static const uint8_t oid_ski[] = { 0x55, 0x1d, 0x0e };
static const uint8_t oid_aki[] = { 0x55, 0x1d, 0x23 };
static const uint8_t oid_san[] = { 0x55, 0x1d, 0x11 };
static const uint8_t oid_eku[] = { 0x55, 0x1d, 0x25 };
static const uint8_t oid_crl_dp[] = { 0x55, 0x1d, 0x1f };
static const uint8_t oid_aia[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01 };

/* The signature algorithms hsmca signs with (hsmca_sigalg_der). */
static bool sigalg_known(const struct t *o)
{
	static const uint8_t ecdsa[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03 };
	static const uint8_t rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01 };
	static const uint8_t ed25519[] = { 0x2b, 0x65, 0x70 };

	if (IS(*o, ed25519))
		return true;
	if (o->n == sizeof(ecdsa) + 1 && memcmp(o->c, ecdsa, sizeof(ecdsa)) == 0)
		return o->c[o->n - 1] == 2 || o->c[o->n - 1] == 3;
	if (o->n == sizeof(rsa) + 1 && memcmp(o->c, rsa, sizeof(rsa)) == 0)
		return o->c[o->n - 1] == 0x0a || o->c[o->n - 1] == 0x0b || o->c[o->n - 1] == 0x0c;
	return false;
}

/* Name ::= SEQUENCE OF SET OF SEQUENCE { OID, value }; returns the RDN
 * count or -1. */
static int name_walk(const struct t *name)
{
	const uint8_t *p = name->c, *end = name->c + name->n;
	int rdns = 0;

	if (name->tag != DER_SEQUENCE)
		return -1;
	while (p < end) {
		struct t set, atv, oid, val;
		const uint8_t *q, *r;

		if (rd(&p, end, &set) != 0 || set.tag != DER_SET || set.n == 0)
			return -1;
		for (q = set.c; q < set.c + set.n;) {
			if (rd(&q, set.c + set.n, &atv) != 0 || atv.tag != DER_SEQUENCE)
				return -1;
			r = atv.c;
			if (rd(&r, atv.c + atv.n, &oid) != 0 || !oid_ok(&oid) ||
			    rd(&r, atv.c + atv.n, &val) != 0 || r != atv.c + atv.n)
				return -1;
		}
		rdns++;
	}
	return rdns;
}

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ. */
static int time_read(const struct t *t, time_t *out)
{
	struct tm tm;
	size_t i, digits = t->tag == DER_UTCTIME ? 12 : 14;
	int v[7] = { 0 }, y;

	if ((t->tag != DER_UTCTIME && t->tag != DER_GENERALIZEDTIME) || t->n != digits + 1 ||
	    t->c[digits] != 'Z')
		return -1;
	for (i = 0; i < digits; i++)
		if (t->c[i] < '0' || t->c[i] > '9')
			return -1;
	for (i = 0; i < digits; i += 2)
		v[i / 2] = (t->c[i] - '0') * 10 + (t->c[i + 1] - '0');
	memset(&tm, 0, sizeof(tm));
	if (t->tag == DER_UTCTIME) {
		y = v[0] < 50 ? 2000 + v[0] : 1900 + v[0];
		tm.tm_mon = v[1] - 1, tm.tm_mday = v[2], tm.tm_hour = v[3], tm.tm_min = v[4];
		tm.tm_sec = v[5];
	} else {
		y = v[0] * 100 + v[1];
		tm.tm_mon = v[2] - 1, tm.tm_mday = v[3], tm.tm_hour = v[4], tm.tm_min = v[5];
		tm.tm_sec = v[6];
	}
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 59)
		return -1;
	tm.tm_year = y - 1900;
	*out = timegm(&tm);
	return 0;
}

struct exts {
	bool bc, ku, ski, aki, san, san_critical;
	bool ca;
	long path_len;
	unsigned ku_bits;
};

static int ext_value(const struct t *oid, bool critical, const struct t *os, struct exts *x,
		     hsmca_error *err)
{
	const uint8_t *q = os->c, *end = os->c + os->n;
	struct t v, e;

	if (rd(&q, end, &v) != 0 || q != end)
		return hsmca_error_set(err, "lint: malformed extension value");
	if (IS(*oid, oid_bc)) {
		if (!critical || v.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "lint: basicConstraints must be critical");
		x->bc = true;
		x->path_len = -1;
		q = v.c;
		if (q < v.c + v.n && *q == DER_BOOLEAN) {
			if (rd(&q, v.c + v.n, &e) != 0 || e.n != 1 || e.c[0] != 0xff)
				return hsmca_error_set(err, "lint: basicConstraints has a non-DER BOOLEAN");
			x->ca = true;
		}
		if (q < v.c + v.n) {
			if (rd(&q, v.c + v.n, &e) != 0 || e.tag != DER_INTEGER || e.n != 1 ||
			    (e.c[0] & 0x80))
				return hsmca_error_set(err, "lint: malformed pathLenConstraint");
			x->path_len = e.c[0];
		}
		if (q != v.c + v.n)
			return hsmca_error_set(err, "lint: malformed basicConstraints");
	} else if (IS(*oid, oid_ku)) {
		size_t i;

		if (!critical)
			return hsmca_error_set(err, "lint: keyUsage extension must be critical");
		if (v.tag != DER_BIT_STRING || v.n < 2 || v.n > 3 || v.c[0] > 7 ||
		    (v.c[v.n - 1] & ((1u << v.c[0]) - 1)))
			return hsmca_error_set(err, "lint: malformed keyUsage");
		x->ku = true;
		for (i = 0; i < 9 && 1 + i / 8 < v.n; i++)
			if (v.c[1 + i / 8] & (0x80 >> (i % 8)))
				x->ku_bits |= 1u << i;
	} else if (IS(*oid, oid_ski)) {
		if (v.tag != DER_OCTET_STRING || v.n == 0)
			return hsmca_error_set(err, "lint: malformed subjectKeyIdentifier");
		x->ski = true;
	} else if (IS(*oid, oid_aki)) {
		if (v.tag != DER_SEQUENCE || v.n == 0)
			return hsmca_error_set(err, "lint: malformed authorityKeyIdentifier");
		x->aki = true;
	} else if (IS(*oid, oid_san)) {
		if (v.tag != DER_SEQUENCE || v.n == 0)
			return hsmca_error_set(err, "lint: malformed subjectAltName");
		for (q = v.c; q < v.c + v.n;)
			if (rd(&q, v.c + v.n, &e) != 0 || (e.tag != DER_CTX_PRIM(1) && e.tag != DER_CTX_PRIM(2) &&
							   e.tag != DER_CTX_PRIM(6) && e.tag != DER_CTX_PRIM(7)) ||
			    e.n == 0)
				return hsmca_error_set(err, "lint: malformed subjectAltName");
		x->san = true;
		x->san_critical = critical;
	} else if (IS(*oid, oid_eku)) {
		if (v.tag != DER_SEQUENCE || v.n == 0)
			return hsmca_error_set(err, "lint: malformed extKeyUsage");
		for (q = v.c; q < v.c + v.n;)
			if (rd(&q, v.c + v.n, &e) != 0 || !oid_ok(&e))
				return hsmca_error_set(err, "lint: malformed extKeyUsage");
	} else if (IS(*oid, oid_crl_dp) || IS(*oid, oid_aia)) {
		/* The CA's URLs (hsmca_ext_ca_urls): a non-empty SEQUENCE of
		 * well-formed elements, never critical (RFC 5280 4.2.1.13, 4.2.2.1). */
		if (critical || v.tag != DER_SEQUENCE || v.n == 0)
			return hsmca_error_set(err, "lint: malformed %s",
					       IS(*oid, oid_aia) ? "authorityInfoAccess" :
								   "cRLDistributionPoints");
		for (q = v.c; q < v.c + v.n;)
			if (rd(&q, v.c + v.n, &e) != 0 || e.tag != DER_SEQUENCE || e.n == 0)
				return hsmca_error_set(err, "lint: malformed %s",
						       IS(*oid, oid_aia) ? "authorityInfoAccess" :
									   "cRLDistributionPoints");
	} else {
		return hsmca_error_set(err, "lint: an extension hsmca does not write");
	}
	return 0;
}

static int exts_walk(const struct t *wrap, struct exts *x, hsmca_error *err)
{
	const uint8_t *p = wrap->c, *end = wrap->c + wrap->n;
	struct t seq, ext, oid, v, seen[16];
	size_t n = 0, i;

	if (rd(&p, end, &seq) != 0 || seq.tag != DER_SEQUENCE || seq.n == 0 || p != end)
		return hsmca_error_set(err, "lint: malformed extensions");
	for (p = seq.c; p < seq.c + seq.n;) {
		const uint8_t *q;
		bool critical = false;

		if (rd(&p, seq.c + seq.n, &ext) != 0 || ext.tag != DER_SEQUENCE)
			return hsmca_error_set(err, "lint: malformed extension");
		q = ext.c;
		if (rd(&q, ext.c + ext.n, &oid) != 0 || !oid_ok(&oid) || rd(&q, ext.c + ext.n, &v) != 0)
			return hsmca_error_set(err, "lint: malformed extension");
		if (v.tag == DER_BOOLEAN) {
			if (v.n != 1 || v.c[0] != 0xff || rd(&q, ext.c + ext.n, &v) != 0)
				return hsmca_error_set(err, "lint: extension with a non-DER BOOLEAN");
			critical = true;
		}
		if (v.tag != DER_OCTET_STRING || q != ext.c + ext.n)
			return hsmca_error_set(err, "lint: malformed extension");
		for (i = 0; i < n; i++)
			if (seen[i].n == oid.n && memcmp(seen[i].c, oid.c, oid.n) == 0)
				return hsmca_error_set(err, "lint: the extensions are invalid or duplicated");
		if (n == sizeof(seen) / sizeof(seen[0]))
			return hsmca_error_set(err, "lint: too many extensions");
		seen[n++] = oid;
		if (ext_value(&oid, critical, &v, x, err) != 0)
			return -1;
	}
	return 0;
}

int hsmca_lint_tbs_der(const uint8_t *tbs, size_t len, const struct hsmca_lint_expect *ex,
		       hsmca_error *err)
{
	const uint8_t *p = tbs, *end = tbs + len, *q, *r;
	struct t top, ver, vi, serial, alg, aoid, issuer, validity, nb, na, subject, spki, salg,
		soid, bits, exts;
	struct exts x;
	time_t t_nb, t_na;
	int subject_rdns;
	size_t mag;

	if (ex->issuer && X509_get_ext_by_NID(ex->issuer, NID_name_constraints, -1) >= 0)
		return hsmca_lint_tbs(tbs, len, ex, err);
	memset(&x, 0, sizeof(x));
	if (rd(&p, end, &top) != 0 || top.tag != DER_SEQUENCE || p != end)
		return hsmca_error_set(err, "lint: the TBSCertificate does not parse");
	p = top.c;
	end = top.c + top.n;
	if (rd(&p, end, &ver) != 0 || ver.tag != DER_CTX(0))
		return hsmca_error_set(err, "lint: not a v3 certificate");
	q = ver.c;
	if (rd(&q, ver.c + ver.n, &vi) != 0 || vi.tag != DER_INTEGER || vi.n != 1 || vi.c[0] != 2 ||
	    q != ver.c + ver.n)
		return hsmca_error_set(err, "lint: not a v3 certificate");
	if (rd(&p, end, &serial) != 0 || serial.tag != DER_INTEGER || serial.n == 0 ||
	    (serial.c[0] & 0x80) || (serial.n > 1 && serial.c[0] == 0 && !(serial.c[1] & 0x80)))
		return hsmca_error_set(err, "lint: serial number must be positive (RFC 5280 4.1.2.2)");
	mag = serial.n - (serial.c[0] == 0);
	if (serial.n > 20 || mag > 20)
		return hsmca_error_set(err, "lint: serial number longer than 20 octets (RFC 5280 4.1.2.2)");
	if (mag < 8)
		return hsmca_error_set(err, "lint: serial number has less than 64 bits of entropy");
	if (rd(&p, end, &alg) != 0 || alg.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "lint: malformed signature algorithm");
	q = alg.c;
	if (rd(&q, alg.c + alg.n, &aoid) != 0 || !oid_ok(&aoid) || !sigalg_known(&aoid))
		return hsmca_error_set(err, "lint: unknown signature algorithm in the TBS");
	if (rd(&p, end, &issuer) != 0 || name_walk(&issuer) <= 0)
		return hsmca_error_set(err, "lint: empty or malformed issuer name (RFC 5280 4.1.2.4)");
	if (rd(&p, end, &validity) != 0 || validity.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "lint: malformed validity");
	q = validity.c;
	if (rd(&q, validity.c + validity.n, &nb) != 0 || rd(&q, validity.c + validity.n, &na) != 0 ||
	    q != validity.c + validity.n || time_read(&nb, &t_nb) != 0 || time_read(&na, &t_na) != 0)
		return hsmca_error_set(err, "lint: malformed validity");
	if (t_nb >= t_na)
		return hsmca_error_set(err, "lint: notBefore is not before notAfter");
	if (ex->issuer_not_after && t_na > ex->issuer_not_after)
		return hsmca_error_set(err, "lint: notAfter runs past the issuer's notAfter");
	if (rd(&p, end, &subject) != 0 || (subject_rdns = name_walk(&subject)) < 0)
		return hsmca_error_set(err, "lint: malformed subject name");
	if (ex->ca && subject_rdns == 0)
		return hsmca_error_set(err, "lint: a CA needs a non-empty subject (RFC 5280 4.1.2.6)");
	/* SubjectPublicKeyInfo: one AlgorithmIdentifier, one BIT STRING without
	 * unused bits, nothing after. */
	if (rd(&p, end, &spki) != 0 || spki.tag != DER_SEQUENCE)
		return hsmca_error_set(err, "lint: malformed subjectPublicKeyInfo");
	q = spki.c;
	if (rd(&q, spki.c + spki.n, &salg) != 0 || salg.tag != DER_SEQUENCE ||
	    rd(&q, spki.c + spki.n, &bits) != 0 || bits.tag != DER_BIT_STRING || bits.n < 2 ||
	    q != spki.c + spki.n)
		return hsmca_error_set(err, "lint: malformed subjectPublicKeyInfo");
	r = salg.c;
	if (rd(&r, salg.c + salg.n, &soid) != 0 || !oid_ok(&soid))
		return hsmca_error_set(err, "lint: malformed subjectPublicKeyInfo algorithm");
	if (bits.c[0] != 0)
		return hsmca_error_set(err, "lint: the subjectPublicKey BIT STRING has unused bits");
	if (rd(&p, end, &exts) != 0 || exts.tag != DER_CTX(3) || p != end)
		return hsmca_error_set(err, "lint: the TBSCertificate must end with its extensions");
	if (exts_walk(&exts, &x, err) != 0)
		return -1;
	if (ex->ca && !x.bc)
		return hsmca_error_set(err, "lint: basicConstraints extension missing");
	if (!x.ku)
		return hsmca_error_set(err, "lint: keyUsage extension missing");
	if (ex->ca && !x.ski)
		return hsmca_error_set(err, "lint: subjectKeyIdentifier extension missing");
	if (!ex->root && !x.aki)
		return hsmca_error_set(err, "lint: authorityKeyIdentifier extension missing");
	if (subject_rdns == 0 && !(x.san && x.san_critical))
		return hsmca_error_set(err, "lint: an empty subject needs a critical subjectAltName "
					    "(RFC 5280 4.2.1.6)");
	if (ex->ca) {
		if (!x.ca)
			return hsmca_error_set(err, "lint: basicConstraints must say CA:TRUE");
		if (x.path_len != ex->path_len)
			return hsmca_error_set(err, "lint: pathLenConstraint is %ld, expected %d",
					       x.path_len, ex->path_len);
		if ((x.ku_bits & (HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN)) !=
		    (HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN))
			return hsmca_error_set(err, "lint: a CA's keyUsage must include keyCertSign and "
						    "cRLSign");
		if (ex->issuer && X509_get_pathlen(ex->issuer) == 0)
			return hsmca_error_set(err, "lint: the issuer's pathLenConstraint is 0: it cannot "
						    "issue a CA");
	} else {
		if (x.ca)
			return hsmca_error_set(err, "lint: a leaf must not say CA:TRUE");
		if (x.ku_bits & HSMCA_KU_KEY_CERT_SIGN)
			return hsmca_error_set(err, "lint: a leaf must not have keyCertSign");
	}
	return 0;
}
