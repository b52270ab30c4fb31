/* Talos API credentials from a talosconfig, held in memory only. */
#include "talos/talos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "common/b64.h"
#include "talos/yamldoc.h"

#define TALOSCONFIG_MAX (1u << 20)


static void wipe_free(char *p, size_t len)
{
	if (!p)
		return;
	hsmca_wipe(p, len);
	free(p);
}

void hsmca_talos_creds_clear(struct hsmca_talos_creds *c)
{
	if (!c)
		return;
	free(c->ca_pem);
	free(c->crt_pem);
	wipe_free(c->key_pem, c->key_len);
	memset(c, 0, sizeof(*c));
}

void hsmca_talos_strv_free(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* Replace every occurrence of `from` by the shorter `to`, in place. */
static void relabel(char *s, size_t *len, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	char *p = s;

	while ((p = strstr(p, from)) != NULL) {
		memmove(p + tl, p + fl, *len - (size_t)(p - s) - fl + 1);
		memcpy(p, to, tl);
		*len -= fl - tl;
		hsmca_wipe(s + *len + 1, fl - tl);
		p += tl;
	}
}

/* Talos writes Ed25519 keys as PKCS#8 under the label "ED25519 PRIVATE KEY",
 * which OpenSSL does not read: drop the word from both boundary lines, in
 * memory (the body is PKCS#8 either way). */
static void relabel_key(char *key, size_t *len)
{
	relabel(key, len, "-----BEGIN ED25519 ", "-----BEGIN ");
	relabel(key, len, "-----END ED25519 ", "-----END ");
}

/* Parse and cross-check: the certificate parses, the key parses and belongs
 * to it, the CA bundle holds at least one certificate. */
static int check_creds(const struct hsmca_talos_creds *c, hsmca_error *err)
{
	BIO *bio = NULL;
	X509 *crt = NULL, *ca = NULL;
	EVP_PKEY *key = NULL;
	int ret = -1;

	bio = BIO_new_mem_buf(c->crt_pem, (int)c->crt_len);
	if (!bio || !(crt = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		hsmca_error_openssl(err, "client certificate (crt) is not a PEM certificate");
		goto out;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(c->key_pem, (int)c->key_len);
	if (!bio || !(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL))) {
		/* No OpenSSL detail: it could quote the input. */
		ERR_clear_error();
		hsmca_error_set(err, "client key (key) is not a PEM private key OpenSSL can read");
		goto out;
	}
	if (X509_check_private_key(crt, key) != 1) {
		ERR_clear_error();
		hsmca_error_set(err,
				"client key (key) does not belong to the client certificate (crt)");
		goto out;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(c->ca_pem, (int)c->ca_len);
	if (!bio || !(ca = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		hsmca_error_openssl(err, "CA (ca) is not a PEM certificate");
		goto out;
	}
	ret = 0;
out:
	BIO_free(bio);
	X509_free(crt);
	X509_free(ca);
	EVP_PKEY_free(key);
	return ret;
}

static char *dup_len(const char *s, size_t *len)
{
	char *p;

	*len = strlen(s);
	p = malloc(*len + 1);
	if (p)
		memcpy(p, s, *len + 1);
	return p;
}

int hsmca_talos_creds_from_pem(const char *ca_pem, const char *crt_pem, const char *key_pem,
			       struct hsmca_talos_creds *out, hsmca_error *err)
{
	struct hsmca_talos_creds c = {0};

	c.ca_pem = dup_len(ca_pem, &c.ca_len);
	c.crt_pem = dup_len(crt_pem, &c.crt_len);
	c.key_pem = dup_len(key_pem, &c.key_len);
	if (!c.ca_pem || !c.crt_pem || !c.key_pem) {
		hsmca_talos_creds_clear(&c);
		return hsmca_error_set(err, "talos credentials: out of memory");
	}
	relabel_key(c.key_pem, &c.key_len);
	if (check_creds(&c, err) != 0) {
		hsmca_talos_creds_clear(&c);
		return -1;
	}
	*out = c;
	return 0;
}

/* Decode a base64 PEM field of the context into a NUL-terminated string. */
static int field_pem(yaml_document_t *doc, yaml_node_t *ctx, const char *name, const char *path,
		     char **out, size_t *len, hsmca_error *err)
{
	const char *v = hsmca_talos_yaml_str(hsmca_talos_yaml_get(doc, ctx, name, NULL));
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	char what[64];

	if (!v || !*v)
		return hsmca_error_set(err, "%s: the context has no %s", path, name);
	snprintf(what, sizeof(what), "talosconfig field %s", name);
	if (hsmca_b64_decode(v, strlen(v), what, &raw, &rawlen, err) != 0)
		return hsmca_error_prefix(err, "%s", path);
	if (memchr(raw, '\0', rawlen)) {
		hsmca_wipe(raw, rawlen);
		free(raw);
		return hsmca_error_set(err, "%s: field %s holds a NUL byte", path, name);
	}
	*out = (char *)raw;
	*len = rawlen;
	return 0;
}

static int strv_from_seq(yaml_document_t *doc, yaml_node_t *seq, const char *path, const char *name,
			 char ***out, hsmca_error *err)
{
	yaml_node_item_t *it;
	size_t n = 0, i = 0;
	char **v;

	if (seq && seq->type == YAML_SEQUENCE_NODE)
		n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	else if (seq && !hsmca_talos_yaml_is_null(seq))
		return hsmca_error_set(err, "%s: %s is not a list", path, name);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return hsmca_error_set(err, "%s: out of memory", path);
	for (it = n ? seq->data.sequence.items.start : NULL; n && it < seq->data.sequence.items.top;
	     it++) {
		const char *s = hsmca_talos_yaml_str(yaml_document_get_node(doc, *it));

		if (!s || !(v[i] = strdup(s))) {
			hsmca_talos_strv_free(v);
			return hsmca_error_set(err, "%s: %s holds a non-string entry", path, name);
		}
		i++;
	}
	*out = v;
	return 0;
}

int hsmca_talos_creds_from_talosconfig(const char *path, const char *context,
				       struct hsmca_talos_creds *out, char ***endpoints,
				       char ***nodes, hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = {0};
	struct hsmca_talos_creds c = {0};
	yaml_document_t *doc;
	yaml_node_t *root, *ctxs, *ctx;
	char **eps = NULL, **nds = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (hsmca_read_file(path, TALOSCONFIG_MAX, &buf, &len, err) != 0)
		goto out;
	if (hsmca_talos_yaml_load(buf, len, path, &docs, err) != 0)
		goto out;
	root = hsmca_talos_yaml_root(&docs, 0);
	doc = &docs.docs[0];
	if (!root || root->type != YAML_MAPPING_NODE) {
		hsmca_error_set(err, "%s: not a talosconfig (no top-level mapping)", path);
		goto out;
	}
	if (!context)
		context = hsmca_talos_yaml_str(hsmca_talos_yaml_get(doc, root, "context", NULL));
	if (!context || !*context) {
		hsmca_error_set(err, "%s: no current context; name one", path);
		goto out;
	}
	ctxs = hsmca_talos_yaml_get(doc, root, "contexts", NULL);
	ctx = hsmca_talos_yaml_get(doc, ctxs, context, NULL);
	if (!ctx || ctx->type != YAML_MAPPING_NODE) {
		hsmca_error_set(err, "%s: no context named \"%s\"", path, context);
		goto out;
	}
	if (field_pem(doc, ctx, "ca", path, &c.ca_pem, &c.ca_len, err) != 0 ||
	    field_pem(doc, ctx, "crt", path, &c.crt_pem, &c.crt_len, err) != 0 ||
	    field_pem(doc, ctx, "key", path, &c.key_pem, &c.key_len, err) != 0)
		goto out;
	relabel_key(c.key_pem, &c.key_len);
	if (check_creds(&c, err) != 0) {
		hsmca_error_prefix(err, "%s context %s", path, context);
		goto out;
	}
	if (endpoints && strv_from_seq(doc, hsmca_talos_yaml_get(doc, ctx, "endpoints", NULL), path,
				       "endpoints", &eps, err) != 0)
		goto out;
	if (nodes && strv_from_seq(doc, hsmca_talos_yaml_get(doc, ctx, "nodes", NULL), path,
				   "nodes", &nds, err) != 0)
		goto out;
	*out = c;
	memset(&c, 0, sizeof(c));
	if (endpoints)
		*endpoints = eps;
	if (nodes)
		*nodes = nds;
	eps = nds = NULL;
	ret = 0;
out:
	hsmca_talos_creds_clear(&c);
	hsmca_talos_strv_free(eps);
	hsmca_talos_strv_free(nds);
	hsmca_talos_yaml_free(&docs);
	if (buf) {
		hsmca_wipe(buf, len);
		free(buf);
	}
	return ret;
}
