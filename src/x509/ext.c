/* Certificate extensions encoded straight to DER. */
#include "x509/x509.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <libpsl.h>
#include <pthread.h>

#include <openssl/sha.h>

static const uint8_t oid_bc[] = { 0x55, 0x1d, 0x13 };
static const uint8_t oid_ku[] = { 0x55, 0x1d, 0x0f };
static const uint8_t oid_eku[] = { 0x55, 0x1d, 0x25 };
static const uint8_t oid_ski[] = { 0x55, 0x1d, 0x0e };
static const uint8_t oid_aki[] = { 0x55, 0x1d, 0x23 };
static const uint8_t oid_san[] = { 0x55, 0x1d, 0x11 };

static size_t ext_begin(struct hsmca_der *d, const uint8_t *oid, size_t n, bool critical)
{
	size_t ext = hsmca_der_begin(d, DER_SEQUENCE);

	hsmca_der_tlv(d, DER_OID, oid, n);
	if (critical)
		hsmca_der_bool(d, true);
	return ext;
}

void hsmca_ext_basic_constraints(struct hsmca_der *d, bool ca, int path_len)
{
	size_t ext = ext_begin(d, oid_bc, sizeof(oid_bc), true);
	size_t os = hsmca_der_begin(d, DER_OCTET_STRING);
	size_t seq = hsmca_der_begin(d, DER_SEQUENCE);

	if (ca) {
		hsmca_der_bool(d, true);
		if (path_len >= 0)
			hsmca_der_int(d, path_len);
	}
	hsmca_der_end(d, seq);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

void hsmca_ext_key_usage(struct hsmca_der *d, unsigned ku)
{
	uint8_t bits[3];
	size_t nbytes, i;
	int unused = 0, highest = -1;
	size_t ext, os;

	/* KeyUsage bit i is the i-th bit from the most significant of byte 0. */
	memset(bits, 0, sizeof(bits));
	for (i = 0; i < 9; i++) {
		if (ku & (1u << i)) {
			bits[i / 8] |= (uint8_t)(0x80 >> (i % 8));
			highest = (int)i;
		}
	}
	nbytes = highest < 0 ? 1 : (size_t)highest / 8 + 1;
	if (highest >= 0)
		unused = 7 - highest % 8;
	ext = ext_begin(d, oid_ku, sizeof(oid_ku), true);
	os = hsmca_der_begin(d, DER_OCTET_STRING);
	{
		uint8_t v[4];

		v[0] = (uint8_t)unused;
		memcpy(v + 1, bits, nbytes);
		hsmca_der_tlv(d, DER_BIT_STRING, v, nbytes + 1);
	}
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

void hsmca_ext_ext_key_usage(struct hsmca_der *d, unsigned eku)
{
	static const uint8_t kp[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x00 };
	/* id-kp-serverAuth .1, clientAuth .2, codeSigning .3, emailProtection .4,
	 * timeStamping .8, OCSPSigning .9 */
	static const uint8_t last[] = { 1, 2, 3, 4, 9, 8 };
	size_t ext, os, seq, i;

	ext = ext_begin(d, oid_eku, sizeof(oid_eku), false);
	os = hsmca_der_begin(d, DER_OCTET_STRING);
	seq = hsmca_der_begin(d, DER_SEQUENCE);
	for (i = 0; i < sizeof(last); i++) {
		if (eku & (1u << i)) {
			uint8_t oid[sizeof(kp)];

			memcpy(oid, kp, sizeof(kp));
			oid[sizeof(kp) - 1] = last[i];
			hsmca_der_tlv(d, DER_OID, oid, sizeof(oid));
		}
	}
	hsmca_der_end(d, seq);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

void hsmca_ext_ski(struct hsmca_der *d, const uint8_t keyid[20])
{
	size_t ext = ext_begin(d, oid_ski, sizeof(oid_ski), false);
	size_t os = hsmca_der_begin(d, DER_OCTET_STRING);

	hsmca_der_tlv(d, DER_OCTET_STRING, keyid, 20);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

void hsmca_ext_aki(struct hsmca_der *d, const uint8_t keyid[20])
{
	size_t ext = ext_begin(d, oid_aki, sizeof(oid_aki), false);
	size_t os = hsmca_der_begin(d, DER_OCTET_STRING);
	size_t seq = hsmca_der_begin(d, DER_SEQUENCE);

	hsmca_der_tlv(d, DER_CTX_PRIM(0), keyid, 20);
	hsmca_der_end(d, seq);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

void hsmca_ext_san(struct hsmca_der *d, const struct hsmca_san *sans, size_t n, bool critical)
{
	size_t ext = ext_begin(d, oid_san, sizeof(oid_san), critical);
	size_t os = hsmca_der_begin(d, DER_OCTET_STRING);
	size_t seq = hsmca_der_begin(d, DER_SEQUENCE);
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t tag;

		switch (sans[i].kind) {
		case HSMCA_SAN_EMAIL: tag = DER_CTX_PRIM(1); break;
		case HSMCA_SAN_DNS: tag = DER_CTX_PRIM(2); break;
		case HSMCA_SAN_URI: tag = DER_CTX_PRIM(6); break;
		default: tag = DER_CTX_PRIM(7); break;
		}
		hsmca_der_tlv(d, tag, sans[i].value, sans[i].len);
	}
	hsmca_der_end(d, seq);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

static bool dns_ok(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (c == '*' && i == 0 && n > 2 && s[1] == '.') {
			label++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

static bool uri_ok(const uint8_t *s, size_t n)
{
	size_t i, colon = 0;

	for (i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '<' || s[i] == '>' ||
		    s[i] == '\\' || s[i] == '^' || s[i] == '`' || s[i] == '{' || s[i] == '|' || s[i] == '}')
			return false;
		if (s[i] == '%' && (i + 2 >= n || !isxdigit(s[i + 1]) || !isxdigit(s[i + 2])))
			return false;
		if (s[i] == ':' && !colon)
			colon = i;
	}
	if (colon == 0 || !isalpha(s[0]))
		return false;
	for (i = 1; i < colon; i++)
		if (!isalnum(s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static bool email_ok(const uint8_t *s, size_t n)
{
	size_t i, at = 0, ats = 0;

	for (i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
		if (s[i] == '@') {
			at = i;
			ats++;
		}
	}
	return ats == 1 && at > 0 && at + 1 < n && dns_ok((const char *)s + at + 1, n - at - 1);
}

static psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void psl_init(void)
{
	/* The system list (Debian's publicsuffix package) when present, else
	 * the one built into libpsl. */
	psl = psl_latest(NULL);
	if (!psl)
		psl = (psl_ctx_t *)psl_builtin();
}

/* Whether `domain` is a public suffix: an ICANN or private PSL entry, or a
 * single label (the PSL's implicit "*" rule: "*.local" covers everything
 * under a TLD-like name). */
static bool public_suffix(const char *domain)
{
	pthread_once(&psl_once, psl_init);
	if (!strchr(domain, '.'))
		return true;
	return psl && psl_is_public_suffix2(psl, domain, PSL_TYPE_ANY) != 0;
}

/* An address a certificate can name: not 0.0.0.0/8 ("this network"),
 * 255.255.255.255, 224.0.0.0/4, ::, ff00::/8, nor those in IPv4-mapped
 * form. */
static bool ip_host(const uint8_t *a, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[16];

	if (len == 16 && memcmp(a, mapped, 12) == 0)
		return ip_host(a + 12, 4);
	if (len == 4)
		return a[0] != 0 && (a[0] & 0xf0) != 0xe0 && memcmp(a, "\xff\xff\xff\xff", 4) != 0;
	return memcmp(a, zero, 16) != 0 && a[0] != 0xff;
}

int hsmca_san_validate(const struct hsmca_san *san, hsmca_error *err)
{
	char txt[300];

	switch (san->kind) {
	case HSMCA_SAN_DNS:
		if (!dns_ok((const char *)san->value, san->len))
			break;
		if (san->len > 2 && san->value[0] == '*') {
			snprintf(txt, sizeof(txt), "%.*s", (int)san->len - 2, san->value + 2);
			for (char *c = txt; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (public_suffix(txt))
				return hsmca_error_set(err, "SAN 'DNS:%.*s' is a wildcard directly under "
							    "the public suffix '%s' (it would cover "
							    "every domain there)",
						       (int)san->len, san->value, txt);
		}
		return 0;
	case HSMCA_SAN_URI:
		if (uri_ok(san->value, san->len))
			return 0;
		break;
	case HSMCA_SAN_EMAIL:
		if (email_ok(san->value, san->len))
			return 0;
		break;
	case HSMCA_SAN_IP:
		if (san->len != 4 && san->len != 16)
			break;
		if (!ip_host(san->value, san->len)) {
			hsmca_san_format(san, txt, sizeof(txt));
			return hsmca_error_set(err, "SAN '%s' does not name a host (unspecified, "
						    "\"this network\", broadcast or multicast address)", txt);
		}
		return 0;
	}
	snprintf(txt, sizeof(txt), "%.*s", (int)(san->len < 200 ? san->len : 200), san->value);
	for (char *c = txt; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	return hsmca_error_set(err, "SAN '%s' is not a valid %s (ASCII host names, absolute URIs and "
				    "mailboxes only)", txt,
			       san->kind == HSMCA_SAN_DNS ? "DNS name" : san->kind == HSMCA_SAN_URI ? "URI"
							: san->kind == HSMCA_SAN_EMAIL ? "email address"
											: "IP address");
}

int hsmca_san_parse(const char *s, struct hsmca_san *out, hsmca_error *err)
{
	const char *colon = strchr(s, ':');
	const char *v;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!colon)
		return hsmca_error_set(err, "SAN '%s': expected DNS:, IP:, URI: or email: prefix", s);
	v = colon + 1;
	n = strlen(v);
	if (strncasecmp(s, "DNS:", 4) == 0) {
		out->kind = HSMCA_SAN_DNS;
	} else if (strncasecmp(s, "IP:", 3) == 0) {
		if (inet_pton(AF_INET, v, out->value) == 1) {
			out->len = 4;
		} else if (inet_pton(AF_INET6, v, out->value) == 1) {
			out->len = 16;
		} else {
			return hsmca_error_set(err, "SAN '%s': not an IPv4 or IPv6 address", s);
		}
		out->kind = HSMCA_SAN_IP;
		return hsmca_san_validate(out, err);
	} else if (strncasecmp(s, "URI:", 4) == 0) {
		out->kind = HSMCA_SAN_URI;
	} else if (strncasecmp(s, "email:", 6) == 0) {
		out->kind = HSMCA_SAN_EMAIL;
	} else {
		return hsmca_error_set(err, "SAN '%s': unknown kind (use DNS:, IP:, URI: or email:)", s);
	}
	if (n >= sizeof(out->value))
		return hsmca_error_set(err, "SAN '%s': too long", s);
	memcpy(out->value, v, n);
	out->len = n;
	return hsmca_san_validate(out, err);
}

void hsmca_san_format(const struct hsmca_san *san, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];

	switch (san->kind) {
	case HSMCA_SAN_DNS: snprintf(out, outlen, "DNS:%.*s", (int)san->len, san->value); break;
	case HSMCA_SAN_URI: snprintf(out, outlen, "URI:%.*s", (int)san->len, san->value); break;
	case HSMCA_SAN_EMAIL: snprintf(out, outlen, "email:%.*s", (int)san->len, san->value); break;
	case HSMCA_SAN_IP:
		inet_ntop(san->len == 4 ? AF_INET : AF_INET6, san->value, ip, sizeof(ip));
		snprintf(out, outlen, "IP:%s", ip);
		break;
	}
}

int hsmca_key_id(const uint8_t *spki, size_t len, uint8_t out[20], hsmca_error *err)
{
	const uint8_t *c, *end = spki + len, *inner;
	size_t clen, total, ilen, itotal;
	uint8_t tag;

	/* SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING } */
	if (hsmca_der_read(spki, end, &tag, &c, &clen, &total) != 0 || tag != DER_SEQUENCE)
		goto bad;
	if (hsmca_der_read(c, c + clen, &tag, &inner, &ilen, &itotal) != 0 || tag != DER_SEQUENCE)
		goto bad;
	c += itotal;
	if (hsmca_der_read(c, spki + len, &tag, &inner, &ilen, &itotal) != 0 || tag != DER_BIT_STRING ||
	    ilen < 1)
		goto bad;
	SHA1(inner + 1, ilen - 1, out);
	return 0;
bad:
	return hsmca_error_set(err, "malformed SubjectPublicKeyInfo");
}

static const uint8_t oid_cdp[] = { 0x55, 0x1d, 0x1f };
static const uint8_t oid_aia[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01 };
static const uint8_t oid_ca_issuers[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02 };

void hsmca_ext_crl_dp(struct hsmca_der *d, const char *url)
{
	/* CRLDistributionPoints ::= SEQUENCE OF DistributionPoint;
	 * DistributionPoint ::= SEQUENCE { distributionPoint [0] { fullName [1] GeneralNames } } */
	size_t ext = ext_begin(d, oid_cdp, sizeof(oid_cdp), false);
	size_t os = hsmca_der_begin(d, DER_OCTET_STRING);
	size_t seq = hsmca_der_begin(d, DER_SEQUENCE);
	size_t dp = hsmca_der_begin(d, DER_SEQUENCE);
	size_t dpn = hsmca_der_begin(d, DER_CTX(0));
	size_t full = hsmca_der_begin(d, DER_CTX(0));

	hsmca_der_tlv(d, DER_CTX_PRIM(6), url, strlen(url));
	hsmca_der_end(d, full);
	hsmca_der_end(d, dpn);
	hsmca_der_end(d, dp);
	hsmca_der_end(d, seq);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

void hsmca_ext_aia_ca_issuers(struct hsmca_der *d, const char *url)
{
	size_t ext = ext_begin(d, oid_aia, sizeof(oid_aia), false);
	size_t os = hsmca_der_begin(d, DER_OCTET_STRING);
	size_t seq = hsmca_der_begin(d, DER_SEQUENCE);
	size_t ad = hsmca_der_begin(d, DER_SEQUENCE);

	hsmca_der_tlv(d, DER_OID, oid_ca_issuers, sizeof(oid_ca_issuers));
	hsmca_der_tlv(d, DER_CTX_PRIM(6), url, strlen(url));
	hsmca_der_end(d, ad);
	hsmca_der_end(d, seq);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
}

void hsmca_ext_ca_urls(struct hsmca_der *d, const char *crl_url, const char *issuer_url)
{
	if (crl_url && crl_url[0])
		hsmca_ext_crl_dp(d, crl_url);
	if (issuer_url && issuer_url[0])
		hsmca_ext_aia_ca_issuers(d, issuer_url);
}

int hsmca_url_check(const char *url, const char *what, hsmca_error *err)
{
	size_t n = strlen(url);

	if (n == 0 || n > 500 || !uri_ok((const uint8_t *)url, n))
		return hsmca_error_set(err, "%s '%.200s' is not a valid absolute URI", what, url);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "ldap://", 7) != 0)
		return hsmca_error_set(err, "%s '%.200s': use an http://, https:// or ldap:// URL "
					    "(what relying parties fetch)", what, url);
	return 0;
}
