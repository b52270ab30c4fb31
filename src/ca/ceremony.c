#include "ca/ceremony.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "x509/x509.h"
#include "yaml/ytree.h"

/* 9999-12-31T23:59:59Z: the last instant an X.509 GeneralizedTime holds. */
#define LAST_X509_TIME ((time_t)253402300799)

static const char *const root_keys[] = {
	"version", "ca", "key", "validity", "extensions", "signature", "outputs", "urls", NULL,
};
static const char *const urls_keys[] = {"crl", "issuer", NULL};
static const char *const ca_keys[] = {"name", "subject", NULL};
static const char *const key_keys[] = {"type", "label", NULL};
static const char *const validity_keys[] = {"duration", "not_before", "not_after", NULL};
static const char *const extensions_keys[] = {"path_len", NULL};
static const char *const signature_keys[] = {"rsa_pss", "hash", NULL};
static const char *const outputs_keys[] = {"certificate", NULL};

static const char *const key_types[] = {
	"ec-p256", "ec-p384", "ed25519", "rsa-3072", "rsa-4096", NULL,
};
static const char *const sig_hashes[] = {"sha256", "sha384", NULL};

/* An optional section: absent is fine (*out = NULL), present must be a
 * mapping with only the allowed keys. */
static int section(const struct hsmca_ynode *root, const char *name, const char *const keys[],
		   const struct hsmca_ynode **out, hsmca_error *err)
{
	const struct hsmca_ynode *n = hsmca_ynode_get(root, name);

	if (n && hsmca_ynode_check_keys(n, keys, NULL, err) < 0)
		return -1;
	*out = n;
	return 0;
}

/* A string that must be one of `choices`; the error lists them. */
static int one_of(const struct hsmca_ynode *n, const char *what, const char *const choices[],
		  char *out, size_t outlen, hsmca_error *err)
{
	char list[256] = "", text[72], path[64];
	size_t i, pos = 0;

	if (hsmca_ynode_string(n, out, outlen, err) == 0) {
		for (i = 0; choices[i]; i++)
			if (strcmp(out, choices[i]) == 0)
				return 0;
	} else if (n->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(n)) {
		return -1;
	}
	for (i = 0; choices[i] && pos < sizeof(list); i++)
		pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s%s", i ? ", " : "",
					choices[i]);
	hsmca_ynode_text(n, text, sizeof(text));
	hsmca_ynode_path(n, path, sizeof(path));
	out[0] = '\0';
	return hsmca_ynode_error(n, err, "%s: unsupported %s '%s' (expected one of: %s)", path,
				 what, text, list);
}

/* Catch a mistyped subject at review time rather than mid-ceremony: the
 * subject goes through the same encoder the certificate will use, and a root
 * needs exactly one CN (the encoder alone would accept none). */
static int check_subject(const struct hsmca_ynode *n, const char *s, hsmca_error *err)
{
	struct hsmca_der der;
	hsmca_error why = {0};
	const char *p = s;
	int rc, cn = 0;

	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return hsmca_ynode_error(n, err, "ca.subject: contains a control character");
	p = s;
	hsmca_der_init(&der);
	rc = hsmca_name_encode(s, &der, &why);
	hsmca_der_free(&der);
	if (rc != 0)
		return hsmca_ynode_error(n, err, "ca.subject: %s", why.msg);
	for (;;) {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, "CN=", 3) == 0)
			cn++;
		while (*p && *p != ',')
			p += (*p == '\\' && p[1]) ? 2 : 1;
		if (!*p)
			break;
		p++;
	}
	if (cn != 1)
		return hsmca_ynode_error(n, err, "ca.subject: needs exactly one CN (found %d)", cn);
	return 0;
}

static int load_ca(const struct hsmca_ynode *root, struct hsmca_ceremony *c, hsmca_error *err)
{
	const struct hsmca_ynode *ca, *n;

	if (hsmca_ynode_require(root, "ca", &ca, err) < 0 ||
	    hsmca_ynode_check_keys(ca, ca_keys, NULL, err) < 0)
		return -1;
	if (hsmca_ynode_require(ca, "name", &n, err) < 0 ||
	    hsmca_ynode_name(n, c->name, sizeof(c->name), err) < 0)
		return -1;
	if (hsmca_ynode_require(ca, "subject", &n, err) < 0 ||
	    hsmca_ynode_string(n, c->subject, sizeof(c->subject), err) < 0)
		return -1;
	return check_subject(n, c->subject, err);
}

static int load_key(const struct hsmca_ynode *root, struct hsmca_ceremony *c, hsmca_error *err)
{
	const struct hsmca_ynode *key, *n;
	size_t i;

	if (hsmca_ynode_require(root, "key", &key, err) < 0 ||
	    hsmca_ynode_check_keys(key, key_keys, NULL, err) < 0)
		return -1;
	if (hsmca_ynode_require(key, "type", &n, err) < 0 ||
	    one_of(n, "key type", key_types, c->key_type, sizeof(c->key_type), err) < 0)
		return -1;
	n = hsmca_ynode_get(key, "label");
	if (!n) {
		if (snprintf(c->key_label, sizeof(c->key_label), "%s-key", c->name) >=
		    (int)sizeof(c->key_label))
			return hsmca_ynode_error(key, err,
						 "key: the default label '%s-key' is longer than %zu bytes; set key.label",
						 c->name, sizeof(c->key_label) - 1);
		return 0;
	}
	if (hsmca_ynode_string(n, c->key_label, sizeof(c->key_label), err) < 0)
		return -1;
	if (!c->key_label[0])
		return hsmca_ynode_error(n, err, "key.label: must not be empty");
	for (i = 0; c->key_label[i]; i++)
		if ((unsigned char)c->key_label[i] < 0x20 || c->key_label[i] == 0x7f)
			return hsmca_ynode_error(n, err, "key.label: contains a control character");
	return 0;
}

static int load_validity(const struct hsmca_ynode *root, struct hsmca_ceremony *c,
			 hsmca_error *err)
{
	const struct hsmca_ynode *v, *dur, *nb, *na;
	char a[21], b[21];
	time_t start, end;

	if (section(root, "validity", validity_keys, &v, err) < 0)
		return -1;
	if (!v)
		return 0;
	dur = hsmca_ynode_get(v, "duration");
	nb = hsmca_ynode_get(v, "not_before");
	na = hsmca_ynode_get(v, "not_after");
	if (dur && na)
		return hsmca_ynode_error(na, err,
					 "validity: give duration or not_after, not both (duration is at line %u)",
					 dur->line);
	if (dur && hsmca_ynode_duration(dur, &c->validity, err) < 0)
		return -1;
	if (nb && hsmca_ynode_time(nb, &c->not_before, err) < 0)
		return -1;
	if (na) {
		if (hsmca_ynode_time(na, &c->not_after, err) < 0)
			return -1;
		c->validity = 0;
		hsmca_format_time(c->not_after, a);
		if (nb && c->not_after <= c->not_before) {
			hsmca_format_time(c->not_before, b);
			return hsmca_ynode_error(na, err,
						 "validity.not_after (%s) is not after not_before (%s)", a, b);
		}
		if (!nb && c->not_after <= hsmca_now())
			return hsmca_ynode_error(na, err, "validity.not_after (%s) is in the past", a);
	}
	start = c->not_before ? c->not_before : hsmca_now();
	end = c->not_after ? c->not_after : start + (time_t)c->validity;
	if (end > LAST_X509_TIME)
		return hsmca_ynode_error(dur ? dur : v, err,
					 "validity: the certificate would end after 9999-12-31");
	return 0;
}

static int load_extensions(const struct hsmca_ynode *root, struct hsmca_ceremony *c,
			   hsmca_error *err)
{
	const struct hsmca_ynode *e, *n;
	int64_t v;

	if (section(root, "extensions", extensions_keys, &e, err) < 0)
		return -1;
	n = hsmca_ynode_get(e, "path_len");
	if (n) {
		if (hsmca_ynode_int(n, 0, 32, &v, err) < 0)
			return -1;
		c->path_len = (int)v;
	}
	return 0;
}

static int load_signature(const struct hsmca_ynode *root, struct hsmca_ceremony *c,
			  hsmca_error *err)
{
	const struct hsmca_ynode *s, *n;
	bool rsa = strncmp(c->key_type, "rsa-", 4) == 0;

	snprintf(c->sig_hash, sizeof(c->sig_hash), "%s",
		 strcmp(c->key_type, "ec-p384") == 0 ? "sha384" : "sha256");
	if (section(root, "signature", signature_keys, &s, err) < 0)
		return -1;
	n = hsmca_ynode_get(s, "rsa_pss");
	if (n) {
		if (hsmca_ynode_bool(n, &c->rsa_pss, err) < 0)
			return -1;
		if (c->rsa_pss && !rsa)
			return hsmca_ynode_error(n, err,
						 "signature.rsa_pss: only applies to RSA keys, not %s",
						 c->key_type);
	}
	n = hsmca_ynode_get(s, "hash");
	if (n) {
		if (strcmp(c->key_type, "ed25519") == 0)
			return hsmca_ynode_error(n, err,
						 "signature.hash: ed25519 has no selectable hash; remove this key");
		if (one_of(n, "signature hash", sig_hashes, c->sig_hash, sizeof(c->sig_hash), err) < 0)
			return -1;
	}
	return 0;
}

/* urls: what the CA writes into everything it issues (CDP, AIA caIssuers). */
static int load_urls(const struct hsmca_ynode *root, struct hsmca_ceremony *c, hsmca_error *err)
{
	const struct hsmca_ynode *u, *n;
	hsmca_error why = {0};
	static const char *const which[] = {"crl", "issuer"};
	char *dst[] = {c->crl_url, c->issuer_url};
	size_t i;

	if (section(root, "urls", urls_keys, &u, err) < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		n = hsmca_ynode_get(u, which[i]);
		if (!n)
			continue;
		if (hsmca_ynode_string(n, dst[i], sizeof(c->crl_url), err) < 0)
			return -1;
		if (hsmca_url_check(dst[i], which[i][0] == 'c' ? "urls.crl" : "urls.issuer", &why) != 0)
			return hsmca_ynode_error(n, err, "%s", why.msg);
	}
	return 0;
}

/* outputs.certificate is relative to the ceremony file, so a reviewed
 * directory (file + outputs) can be run from anywhere. */
static int load_outputs(const struct hsmca_ynode *root, const char *path,
			struct hsmca_ceremony *c, hsmca_error *err)
{
	const struct hsmca_ynode *o, *n;
	char rel[4096];
	const char *slash;
	int w;

	if (section(root, "outputs", outputs_keys, &o, err) < 0)
		return -1;
	n = hsmca_ynode_get(o, "certificate");
	if (!n)
		return 0;
	if (hsmca_ynode_string(n, rel, sizeof(rel), err) < 0)
		return -1;
	if (!rel[0])
		return hsmca_ynode_error(n, err, "outputs.certificate: must not be empty");
	slash = strrchr(path, '/');
	if (rel[0] == '/' || !slash)
		w = snprintf(c->out_cert, sizeof(c->out_cert), "%s", rel);
	else
		w = snprintf(c->out_cert, sizeof(c->out_cert), "%.*s/%s", (int)(slash - path), path,
			     rel);
	if (w < 0 || (size_t)w >= sizeof(c->out_cert))
		return hsmca_ynode_error(n, err, "outputs.certificate: path too long");
	return 0;
}

int hsmca_ceremony_load(const char *path, struct hsmca_ceremony *out, hsmca_error *err)
{
	struct hsmca_ytree *t = NULL;
	const struct hsmca_ynode *root;
	struct hsmca_ceremony c;
	int ret = -1;

	memset(&c, 0, sizeof(c));
	c.validity = HSMCA_CEREMONY_DEFAULT_VALIDITY;
	c.path_len = -1;
	if (hsmca_ytree_load_file(path, HSMCA_CEREMONY_MAX_BYTES, 0, &t, err) < 0)
		goto out;
	root = hsmca_ytree_root(t);
	if (!root || hsmca_ynode_is_null(root)) {
		hsmca_error_set(err, "%s: the file is empty (see docs/ceremony.md)", path);
		goto out;
	}
	if (hsmca_ynode_check_keys(root, root_keys, NULL, err) < 0 ||
	    hsmca_ynode_require_version(root, 1, err) < 0 || load_ca(root, &c, err) < 0 ||
	    load_key(root, &c, err) < 0 || load_validity(root, &c, err) < 0 ||
	    load_extensions(root, &c, err) < 0 || load_signature(root, &c, err) < 0 ||
	    load_outputs(root, path, &c, err) < 0 || load_urls(root, &c, err) < 0)
		goto out;
	*out = c;
	ret = 0;
out:
	hsmca_ytree_free(t);
	return ret;
}
