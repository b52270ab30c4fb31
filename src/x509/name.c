/* Distinguished names: RFC 4514 text to DER and back. */
#include "x509/x509.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct attr {
	const char *name;
	uint8_t oid[10];
	size_t oid_len;
	uint8_t str_tag;
	size_t max; /* RFC 5280 upper bounds */
};

static const struct attr attrs[] = {
	{ "CN", { 0x55, 0x04, 0x03 }, 3, DER_UTF8STRING, 64 },
	{ "C", { 0x55, 0x04, 0x06 }, 3, DER_PRINTABLESTRING, 2 },
	{ "L", { 0x55, 0x04, 0x07 }, 3, DER_UTF8STRING, 128 },
	{ "ST", { 0x55, 0x04, 0x08 }, 3, DER_UTF8STRING, 128 },
	{ "O", { 0x55, 0x04, 0x0a }, 3, DER_UTF8STRING, 64 },
	{ "OU", { 0x55, 0x04, 0x0b }, 3, DER_UTF8STRING, 64 },
	{ "serialNumber", { 0x55, 0x04, 0x05 }, 3, DER_PRINTABLESTRING, 64 },
	{ "emailAddress", { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01 }, 9, DER_IA5STRING, 255 },
	{ "DC", { 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19 }, 10, DER_IA5STRING, 63 },
};

static const struct attr *find_attr(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (strlen(attrs[i].name) == n && strncasecmp(attrs[i].name, name, n) == 0)
			return &attrs[i];
	return NULL;
}

static bool printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || strchr(" '()+,-./:=?", c)))
			return false;
	}
	return true;
}

#define MAX_RDNS 16

int hsmca_name_encode(const char *dn, struct hsmca_der *out, hsmca_error *err)
{
	struct {
		const struct attr *a;
		char value[256];
		size_t len;
	} rdn[MAX_RDNS];
	size_t n = 0, i;
	const char *p = dn;
	size_t seq;

	if (!dn || !*dn)
		return hsmca_error_set(err, "empty subject (expected e.g. \"CN=Example Root,O=Example\")");
	while (*p) {
		const char *eq = strchr(p, '=');
		size_t vlen = 0;

		while (*p == ' ')
			p++;
		eq = strchr(p, '=');
		if (!eq || eq == p)
			return hsmca_error_set(err, "subject '%s': expected ATTR=value at '%s'", dn, p);
		if (n == MAX_RDNS)
			return hsmca_error_set(err, "subject '%s': more than %d attributes", dn, MAX_RDNS);
		rdn[n].a = find_attr(p, (size_t)(eq - p));
		if (!rdn[n].a)
			return hsmca_error_set(err, "subject '%s': unknown attribute '%.*s' (known: CN, O, "
						    "OU, C, ST, L, serialNumber, emailAddress, DC)",
					       dn, (int)(eq - p), p);
		p = eq + 1;
		while (*p && *p != ',') {
			if (*p == '+')
				return hsmca_error_set(err, "subject '%s': multi-valued RDNs (+) are not "
							    "supported; escape a literal + as \\+", dn);
			if (*p == '\\') {
				p++;
				if (!*p)
					return hsmca_error_set(err, "subject '%s': dangling backslash", dn);
			}
			if (vlen + 1 >= sizeof(rdn[n].value))
				return hsmca_error_set(err, "subject '%s': value too long", dn);
			rdn[n].value[vlen++] = *p++;
		}
		while (vlen > 0 && rdn[n].value[vlen - 1] == ' ')
			vlen--;
		rdn[n].value[vlen] = '\0';
		rdn[n].len = vlen;
		if (vlen == 0)
			return hsmca_error_set(err, "subject '%s': %s has an empty value", dn, rdn[n].a->name);
		if (vlen > rdn[n].a->max)
			return hsmca_error_set(err, "subject '%s': %s is longer than %zu characters (RFC 5280)",
					       dn, rdn[n].a->name, rdn[n].a->max);
		if (rdn[n].a->str_tag == DER_PRINTABLESTRING && !printable(rdn[n].value, vlen))
			return hsmca_error_set(err, "subject '%s': %s must be a PrintableString", dn,
					       rdn[n].a->name);
		if (rdn[n].a->oid[2] == 0x06 && rdn[n].a->oid_len == 3 &&
		    (vlen != 2 || !isupper((unsigned char)rdn[n].value[0]) ||
		     !isupper((unsigned char)rdn[n].value[1])))
			return hsmca_error_set(err, "subject '%s': C must be a two-letter country code", dn);
		n++;
		if (*p == ',')
			p++;
	}
	seq = hsmca_der_begin(out, DER_SEQUENCE);
	for (i = n; i-- > 0;) {
		size_t set = hsmca_der_begin(out, DER_SET);
		size_t atv = hsmca_der_begin(out, DER_SEQUENCE);

		hsmca_der_tlv(out, DER_OID, rdn[i].a->oid, rdn[i].a->oid_len);
		hsmca_der_tlv(out, rdn[i].a->str_tag, rdn[i].value, rdn[i].len);
		hsmca_der_end(out, atv);
		hsmca_der_end(out, set);
	}
	hsmca_der_end(out, seq);
	if (!hsmca_der_ok(out))
		return hsmca_error_set(err, "out of memory");
	return 0;
}

int hsmca_name_format(const uint8_t *der, size_t len, char *out, size_t outlen)
{
	const unsigned char *p = der;
	X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)len);
	BIO *bio;
	int n;

	if (!name)
		return -1;
	bio = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_read(bio, out, (int)outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
	X509_NAME_free(name);
	return 0;
}

int hsmca_name_encode_parts(const char *cn, const char (*o)[64], size_t n_o, struct hsmca_der *out,
			    hsmca_error *err)
{
	static const uint8_t oid_o[] = { 0x55, 0x04, 0x0a };
	static const uint8_t oid_cn[] = { 0x55, 0x04, 0x03 };
	size_t seq, i;

	if (cn && strlen(cn) > 64)
		return hsmca_error_set(err, "CN '%.40s…' is longer than 64 characters (RFC 5280)", cn);
	seq = hsmca_der_begin(out, DER_SEQUENCE);
	for (i = 0; i <= n_o; i++) {
		const char *v = i < n_o ? o[i] : cn;
		const uint8_t *oid = i < n_o ? oid_o : oid_cn;
		size_t set, atv;

		if (!v || !*v)
			continue;
		set = hsmca_der_begin(out, DER_SET);
		atv = hsmca_der_begin(out, DER_SEQUENCE);
		hsmca_der_tlv(out, DER_OID, oid, 3);
		hsmca_der_tlv(out, DER_UTF8STRING, v, strlen(v));
		hsmca_der_end(out, atv);
		hsmca_der_end(out, set);
	}
	hsmca_der_end(out, seq);
	if (!hsmca_der_ok(out))
		return hsmca_error_set(err, "out of memory");
	return 0;
}
