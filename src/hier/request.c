/* A new intermediate's key in the token and its CSR: the pending state. */
#include "hier/hier_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "x509/x509.h"
#include "yaml/ytree.h"

/* A CA's subject names it: exactly one CN. */
static int subject_one_cn(const char *dn, const struct hsmca_der *name, hsmca_error *err)
{
	const unsigned char *p = name->buf;
	X509_NAME *xn = d2i_X509_NAME(NULL, &p, (long)name->len);
	int cns = 0, idx = -1;

	while (xn && (idx = X509_NAME_get_index_by_NID(xn, NID_commonName, idx)) >= 0)
		cns++;
	X509_NAME_free(xn);
	if (cns != 1)
		return hsmca_error_set(err, "subject '%s' must have exactly one CN (it has %d)", dn, cns);
	return 0;
}

int hier_newkey_begin(struct hsmca_session *s, const struct hsmca_ceremony *c,
		      struct hier_newkey *nk, hsmca_error *err)
{
	enum hsmca_key_type type;
	char pending[PATH_MAX];
	struct stat st;

	memset(nk, 0, sizeof(*nk));
	hsmca_der_init(&nk->name);
	/* Everything that can be checked is checked before the token is touched. */
	if (hsmca_ca_name_check(c->name, err) != 0 || hsmca_key_type_parse(c->key_type, &type, err) != 0 ||
	    hsmca_name_encode(c->subject, &nk->name, err) != 0 ||
	    subject_one_cn(c->subject, &nk->name, err) != 0)
		return -1;
	if ((c->crl_url[0] && hsmca_url_check(c->crl_url, "--crl-url", err) != 0) ||
	    (c->issuer_url[0] && hsmca_url_check(c->issuer_url, "--issuer-url", err) != 0))
		return -1;
	if (c->rsa_pss && type != HSMCA_KEY_RSA_3072 && type != HSMCA_KEY_RSA_4096)
		return hsmca_error_set(err, "RSA-PSS was asked for but the key type is %s", c->key_type);
	nk->alg = hsmca_sigalg_default(type, c->rsa_pss, strcmp(c->sig_hash, "sha384") == 0);
	if (hsmca_path_join(nk->dir, sizeof(nk->dir), err, "%s/cas/%s", s->home, c->name) != 0 ||
	    hsmca_path_join(pending, sizeof(pending), err, "%s/pending.yaml", nk->dir) != 0)
		return -1;
	if (stat(pending, &st) == 0)
		return hsmca_error_set(err, "CA '%s' is already pending (its CSR is %s/request.csr); "
					    "import its certificate with 'hsmca ca import'", c->name, nk->dir);
	if (stat(nk->dir, &st) == 0)
		return hsmca_error_set(err, "a CA named '%s' already exists (%s)", c->name, nk->dir);
	if (hsmca_key_generate(s->token, type, c->key_label, &nk->key, err) != 0) {
		const char *d[] = { "type", c->key_type, "reason", err->msg, NULL };

		hsmca_session_audit(s, "generate", c->key_label, "failed", d, NULL);
		return -1;
	}
	if (hsmca_key_uri(nk->key, nk->uri, sizeof(nk->uri), err) != 0)
		return -1;
	{
		const char *d[] = { "type", c->key_type, "ca", c->name, NULL };

		if (hsmca_session_audit(s, "generate", nk->uri, "ok", d, err) != 0)
			return -1;
	}
	return 0;
}

void hier_newkey_end(struct hsmca_session *s, struct hier_newkey *nk, bool ok)
{
	static const char *const files[] = { "ca.yaml", "pending.yaml", "ca.pem", "issuers.pem",
					     "request.csr", "issued.jsonl", NULL };
	size_t i;

	if (!ok && nk->dir_made) {
		char p[PATH_MAX];

		for (i = 0; files[i]; i++)
			if (snprintf(p, sizeof(p), "%s/%s", nk->dir, files[i]) < (int)sizeof(p))
				unlink(p);
		rmdir(nk->dir);
	}
	if (!ok && nk->key) {
		hsmca_error ignored = { "", 0 };

		if (hsmca_key_destroy(nk->key, &ignored) == 0) {
			const char *d[] = { "reason", "intermediate setup failed", NULL };

			hsmca_session_audit(s, "destroy", nk->uri, "ok", d, NULL);
		}
	}
	hsmca_key_free(nk->key);
	nk->key = NULL;
	hsmca_der_free(&nk->name);
}

static int write_pending(const struct hsmca_ceremony *c, const struct hier_newkey *nk,
			 hsmca_error *err)
{
	char path[PATH_MAX], buf[4096], now[21];
	int n;

	if (strpbrk(c->key_label, "\"\\") || strpbrk(c->crl_url, "\"\\") ||
	    strpbrk(c->issuer_url, "\"\\"))
		return hsmca_error_set(err, "key label and URLs must not contain quotes or backslashes");
	hsmca_format_time(hsmca_now(), now);
	n = snprintf(buf, sizeof(buf),
		     "# hsmca pending intermediate (public): the key is in the token, the CSR in\n"
		     "# request.csr awaits a signature; 'hsmca ca import' binds the certificate.\n"
		     "version: 1\n"
		     "name: \"%s\"\n"
		     "key_label: \"%s\"\n"
		     "key_uri: \"%s\"\n"
		     "signature: \"%s\"\n"
		     "crl_url: \"%s\"\n"
		     "issuer_url: \"%s\"\n"
		     "created: \"%s\"\n",
		     c->name, c->key_label, nk->uri, hsmca_sigalg_id(nk->alg), c->crl_url,
		     c->issuer_url, now);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return hsmca_error_set(err, "CA '%s': pending metadata too long", c->name);
	if (hsmca_path_join(path, sizeof(path), err, "%s/pending.yaml", nk->dir) != 0)
		return -1;
	return hsmca_write_atomic(path, buf, (size_t)n, 0644, err);
}

int hsmca_hier_request(struct hsmca_session *s, const struct hsmca_ceremony *c,
		       struct hsmca_der *csr, hsmca_error *err)
{
	struct hier_newkey nk;
	struct hsmca_der der;
	char path[PATH_MAX];
	char *pem = NULL;
	size_t pem_len = 0;
	int ret = -1;

	hsmca_der_init(&der);
	if (hier_newkey_begin(s, c, &nk, err) != 0)
		goto out;
	if (hsmca_csr_build(nk.key, nk.alg, nk.name.buf, nk.name.len, true, &der, err) != 0) {
		const char *d[] = { "ca", c->name, "kind", "csr", "reason", err->msg, NULL };

		hsmca_session_audit(s, "sign", nk.uri, "failed", d, NULL);
		goto out;
	}
	pem = hsmca_pem_encode("CERTIFICATE REQUEST", der.buf, der.len, &pem_len);
	if (!pem) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (hsmca_path_join(path, sizeof(path), err, "%s/cas", s->home) != 0 ||
	    hsmca_mkdir_p(path, 0755, err) != 0)
		goto out;
	if (mkdir(nk.dir, 0755) != 0) {
		hsmca_error_errno(err, "cannot create %s", nk.dir);
		goto out;
	}
	nk.dir_made = true;
	if (hsmca_path_join(path, sizeof(path), err, "%s/request.csr", nk.dir) != 0 ||
	    hsmca_write_atomic(path, pem, pem_len, 0644, err) != 0 || write_pending(c, &nk, err) != 0)
		goto out;
	{
		const char *d[] = { "ca", c->name, "kind", "csr", "subject", c->subject, NULL };

		if (hsmca_session_audit(s, "sign", nk.uri, "ok", d, err) != 0)
			goto out;
	}
	hsmca_der_free(csr);
	*csr = der;
	hsmca_der_init(&der);
	ret = 0;
out:
	hier_newkey_end(s, &nk, ret == 0);
	free(pem);
	hsmca_der_free(&der);
	return ret;
}

int hsmca_hier_pending_names(const char *home, char (**names)[64], size_t *n, hsmca_error *err)
{
	return hsmca_ca_dir_names(home, "pending.yaml", "ca.yaml", names, n, err);
}
