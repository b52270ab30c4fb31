#include "ca/ca.h"

#include <dirent.h>
#include <libgen.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "x509/x509.h"
#include "yaml/ytree.h"

static const struct {
	enum hsmca_sigalg alg;
	const char *id;
} sigalg_ids[] = {
	{ HSMCA_SIG_ECDSA_SHA256, "ecdsa-sha256" }, { HSMCA_SIG_ECDSA_SHA384, "ecdsa-sha384" },
	{ HSMCA_SIG_ED25519, "ed25519" },	    { HSMCA_SIG_RSA_SHA256, "rsa-sha256" },
	{ HSMCA_SIG_RSA_SHA384, "rsa-sha384" },	    { HSMCA_SIG_RSA_PSS_SHA256, "rsa-pss-sha256" },
	{ HSMCA_SIG_RSA_PSS_SHA384, "rsa-pss-sha384" },
};

const char *hsmca_sigalg_id(enum hsmca_sigalg a)
{
	size_t i;

	for (i = 0; i < sizeof(sigalg_ids) / sizeof(sigalg_ids[0]); i++)
		if (sigalg_ids[i].alg == a)
			return sigalg_ids[i].id;
	return "unknown";
}

int hsmca_sigalg_from_id(const char *id, enum hsmca_sigalg *out, hsmca_error *err)
{
	size_t i;

	for (i = 0; i < sizeof(sigalg_ids) / sizeof(sigalg_ids[0]); i++) {
		if (strcmp(sigalg_ids[i].id, id) == 0) {
			*out = sigalg_ids[i].alg;
			return 0;
		}
	}
	return hsmca_error_set(err, "unknown signature algorithm '%s'", id);
}

int hsmca_ca_purpose_check(const char *purpose, hsmca_error *err)
{
	if (!purpose[0] || strcmp(purpose, HSMCA_CA_PURPOSE_KUBE) == 0 ||
	    strcmp(purpose, HSMCA_CA_PURPOSE_TALOS) == 0)
		return 0;
	return hsmca_error_set(err, "unknown CA purpose '%s' (%s, %s)", purpose, HSMCA_CA_PURPOSE_KUBE,
			       HSMCA_CA_PURPOSE_TALOS);
}

int hsmca_ca_name_check(const char *name, hsmca_error *err)
{
	if (!hsmca_yname_valid(name))
		return hsmca_error_set(err, "CA name '%s' is invalid: use 1-63 characters from a-z, 0-9, "
					    "'.', '_', '-', starting with a letter or digit",
				       name ? name : "");
	return 0;
}

void hsmca_ca_free(struct hsmca_ca *ca)
{
	if (!ca)
		return;
	X509_free(ca->x509);
	free(ca->der);
	free(ca);
}

/* Fill the derived fields from ca->der. */
int hsmca_ca_parse_cert(struct hsmca_ca *ca, hsmca_error *err)
{
	const unsigned char *p = ca->der;
	const ASN1_OCTET_STRING *ski;
	X509_NAME *subj;
	struct tm tm;
	const unsigned char *sd = NULL;
	size_t sdl = 0;

	ca->x509 = d2i_X509(NULL, &p, (long)ca->der_len);
	if (!ca->x509)
		return hsmca_error_openssl(err, "CA '%s': ca.pem does not parse", ca->name);
	ski = X509_get0_subject_key_id(ca->x509);
	if (!ski || ASN1_STRING_length(ski) != 20)
		return hsmca_error_set(err, "CA '%s': certificate lacks a 20-byte subjectKeyIdentifier",
				       ca->name);
	memcpy(ca->ski, ASN1_STRING_get0_data(ski), 20);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(ca->x509), &tm) != 1)
		return hsmca_error_set(err, "CA '%s': bad notAfter", ca->name);
	ca->not_after = timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notBefore(ca->x509), &tm) != 1)
		return hsmca_error_set(err, "CA '%s': bad notBefore", ca->name);
	ca->not_before = timegm(&tm);
	subj = X509_get_subject_name(ca->x509);
	if (!X509_NAME_get0_der(subj, &sd, &sdl))
		return hsmca_error_openssl(err, "CA '%s': subject", ca->name);
	/* Point into our own DER buffer so the bytes outlive nothing. */
	{
		const uint8_t *hit = NULL;
		size_t i;

		for (i = 0; i + sdl <= ca->der_len; i++) {
			if (memcmp(ca->der + i, sd, sdl) == 0) {
				hit = ca->der + i;
				/* The subject follows the issuer; for a root both match, take the
				 * later one (either is the same bytes). */
			}
		}
		if (!hit)
			return hsmca_error_set(err, "CA '%s': subject not found in the DER", ca->name);
		ca->subject_der = hit;
		ca->subject_der_len = sdl;
	}
	hsmca_name_format(ca->subject_der, ca->subject_der_len, ca->subject, sizeof(ca->subject));
	hsmca_fingerprint(ca->der, ca->der_len, ca->fingerprint);
	return 0;
}

int hsmca_ca_write_metadata(const struct hsmca_ca *ca, hsmca_error *err)
{
	char path[PATH_MAX];
	char buf[4096];
	int n;

	if (hsmca_path_join(path, sizeof(path), err, "%s/ca.yaml", ca->dir) != 0)
		return -1;
	n = snprintf(buf, sizeof(buf),
		     "# hsmca CA metadata (public). The key stays in the token.\n"
		     "version: 1\n"
		     "name: \"%s\"\n"
		     "kind: \"%s\"\n"
		     "parent: \"%s\"\n"
		     "key_label: \"%s\"\n"
		     "key_uri: \"%s\"\n"
		     "signature: \"%s\"\n"
		     "created: \"%s\"\n"
		     "crl_url: \"%s\"\n"
		     "issuer_url: \"%s\"\n",
		     ca->name, ca->kind, ca->parent, ca->key_label, ca->key_uri,
		     hsmca_sigalg_id(ca->sigalg), ca->created, ca->crl_url, ca->issuer_url);
	if (n >= 0 && (size_t)n < sizeof(buf) && ca->purpose[0])
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "purpose: \"%s\"\n", ca->purpose);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return hsmca_error_set(err, "CA '%s': metadata too long", ca->name);
	if (strchr(ca->key_label, '"') || strchr(ca->key_label, '\\') ||
	    strpbrk(ca->crl_url, "\"\\") || strpbrk(ca->issuer_url, "\"\\"))
		return hsmca_error_set(err, "key label and URLs must not contain quotes or backslashes");
	return hsmca_write_atomic(path, buf, (size_t)n, 0644, err);
}

int hsmca_ca_load(const char *home, const char *name, struct hsmca_ca **out, hsmca_error *err)
{
	static const char *const keys[] = { "version", "name", "kind", "parent", "key_label",
					    "key_uri", "signature", "created", "crl_url",
					    "issuer_url", "purpose", NULL };
	struct hsmca_ca *ca = NULL;
	struct hsmca_ytree *tree = NULL;
	const struct hsmca_ynode *root, *n;
	char path[PATH_MAX], sig[32];
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	int ret = -1, len;
	unsigned char *der = NULL;

	if (hsmca_ca_name_check(name, err) != 0)
		return -1;
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return hsmca_error_set(err, "out of memory");
	snprintf(ca->name, sizeof(ca->name), "%s", name);
	if (hsmca_path_join(ca->dir, sizeof(ca->dir), err, "%s/cas/%s", home, name) != 0 ||
	    hsmca_path_join(path, sizeof(path), err, "%s/ca.yaml", ca->dir) != 0)
		goto out;
	if (access(path, F_OK) != 0) {
		char pending[PATH_MAX];

		if (snprintf(pending, sizeof(pending), "%s/pending.yaml", ca->dir) <
			    (int)sizeof(pending) && access(pending, F_OK) == 0)
			hsmca_error_set(err, "CA '%s' is pending: its certificate has not been imported "
					     "yet (hsmca ca import %s --cert FILE --chain FILE)", name, name);
		else
			hsmca_error_set(err, "no CA named '%s' in %s (see 'hsmca ca list')", name, home);
		goto out;
	}
	if (hsmca_ytree_load_file(path, 64 * 1024, 0, &tree, err) != 0)
		goto out;
	root = hsmca_ytree_root(tree);
	if (!root || hsmca_ynode_check_keys(root, keys, NULL, err) != 0 ||
	    hsmca_ynode_require_version(root, 1, err) != 0 ||
	    hsmca_ynode_require(root, "kind", &n, err) != 0 ||
	    hsmca_ynode_string(n, ca->kind, sizeof(ca->kind), err) != 0 ||
	    hsmca_ynode_require(root, "key_label", &n, err) != 0 ||
	    hsmca_ynode_string(n, ca->key_label, sizeof(ca->key_label), err) != 0 ||
	    hsmca_ynode_require(root, "key_uri", &n, err) != 0 ||
	    hsmca_ynode_string(n, ca->key_uri, sizeof(ca->key_uri), err) != 0 ||
	    hsmca_ynode_require(root, "signature", &n, err) != 0 ||
	    hsmca_ynode_string(n, sig, sizeof(sig), err) != 0 ||
	    hsmca_sigalg_from_id(sig, &ca->sigalg, err) != 0) {
		if (!root)
			hsmca_error_set(err, "%s is empty", path);
		goto out;
	}
	if ((n = hsmca_ynode_get(root, "parent")) &&
	    hsmca_ynode_string(n, ca->parent, sizeof(ca->parent), err) != 0)
		goto out;
	if ((n = hsmca_ynode_get(root, "created")) &&
	    hsmca_ynode_string(n, ca->created, sizeof(ca->created), err) != 0)
		goto out;
	if ((n = hsmca_ynode_get(root, "crl_url")) &&
	    hsmca_ynode_string(n, ca->crl_url, sizeof(ca->crl_url), err) != 0)
		goto out;
	if ((n = hsmca_ynode_get(root, "issuer_url")) &&
	    hsmca_ynode_string(n, ca->issuer_url, sizeof(ca->issuer_url), err) != 0)
		goto out;
	if ((n = hsmca_ynode_get(root, "purpose")) &&
	    (hsmca_ynode_string(n, ca->purpose, sizeof(ca->purpose), err) != 0 ||
	     hsmca_ca_purpose_check(ca->purpose, err) != 0)) {
		hsmca_error_prefix(err, "%s", path);
		goto out;
	}
	if (hsmca_path_join(path, sizeof(path), err, "%s/ca.pem", ca->dir) != 0 ||
	    hsmca_read_file(path, 64 * 1024, &pem, &pem_len, err) != 0)
		goto out;
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!x) {
		hsmca_error_openssl(err, "CA '%s': %s is not a PEM certificate", name, path);
		goto out;
	}
	len = i2d_X509(x, &der);
	if (len <= 0) {
		hsmca_error_openssl(err, "CA '%s': re-encode certificate", name);
		goto out;
	}
	ca->der = malloc((size_t)len);
	if (!ca->der) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(ca->der, der, (size_t)len);
	ca->der_len = (size_t)len;
	if (hsmca_ca_parse_cert(ca, err) != 0)
		goto out;
	*out = ca;
	ca = NULL;
	ret = 0;
out:
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	free(pem);
	hsmca_ytree_free(tree);
	hsmca_ca_free(ca);
	return ret;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* A name of the form <home>/cas/<name>/ is listed when that directory holds
 * the file `has` and (unless NULL) not the file `lacks`. */
int hsmca_ca_dir_names(const char *home, const char *has, const char *lacks,
		       char (**names)[64], size_t *n, hsmca_error *err)
{
	char path[PATH_MAX], meta[PATH_MAX];
	char (*list)[64] = NULL;
	size_t have = 0, cap = 0;
	DIR *d;
	struct dirent *e;

	if (hsmca_path_join(path, sizeof(path), err, "%s/cas", home) != 0)
		return -1;
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT) {
			*names = NULL;
			*n = 0;
			return 0;
		}
		return hsmca_error_errno(err, "cannot list %s", path);
	}
	while ((e = readdir(d))) {
		if (!hsmca_yname_valid(e->d_name))
			continue;
		if (snprintf(meta, sizeof(meta), "%s/%s/%s", path, e->d_name, has) >= (int)sizeof(meta) ||
		    access(meta, F_OK) != 0)
			continue;
		if (lacks && (snprintf(meta, sizeof(meta), "%s/%s/%s", path, e->d_name, lacks) >=
				      (int)sizeof(meta) ||
			      access(meta, F_OK) == 0))
			continue;
		if (have == cap) {
			char (*nl)[64];

			cap = cap ? cap * 2 : 8;
			nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				free(list);
				closedir(d);
				return hsmca_error_set(err, "out of memory");
			}
			list = nl;
		}
		snprintf(list[have++], 64, "%s", e->d_name);
	}
	closedir(d);
	if (have)
		qsort(list, have, sizeof(*list), cmp_names);
	*names = list;
	*n = have;
	return 0;
}

int hsmca_ca_names(const char *home, char (**names)[64], size_t *n, hsmca_error *err)
{
	return hsmca_ca_dir_names(home, "ca.yaml", NULL, names, n, err);
}

int hsmca_ca_open_key(struct hsmca_session *s, const struct hsmca_ca *ca, hsmca_key **out,
		      hsmca_error *err)
{
	hsmca_key *k = NULL;
	const uint8_t *spki;
	size_t spki_len;
	unsigned char *cert_spki = NULL;
	int n;

	if (hsmca_key_find(s->token, ca->key_label, &k, err) != 0)
		return hsmca_error_prefix(err, "CA '%s'", ca->name);
	hsmca_key_spki(k, &spki, &spki_len);
	n = i2d_PUBKEY(X509_get0_pubkey(ca->x509), &cert_spki);
	if (n <= 0 || (size_t)n != spki_len || memcmp(cert_spki, spki, spki_len) != 0) {
		OPENSSL_free(cert_spki);
		hsmca_key_free(k);
		return hsmca_error_set(err, "CA '%s': key '%s' in the token is not the key of the CA "
					    "certificate", ca->name, ca->key_label);
	}
	OPENSSL_free(cert_spki);
	*out = k;
	return 0;
}

/* Build, lint, sign, verify and re-parse a self-signed CA certificate for
 * `key`.  t carries the validity; the rest is filled here. */
static int root_build(hsmca_token *tok, hsmca_key *key, const struct hsmca_der *name,
		      struct hsmca_tbs *t, int path_len, enum hsmca_sigalg alg, struct hsmca_der *cert,
		      hsmca_error *err)
{
	struct hsmca_der exts, tbs;
	struct hsmca_lint_expect ex;
	uint8_t ski[20];
	size_t seq;
	int ret = -1;

	hsmca_der_init(&exts);
	hsmca_der_init(&tbs);
	hsmca_key_spki(key, &t->spki, &t->spki_len);
	if (hsmca_key_id(t->spki, t->spki_len, ski, err) != 0)
		goto out;
	seq = hsmca_der_begin(&exts, DER_SEQUENCE);
	hsmca_ext_basic_constraints(&exts, true, path_len);
	hsmca_ext_key_usage(&exts, HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN);
	hsmca_ext_ski(&exts, ski);
	hsmca_der_end(&exts, seq);
	t->sigalg = alg;
	t->serial_len = 20;
	if (hsmca_serial_random(tok, t->serial, t->serial_len, err) != 0)
		goto out;
	t->issuer = name->buf;
	t->issuer_len = name->len;
	t->subject = name->buf;
	t->subject_len = name->len;
	t->extensions = exts.buf;
	t->extensions_len = exts.len;
	hsmca_tbs_encode(&tbs, t);
	if (!hsmca_der_ok(&tbs) || !hsmca_der_ok(&exts)) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memset(&ex, 0, sizeof(ex));
	ex.ca = true;
	ex.root = true;
	ex.path_len = path_len;
	ex.ku = HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN;
	if (hsmca_lint_tbs(tbs.buf, tbs.len, &ex, err) != 0 ||
	    hsmca_signed_assemble(key, alg, tbs.buf, tbs.len, cert, err) != 0 ||
	    hsmca_cert_check(cert->buf, cert->len, hsmca_key_pkey(key), NULL, err) != 0)
		goto out;
	/* The signed TBS must be the linted one, byte for byte. */
	if (!hsmca_signed_holds_tbs(cert->buf, cert->len, tbs.buf, tbs.len)) {
		hsmca_error_set(err, "internal: the assembled certificate does not hold the linted TBS");
		goto out;
	}
	ret = 0;
out:
	hsmca_der_free(&exts);
	hsmca_der_free(&tbs);
	return ret;
}

int hsmca_ca_create_root(struct hsmca_session *s, const struct hsmca_ceremony *c,
			 struct hsmca_ca **out, hsmca_error *err)
{
	struct hsmca_der name, cert;
	enum hsmca_key_type type;
	enum hsmca_sigalg alg;
	struct hsmca_tbs t;
	struct hsmca_ca *ca = NULL;
	hsmca_key *key = NULL;
	char dir[PATH_MAX], path[PATH_MAX], uri[1024], now[21];
	char *pem = NULL;
	size_t pem_len = 0;
	bool key_made = false, dir_made = false;
	int ret = -1;
	struct stat st;

	hsmca_der_init(&name);
	hsmca_der_init(&cert);
	memset(&t, 0, sizeof(t));

	/* Everything that can be checked is checked before the token is touched. */
	if (hsmca_ca_name_check(c->name, err) != 0 || hsmca_ca_purpose_check(c->purpose, err) != 0 ||
	    hsmca_key_type_parse(c->key_type, &type, err) != 0 ||
	    hsmca_name_encode(c->subject, &name, err) != 0)
		goto out;
	if (c->rsa_pss && type != HSMCA_KEY_RSA_3072 && type != HSMCA_KEY_RSA_4096) {
		hsmca_error_set(err, "RSA-PSS was asked for but the key type is %s", c->key_type);
		goto out;
	}
	alg = hsmca_sigalg_default(type, c->rsa_pss, strcmp(c->sig_hash, "sha384") == 0);
	{
		/* A CA's subject names it: exactly one CN. */
		const unsigned char *p = name.buf;
		X509_NAME *xn = d2i_X509_NAME(NULL, &p, (long)name.len);
		int cns = 0, idx = -1;

		while (xn && (idx = X509_NAME_get_index_by_NID(xn, NID_commonName, idx)) >= 0)
			cns++;
		X509_NAME_free(xn);
		if (cns != 1) {
			hsmca_error_set(err, "subject '%s' must have exactly one CN (it has %d)", c->subject,
					cns);
			goto out;
		}
	}
	if (c->out_cert[0]) {
		/* Refuse an output that cannot be written before the token is touched,
		 * and never overwrite a file an operator may need. */
		char dcopy[PATH_MAX];
		struct stat ost;

		snprintf(dcopy, sizeof(dcopy), "%s", c->out_cert);
		if (lstat(c->out_cert, &ost) == 0 && S_ISREG(ost.st_mode)) {
			hsmca_error_set(err, "output %s already exists; nothing was done", c->out_cert);
			goto out;
		}
		if (access(dirname(dcopy), W_OK) != 0) {
			hsmca_error_errno(err, "output directory of %s is not writable; nothing was done",
					  c->out_cert);
			goto out;
		}
	}
	if (hsmca_path_join(dir, sizeof(dir), err, "%s/cas/%s", s->home, c->name) != 0)
		goto out;
	if (stat(dir, &st) == 0) {
		hsmca_error_set(err, "a CA named '%s' already exists (%s)", c->name, dir);
		goto out;
	}
	t.not_before = c->not_before ? c->not_before : hsmca_now();
	t.not_after = c->not_after ? c->not_after : t.not_before + c->validity;
	if (t.not_after <= t.not_before) {
		hsmca_error_set(err, "validity ends before it starts");
		goto out;
	}

	if (hsmca_key_generate(s->token, type, c->key_label, &key, err) != 0) {
		const char *d[] = { "type", c->key_type, "reason", err->msg, NULL };

		hsmca_session_audit(s, "generate", c->key_label, "failed", d, NULL);
		goto out;
	}
	key_made = true;
	if (hsmca_key_uri(key, uri, sizeof(uri), err) != 0)
		goto out;
	{
		const char *d[] = { "type", c->key_type, "ca", c->name, NULL };

		if (hsmca_session_audit(s, "generate", uri, "ok", d, err) != 0)
			goto out;
	}

	if (root_build(s->token, key, &name, &t, c->path_len, alg, &cert, err) != 0) {
		const char *d[] = { "ca", c->name, "reason", err->msg, NULL };

		hsmca_session_audit(s, "sign", uri, "failed", d, NULL);
		goto out;
	}

	ca = calloc(1, sizeof(*ca));
	if (!ca) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	snprintf(ca->name, sizeof(ca->name), "%s", c->name);
	snprintf(ca->dir, sizeof(ca->dir), "%s", dir);
	snprintf(ca->kind, sizeof(ca->kind), "root");
	snprintf(ca->key_label, sizeof(ca->key_label), "%s", c->key_label);
	snprintf(ca->crl_url, sizeof(ca->crl_url), "%s", c->crl_url);
	snprintf(ca->issuer_url, sizeof(ca->issuer_url), "%s", c->issuer_url);
	snprintf(ca->key_uri, sizeof(ca->key_uri), "%s", uri);
	hsmca_format_time(hsmca_now(), now);
	snprintf(ca->created, sizeof(ca->created), "%s", now);
	snprintf(ca->purpose, sizeof(ca->purpose), "%s", c->purpose);
	ca->sigalg = alg;
	ca->der = malloc(cert.len);
	if (!ca->der) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(ca->der, cert.buf, cert.len);
	ca->der_len = cert.len;
	if (hsmca_ca_parse_cert(ca, err) != 0)
		goto out;

	pem = hsmca_pem_encode("CERTIFICATE", cert.buf, cert.len, &pem_len);
	if (!pem) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (hsmca_path_join(path, sizeof(path), err, "%s/cas", s->home) != 0 ||
	    hsmca_mkdir_p(path, 0755, err) != 0)
		goto out;
	if (mkdir(dir, 0755) != 0) {
		hsmca_error_errno(err, "cannot create %s", dir);
		goto out;
	}
	dir_made = true;
	if (hsmca_path_join(path, sizeof(path), err, "%s/ca.pem", dir) != 0 ||
	    hsmca_write_atomic(path, pem, pem_len, 0644, err) != 0 || hsmca_ca_write_metadata(ca, err) != 0)
		goto out;
	if (c->out_cert[0] && hsmca_write_atomic(c->out_cert, pem, pem_len, 0644, err) != 0)
		goto out;
	{
		char serial[41];
		const char *d[] = { "ca", c->name, "kind", "root-certificate", "serial", serial,
				    "subject", ca->subject, "sha256", ca->fingerprint, NULL };

		hsmca_hex(t.serial, t.serial_len, serial);
		if (hsmca_session_audit(s, "sign", uri, "ok", d, err) != 0)
			goto out;
	}
	*out = ca;
	ca = NULL;
	ret = 0;
out:
	if (ret != 0 && dir_made) {
		char p2[PATH_MAX];

		snprintf(p2, sizeof(p2), "%s/ca.yaml", dir);
		unlink(p2);
		snprintf(p2, sizeof(p2), "%s/ca.pem", dir);
		unlink(p2);
		rmdir(dir);
	}
	if (ret != 0 && key_made) {
		hsmca_error saved = *err;

		if (hsmca_key_destroy(key, err) == 0) {
			const char *d[] = { "reason", "ceremony failed", NULL };

			hsmca_session_audit(s, "destroy", uri, "ok", d, NULL);
		}
		*err = saved;
	}
	free(pem);
	hsmca_key_free(key);
	hsmca_ca_free(ca);
	hsmca_der_free(&name);
	hsmca_der_free(&cert);
	return ret;
}

int hsmca_ca_ephemeral(struct hsmca_session *s, enum hsmca_key_type type, const char *label,
		       struct hsmca_ca **out, hsmca_key **key_out, hsmca_error *err)
{
	struct hsmca_der name, cert;
	struct hsmca_tbs t;
	struct hsmca_ca *ca = NULL;
	hsmca_key *key = NULL;
	char dn[200];
	int ret = -1;

	hsmca_der_init(&name);
	hsmca_der_init(&cert);
	memset(&t, 0, sizeof(t));
	snprintf(dn, sizeof(dn), "CN=%s,O=hsmca benchmark", label);
	if (hsmca_name_encode(dn, &name, err) != 0 ||
	    hsmca_key_generate(s->token, type, label, &key, err) != 0)
		goto out;
	t.not_before = hsmca_now() - 3600;
	t.not_after = t.not_before + 2 * 86400 * 365;
	if (root_build(s->token, key, &name, &t, 0, hsmca_sigalg_default(type, false, false), &cert,
		       err) != 0)
		goto out;
	ca = calloc(1, sizeof(*ca));
	if (!ca || !(ca->der = malloc(cert.len))) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(ca->der, cert.buf, cert.len);
	ca->der_len = cert.len;
	snprintf(ca->name, sizeof(ca->name), "%s", label);
	snprintf(ca->kind, sizeof(ca->kind), "root");
	snprintf(ca->key_label, sizeof(ca->key_label), "%s", label);
	ca->sigalg = hsmca_sigalg_default(type, false, false);
	if (hsmca_ca_parse_cert(ca, err) != 0)
		goto out;
	*out = ca;
	*key_out = key;
	ca = NULL;
	key = NULL;
	ret = 0;
out:
	if (key && ret != 0)
		hsmca_key_destroy(key, NULL);
	hsmca_key_free(key);
	hsmca_ca_free(ca);
	hsmca_der_free(&name);
	hsmca_der_free(&cert);
	return ret;
}
