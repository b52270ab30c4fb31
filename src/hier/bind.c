/* Binding a certificate to an intermediate's key: every check first, then
 * the files, ca.yaml last (the step that makes the CA exist). */
#include "hier/hier_internal.h"

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

char *hier_pem_stack(STACK_OF(X509) *certs, int from, int to, size_t *len)
{
	char *all = NULL;
	size_t have = 0;
	int i;

	all = calloc(1, 1);
	for (i = from; all && i < to; i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(sk_X509_value(certs, i), &der);
		size_t plen = 0;
		char *pem = n > 0 ? hsmca_pem_encode("CERTIFICATE", der, (size_t)n, &plen) : NULL;
		char *grown = pem ? realloc(all, have + plen + 1) : NULL;

		OPENSSL_free(der);
		if (!grown) {
			free(pem);
			free(all);
			return NULL;
		}
		all = grown;
		memcpy(all + have, pem, plen + 1);
		have += plen;
		free(pem);
	}
	if (all && len)
		*len = have;
	return all;
}

static int check_key(const struct hier_bind *b, X509 *cert, hsmca_error *err)
{
	const uint8_t *spki;
	size_t spki_len;
	unsigned char *cert_spki = NULL;
	int n = i2d_PUBKEY(X509_get0_pubkey(cert), &cert_spki);
	bool same;

	hsmca_key_spki(b->key, &spki, &spki_len);
	same = n > 0 && (size_t)n == spki_len && memcmp(cert_spki, spki, spki_len) == 0;
	OPENSSL_free(cert_spki);
	if (!same)
		return hsmca_error_set(err, "the certificate is for another key, not CA '%s''s key "
					    "'%s' in the token", b->name, b->key_label);
	return 0;
}

static int check_ca_usage(X509 *cert, hsmca_error *err)
{
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
	bool ca = bc && bc->ca;

	BASIC_CONSTRAINTS_free(bc);
	if (!ca)
		return hsmca_error_set(err, "the certificate is not a CA certificate (basicConstraints "
					    "CA:FALSE or absent); have it signed under a CA profile "
					    "such as intermediate-ca");
	if (!(X509_get_extension_flags(cert) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN))
		return hsmca_error_set(err, "the certificate's keyUsage lacks keyCertSign: it could "
					    "not sign certificates");
	return 0;
}

static int check_subject(const struct hier_bind *b, X509 *cert, hsmca_error *err)
{
	const unsigned char *p = b->want_subject;
	X509_NAME *want = d2i_X509_NAME(NULL, &p, (long)b->want_subject_len);
	int diff = want ? X509_NAME_cmp(want, X509_get_subject_name(cert)) : 1;
	char have[512], asked[512];

	X509_NAME_free(want);
	if (diff == 0)
		return 0;
	X509_NAME_oneline(X509_get_subject_name(cert), have, sizeof(have));
	hsmca_name_format(b->want_subject, b->want_subject_len, asked, sizeof(asked));
	return hsmca_error_set(err, "the certificate's subject %s differs from the subject requested "
				    "for CA '%s' (%s)", have, b->name, asked);
}

/* The chain up to a self-signed root from `offered`; *out[0] is cert. */
static int verify_chain(X509 *cert, STACK_OF(X509) *offered, STACK_OF(X509) **out,
			hsmca_error *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int i, roots = 0, ret = -1;

	if (!store || !ctx || !untrusted) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(offered); i++) {
		X509 *x = sk_X509_value(offered, i);

		if (X509_get_extension_flags(x) & EXFLAG_SS) {
			if (X509_STORE_add_cert(store, x) != 1) {
				hsmca_error_openssl(err, "chain certificate %d", i + 1);
				goto out;
			}
			roots++;
		} else if (!sk_X509_push(untrusted, x)) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
	}
	if (roots == 0) {
		hsmca_error_set(err, "the chain has no self-signed root certificate: give the issuers "
				     "up to and including the root with --chain");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, cert, untrusted) != 1) {
		hsmca_error_openssl(err, "chain verification setup");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		hsmca_error_set(err, "the certificate does not verify up to a root in the chain: %s "
				     "(at depth %d)", X509_verify_cert_error_string(e),
			       X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	*out = X509_STORE_CTX_get1_chain(ctx);
	if (!*out) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (sk_X509_num(*out) < 2) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
		hsmca_error_set(err, "the certificate is self-signed: an intermediate needs an issuer");
		goto out;
	}
	ret = 0;
out:
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ret;
}

static int check_nested(X509 *cert, X509 *issuer, hsmca_error *err)
{
	if (ASN1_TIME_compare(X509_get0_notBefore(cert), X509_get0_notBefore(issuer)) < 0 ||
	    ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(issuer)) > 0) {
		char iss[512];

		X509_NAME_oneline(X509_get_subject_name(issuer), iss, sizeof(iss));
		return hsmca_error_set(err, "the certificate's validity is not inside its issuer's "
					    "(%s): it would outlive the certificate that vouches for it",
				       iss);
	}
	return 0;
}

static int write_bound(const struct hsmca_ca *ca, STACK_OF(X509) *chain, hsmca_error *err)
{
	char path[PATH_MAX];
	char *pem = NULL, *issuers = NULL;
	size_t pem_len = 0, issuers_len = 0;
	int ret = -1;

	pem = hsmca_pem_encode("CERTIFICATE", ca->der, ca->der_len, &pem_len);
	issuers = hier_pem_stack(chain, 1, sk_X509_num(chain), &issuers_len);
	if (!pem || !issuers) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (hsmca_mkdir_p(ca->dir, 0755, err) != 0 ||
	    hsmca_path_join(path, sizeof(path), err, "%s/ca.pem", ca->dir) != 0 ||
	    hsmca_write_atomic(path, pem, pem_len, 0644, err) != 0 ||
	    hsmca_path_join(path, sizeof(path), err, "%s/issuers.pem", ca->dir) != 0 ||
	    hsmca_write_atomic(path, issuers, issuers_len, 0644, err) != 0 ||
	    hsmca_ca_write_metadata(ca, err) != 0)
		goto out;
	ret = 0;
out:
	free(pem);
	free(issuers);
	return ret;
}

int hier_bind(const struct hier_bind *b, X509 *cert, STACK_OF(X509) *offered,
	      struct hsmca_ca **out, hsmca_error *err)
{
	STACK_OF(X509) *chain = NULL;
	struct hsmca_ca *ca = NULL;
	unsigned char *der = NULL;
	char now[21];
	int n, ret = -1;

	if (check_key(b, cert, err) != 0 || check_ca_usage(cert, err) != 0 ||
	    check_subject(b, cert, err) != 0 || verify_chain(cert, offered, &chain, err) != 0 ||
	    check_nested(cert, sk_X509_value(chain, 1), err) != 0)
		goto out;
	ca = calloc(1, sizeof(*ca));
	n = i2d_X509(cert, &der);
	if (!ca || n <= 0 || !(ca->der = malloc((size_t)n))) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(ca->der, der, (size_t)n);
	ca->der_len = (size_t)n;
	snprintf(ca->name, sizeof(ca->name), "%s", b->name);
	snprintf(ca->dir, sizeof(ca->dir), "%s", b->dir);
	snprintf(ca->kind, sizeof(ca->kind), "intermediate");
	snprintf(ca->parent, sizeof(ca->parent), "%s", b->parent);
	snprintf(ca->key_label, sizeof(ca->key_label), "%s", b->key_label);
	snprintf(ca->key_uri, sizeof(ca->key_uri), "%s", b->key_uri);
	snprintf(ca->crl_url, sizeof(ca->crl_url), "%s", b->crl_url);
	snprintf(ca->issuer_url, sizeof(ca->issuer_url), "%s", b->issuer_url);
	hsmca_format_time(hsmca_now(), now);
	snprintf(ca->created, sizeof(ca->created), "%s", now);
	ca->sigalg = b->sigalg;
	/* hsmca issues only with a 20-byte SKI to put in the AKI: check it now. */
	if (hsmca_ca_parse_cert(ca, err) != 0 || write_bound(ca, chain, err) != 0)
		goto out;
	if (out) {
		*out = ca;
		ca = NULL;
	}
	ret = 0;
out:
	OPENSSL_free(der);
	sk_X509_pop_free(chain, X509_free);
	hsmca_ca_free(ca);
	return ret;
}

/* The CA in this state directory whose certificate is `x`, if any. */
static void parent_name(const char *home, X509 *x, char out[64])
{
	char (*names)[64] = NULL;
	size_t n = 0, i;
	hsmca_error ignored = { "", 0 };

	out[0] = '\0';
	if (hsmca_ca_names(home, &names, &n, &ignored) != 0)
		return;
	for (i = 0; i < n && !out[0]; i++) {
		struct hsmca_ca *ca = NULL;

		if (hsmca_ca_load(home, names[i], &ca, &ignored) == 0 && X509_cmp(ca->x509, x) == 0)
			snprintf(out, 64, "%s", names[i]);
		hsmca_ca_free(ca);
	}
	free(names);
}

struct pending {
	char key_label[129], key_uri[1024], sig[32], crl_url[512], issuer_url[512];
};

static int pending_load(const char *dir, struct pending *p, hsmca_error *err)
{
	static const char *const keys[] = { "version", "name", "key_label", "key_uri", "signature",
					    "crl_url", "issuer_url", "created", NULL };
	struct hsmca_ytree *t = NULL;
	const struct hsmca_ynode *root, *n;
	char path[PATH_MAX];
	int ret = -1;

	memset(p, 0, sizeof(*p));
	if (hsmca_path_join(path, sizeof(path), err, "%s/pending.yaml", dir) != 0 ||
	    hsmca_ytree_load_file(path, 64 * 1024, 0, &t, err) != 0)
		goto out;
	root = hsmca_ytree_root(t);
	if (!root) {
		hsmca_error_set(err, "%s is empty", path);
		goto out;
	}
	if (hsmca_ynode_check_keys(root, keys, NULL, err) != 0 ||
	    hsmca_ynode_require_version(root, 1, err) != 0 ||
	    hsmca_ynode_require(root, "key_label", &n, err) != 0 ||
	    hsmca_ynode_string(n, p->key_label, sizeof(p->key_label), err) != 0 ||
	    hsmca_ynode_require(root, "key_uri", &n, err) != 0 ||
	    hsmca_ynode_string(n, p->key_uri, sizeof(p->key_uri), err) != 0 ||
	    hsmca_ynode_require(root, "signature", &n, err) != 0 ||
	    hsmca_ynode_string(n, p->sig, sizeof(p->sig), err) != 0)
		goto out;
	if ((n = hsmca_ynode_get(root, "crl_url")) &&
	    hsmca_ynode_string(n, p->crl_url, sizeof(p->crl_url), err) != 0)
		goto out;
	if ((n = hsmca_ynode_get(root, "issuer_url")) &&
	    hsmca_ynode_string(n, p->issuer_url, sizeof(p->issuer_url), err) != 0)
		goto out;
	ret = 0;
out:
	hsmca_ytree_free(t);
	return ret;
}

/* The subject the CSR asked for, DER (malloc'ed). */
static int requested_subject(const char *dir, unsigned char **der, size_t *len, hsmca_error *err)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t buf_len = 0;
	BIO *bio = NULL;
	X509_REQ *req = NULL;
	int n, ret = -1;

	if (hsmca_path_join(path, sizeof(path), err, "%s/request.csr", dir) != 0 ||
	    hsmca_read_file(path, 64 * 1024, &buf, &buf_len, err) != 0)
		goto out;
	bio = BIO_new_mem_buf(buf, (int)buf_len);
	req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	if (!req) {
		hsmca_error_openssl(err, "%s does not parse", path);
		goto out;
	}
	*der = NULL;
	n = i2d_X509_NAME(X509_REQ_get_subject_name(req), der);
	if (n <= 0) {
		hsmca_error_openssl(err, "%s: subject", path);
		goto out;
	}
	*len = (size_t)n;
	ret = 0;
out:
	X509_REQ_free(req);
	BIO_free(bio);
	free(buf);
	return ret;
}

int hsmca_hier_import(struct hsmca_session *s, const char *name, const uint8_t *cert,
		      size_t cert_len, const uint8_t *chain, size_t chain_len,
		      struct hsmca_ca **out, hsmca_error *err)
{
	struct pending p;
	struct hier_bind b;
	STACK_OF(X509) *leaf = NULL, *offered = NULL;
	hsmca_key *key = NULL;
	unsigned char *subject = NULL;
	size_t subject_len = 0;
	char dir[PATH_MAX], path[PATH_MAX], parent[64];
	struct stat st;
	int ret = -1;

	memset(&b, 0, sizeof(b));
	if (hsmca_ca_name_check(name, err) != 0 ||
	    hsmca_path_join(dir, sizeof(dir), err, "%s/cas/%s", s->home, name) != 0 ||
	    hsmca_path_join(path, sizeof(path), err, "%s/ca.yaml", dir) != 0)
		return -1;
	if (stat(path, &st) == 0)
		return hsmca_error_set(err, "CA '%s' already has its certificate; nothing to import", name);
	if (hsmca_path_join(path, sizeof(path), err, "%s/pending.yaml", dir) != 0)
		return -1;
	if (stat(path, &st) != 0)
		return hsmca_error_set(err, "no pending CA named '%s' in %s (make one with 'hsmca ca init "
					    "%s --csr-out FILE …')", name, s->home, name);
	if (pending_load(dir, &p, err) != 0 || requested_subject(dir, &subject, &subject_len, err) != 0)
		goto out;
	if (hsmca_hier_read_certs(cert, cert_len, &leaf, err) != 0) {
		hsmca_error_prefix(err, "--cert");
		goto out;
	}
	if (sk_X509_num(leaf) != 1) {
		hsmca_error_set(err, "--cert holds %d certificates; give the CA's certificate alone and "
				     "its issuers with --chain", sk_X509_num(leaf));
		goto out;
	}
	if (hsmca_hier_read_certs(chain, chain_len, &offered, err) != 0) {
		hsmca_error_prefix(err, "--chain");
		goto out;
	}
	if (hsmca_key_find(s->token, p.key_label, &key, err) != 0) {
		hsmca_error_prefix(err, "CA '%s'", name);
		goto out;
	}
	parent[0] = '\0';
	for (int i = 0; i < sk_X509_num(offered) && !parent[0]; i++)
		if (X509_check_issued(sk_X509_value(offered, i), sk_X509_value(leaf, 0)) == X509_V_OK)
			parent_name(s->home, sk_X509_value(offered, i), parent);
	b.name = name;
	b.dir = dir;
	b.parent = parent;
	b.key_label = p.key_label;
	b.key_uri = p.key_uri;
	b.crl_url = p.crl_url;
	b.issuer_url = p.issuer_url;
	b.want_subject = subject;
	b.want_subject_len = subject_len;
	b.key = key;
	if (hsmca_sigalg_from_id(p.sig, &b.sigalg, err) != 0 ||
	    hier_bind(&b, sk_X509_value(leaf, 0), offered, out, err) != 0)
		goto out;
	/* Bound: ca.yaml exists and wins over pending.yaml; the CSR stays as a record. */
	if (hsmca_path_join(path, sizeof(path), err, "%s/pending.yaml", dir) == 0)
		unlink(path);
	{
		const char *d[] = { "ca", name, "kind", "intermediate-certificate", NULL };

		hsmca_session_audit(s, "import", p.key_uri, "ok", d, NULL);
	}
	ret = 0;
out:
	/* A refusal touched nothing, so it leaves no trace in the state directory. */
	OPENSSL_free(subject);
	hsmca_key_free(key);
	sk_X509_pop_free(leaf, X509_free);
	sk_X509_pop_free(offered, X509_free);
	return ret;
}
