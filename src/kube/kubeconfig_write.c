/* Writing a one-context kubeconfig (kubeconfig.h). */
#include "kube/kubeconfig.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "kube/kube_internal.h"

/* Names go into YAML double-quoted: keep them to what kubectl users write. */
static int check_name(const char *s, const char *what, hsmca_error *err)
{
	const char *p;

	if (!s || !*s || strlen(s) > 253)
		return hsmca_error_set(err, "kubeconfig: %s must be 1 to 253 characters", what);
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("@._:-/+", *p))
			return hsmca_error_set(err, "kubeconfig: %s \"%s\" may hold only letters, "
						    "digits and @._:-/+", what, s);
	return 0;
}

static int check_server(const char *s, hsmca_error *err)
{
	const char *p;

	if (!s || strncmp(s, "https://", 8) != 0 || !s[8] || strlen(s) > 2000)
		return hsmca_error_set(err, "kubeconfig: server \"%s\" must be an https:// URL",
				       s ? s : "");
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
			return hsmca_error_set(err, "kubeconfig: server \"%s\" holds a character "
						    "that does not belong in a URL", s);
	return 0;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap ? b->cap : 1024) * 2 + (size_t)n;
			char *q = malloc(cap);

			if (!q) {
				b->failed = true;
				return;
			}
			if (b->p) {
				memcpy(q, b->p, b->len);
				hsmca_wipe(b->p, b->cap);
				free(b->p);
			}
			b->p = q;
			b->cap = cap;
		}
	}
}

int hsmca_kubeconfig_render(const hsmca_kubeconfig_spec *sp, char **out, size_t *outlen,
			    hsmca_error *err)
{
	char *b_ca = NULL, *b_crt = NULL, *b_key = NULL;
	struct sbuf b = { 0 };
	int ret = -1;

	*out = NULL;
	*outlen = 0;
	if (check_name(sp->name, "cluster/context name", err) != 0 ||
	    check_name(sp->user, "user name", err) != 0 || check_server(sp->server, err) != 0)
		return -1;
	if (sp->tls_server_name && check_name(sp->tls_server_name, "tls-server-name", err) != 0)
		return -1;
	if (!sp->ca_pem || !sp->crt_pem || !sp->key_pem)
		return hsmca_error_set(err, "kubeconfig: CA, certificate and key are required");
	if (hsmca_b64_encode((const uint8_t *)sp->ca_pem, strlen(sp->ca_pem), &b_ca, err) != 0 ||
	    hsmca_b64_encode((const uint8_t *)sp->crt_pem, strlen(sp->crt_pem), &b_crt, err) != 0 ||
	    hsmca_b64_encode((const uint8_t *)sp->key_pem, strlen(sp->key_pem), &b_key, err) != 0)
		goto out;
	sb_add(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: \"%s\"\n  cluster:\n"
		   "    server: \"%s\"\n", sp->name, sp->server);
	if (sp->tls_server_name)
		sb_add(&b, "    tls-server-name: \"%s\"\n", sp->tls_server_name);
	sb_add(&b, "    certificate-authority-data: %s\n", b_ca);
	sb_add(&b, "users:\n- name: \"%s\"\n  user:\n    client-certificate-data: %s\n"
		   "    client-key-data: %s\n", sp->user, b_crt, b_key);
	sb_add(&b, "contexts:\n- name: \"%s\"\n  context:\n    cluster: \"%s\"\n    user: \"%s\"\n"
		   "current-context: \"%s\"\npreferences: {}\n", sp->name, sp->name, sp->user,
	       sp->name);
	if (b.failed) {
		hsmca_error_set(err, "kubeconfig: out of memory");
		goto out;
	}
	*out = b.p;
	*outlen = b.len;
	b.p = NULL;
	ret = 0;
out:
	if (b.p) {
		hsmca_wipe(b.p, b.cap);
		free(b.p);
	}
	free(b_ca);
	free(b_crt);
	kube_free_secret_str(b_key);
	return ret;
}

int hsmca_kubeconfig_replace_ok(const char *path, const char *name, hsmca_error *err)
{
	struct kyaml *root = NULL;
	const struct kyaml *ctxs;
	uint8_t *buf = NULL;
	size_t len = 0, i;
	int ret = -1;

	if (access(path, F_OK) != 0)
		return 0;
	if (hsmca_read_file(path, HSMCA_KUBECONFIG_MAX, &buf, &len, err) != 0)
		return -1;
	if (len == 0) {
		ret = 0;
		goto out;
	}
	if (kyaml_load(buf, len, path, &root, err) != 0)
		goto out;
	ctxs = root && root->kind == KYAML_MAP ? kyaml_get(root, "contexts") : NULL;
	for (i = 0; ctxs && ctxs->kind == KYAML_SEQ && i < ctxs->n; i++) {
		const char *n = ctxs->items[i]->kind == KYAML_MAP
				? kyaml_str(kyaml_get(ctxs->items[i], "name")) : NULL;

		if (!n || strcmp(n, name) != 0) {
			hsmca_error_set(err, "%s also holds context \"%s\", which a one-context "
					     "rewrite would drop: write the new kubeconfig to another "
					     "file", path, n ? n : "?");
			goto out;
		}
	}
	ret = 0;
out:
	kyaml_free(root);
	kube_free_secret(buf, len);
	return ret;
}

int hsmca_kubeconfig_write(const char *path, const hsmca_kubeconfig_spec *sp, hsmca_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (hsmca_kubeconfig_replace_ok(path, sp->name, err) != 0 ||
	    hsmca_kubeconfig_render(sp, &text, &len, err) != 0)
		return -1;
	ret = hsmca_write_atomic(path, text, len, 0600, err);
	kube_free_secret(text, len);
	return ret;
}
