/* The Kubernetes API of a Talos cluster as a rotation target (target.h).
 *
 * Trust lives in each control-plane node's machine config
 * (cluster.acceptedCAs, or the KubeAPIServerCAConfig document's acceptedCAs)
 * and is edited through the Talos API, as for the Talos target.  What the
 * change means is checked where it takes effect: at each node's
 * kube-apiserver, with a SelfSubjectReview over a fresh TLS connection.
 *
 * Why SelfSubjectReview and not GET /version: with anonymous auth enabled
 * (kube-apiserver's default) /version answers 200 to a request without a
 * credential, and a Go TLS client leaves out a certificate whose issuer the
 * server does not name, so a revoked certificate would look accepted.  A SelfSubjectReview says who the
 * server thinks we are: our certificate's CN means accepted; 401, or
 * "system:anonymous" (403 or a review naming it), means refused. */
#include "rotate/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "talos/talm.h"
#include "talos/talos.h"

/* The API server took the request as anonymous: the certificate was not
 * accepted. */
#define KUBE_E_ANONYMOUS 300001UL

struct kube_creds {
	struct hsmca_talos_creds talos; /* for the nodes' Talos API; may be empty */
	bool have_talos;
	char *ca_pem;                   /* the API servers' serving CA */
	char *crt_pem;                  /* client certificate, or NULL */
	char *key_pem;                  /* secret */
	size_t key_len;
	char cn[256];                   /* the user the API server must see */
};

static void kube_creds_free(void *p)
{
	struct kube_creds *c = p;

	if (!c)
		return;
	hsmca_talos_creds_clear(&c->talos);
	free(c->ca_pem);
	free(c->crt_pem);
	if (c->key_pem) {
		hsmca_wipe(c->key_pem, c->key_len);
		free(c->key_pem);
	}
	free(c);
}

static int cert_cn(const char *pem, char *cn, size_t cnlen, hsmca_error *err)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int n = x ? X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					      (int)cnlen) : -1;

	X509_free(x);
	BIO_free(b);
	if (n <= 0)
		return hsmca_error_openssl(err, "client certificate without a readable CN");
	return 0;
}

static int kube_part(struct kube_creds *c, const char *ca, size_t ca_len, const char *crt,
		     size_t crt_len, const char *key, size_t key_len, hsmca_error *err)
{
	if (!(c->ca_pem = strndup(ca, ca_len)))
		return hsmca_error_set(err, "out of memory");
	if (!crt || !key)
		return 0;
	c->crt_pem = strndup(crt, crt_len);
	c->key_pem = malloc(key_len + 1);
	if (!c->crt_pem || !c->key_pem)
		return hsmca_error_set(err, "out of memory");
	memcpy(c->key_pem, key, key_len);
	c->key_pem[key_len] = '\0';
	c->key_len = key_len + 1;
	return cert_cn(c->crt_pem, c->cn, sizeof(c->cn), err);
}

/* Talos credentials from the plan's talosconfig; the kubeconfig at `path`,
 * or the plan's own when `path` is the talosconfig (the credentials a
 * rotation starts from). */
static int kube_creds_load(const struct hsmca_rot_plan *p, const char *path, void **out,
			   hsmca_error *err)
{
	hsmca_kubeconfig_options kopt = { 0 };
	struct kube_creds *c = calloc(1, sizeof(*c));
	hsmca_kubeconfig *kc = NULL;
	const char *file = strcmp(path, p->talosconfig) == 0 ? p->kubeconfig : path;
	int ret = -1;

	if (!c)
		return hsmca_error_set(err, "out of memory");
	if (p->talosconfig[0]) {
		if (hsmca_talos_creds_from_talosconfig(p->talosconfig,
						       p->context[0] ? p->context : NULL, &c->talos,
						       NULL, NULL, err) != 0)
			goto out;
		c->have_talos = true;
	}
	kopt.context = p->kube_context[0] ? p->kube_context : NULL;
	kopt.defer_exec = true;
	if (hsmca_kubeconfig_load(file, &kopt, &kc, err) != 0)
		goto out;
	if (!kc->ca_pem) {
		hsmca_error_set(err, "%s: no certificate-authority-data", file);
		goto out;
	}
	if (kube_part(c, (const char *)kc->ca_pem, kc->ca_len, (const char *)kc->cert_pem,
		      kc->cert_len, (const char *)kc->key_pem, kc->key_len, err) != 0) {
		hsmca_error_prefix(err, "%s", file);
		goto out;
	}
	ret = 0;
out:
	hsmca_kubeconfig_free(kc);
	if (ret == 0)
		*out = c;
	else
		kube_creds_free(c);
	return ret;
}

static int kube_creds_from_pem(const char *ca_pem, const char *crt_pem, const char *key_pem,
			       void **out, hsmca_error *err)
{
	struct kube_creds *c = calloc(1, sizeof(*c));

	if (!c)
		return hsmca_error_set(err, "out of memory");
	if (kube_part(c, ca_pem, strlen(ca_pem), crt_pem, strlen(crt_pem), key_pem,
		      strlen(key_pem), err) != 0) {
		kube_creds_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

static const char *kube_creds_cert(const void *p)
{
	return ((const struct kube_creds *)p)->crt_pem;
}

static const char *kube_creds_ca(const void *p)
{
	return ((const struct kube_creds *)p)->ca_pem;
}

static int kube_creds_write(const struct hsmca_rot_plan *p, const char *path, const char *crt_pem,
			    const char *key_pem, hsmca_error *err)
{
	hsmca_kubeconfig_spec sp = {
		.name = p->kube_context,
		.user = p->kube_context,
		.server = p->k8s_endpoint,
		.tls_server_name = p->kube_tls_name[0] ? p->kube_tls_name : NULL,
		.ca_pem = p->node_ca_pem,
		.crt_pem = crt_pem,
		.key_pem = key_pem,
	};

	return hsmca_kubeconfig_write(path, &sp, err);
}

/* The review's answer: who the server took us for. */
static int check_review(json_object *rev, const char *cn, char *info, size_t infolen,
			hsmca_error *err)
{
	const char *user = hsmca_kube_str(rev, "status.userInfo.username");

	if (!user)
		return hsmca_error_set(err, "SelfSubjectReview answer without status.userInfo."
					    "username");
	if (strcmp(user, "system:anonymous") == 0) {
		hsmca_error_set(err, "the API server took the request as system:anonymous: the client "
				     "certificate was not accepted");
		err->code = KUBE_E_ANONYMOUS;
		return -1;
	}
	if (strcmp(user, cn) != 0)
		return hsmca_error_set(err, "the API server took the client certificate CN=%s for "
					    "user \"%s\"", cn, user);
	if (info && infolen)
		snprintf(info, infolen, "SelfSubjectReview: user %s", user);
	return 0;
}

static int kube_probe_url(const char *url, const char *tls_name, const struct kube_creds *c,
			  char *info, size_t infolen, hsmca_error *err)
{
	hsmca_kubeconfig_spec sp = { .name = "probe", .user = "probe", .server = url,
				     .tls_server_name = tls_name && *tls_name ? tls_name : NULL,
				     .ca_pem = c->ca_pem, .crt_pem = c->crt_pem,
				     .key_pem = c->key_pem };
	hsmca_kube_options opt = { .timeout_ms = 15000, .connect_timeout_ms = 5000,
				   .max_throttle_retries = 3, .max_retry_after_s = 5 };
	hsmca_kube_ref ref = { "authentication.k8s.io/v1", "selfsubjectreviews", NULL, NULL };
	hsmca_kubeconfig *kc = NULL;
	hsmca_kube *k = NULL;
	json_object *req = NULL, *rev = NULL;
	char *text = NULL;
	size_t len = 0;
	int ret = -1;

	if (!c->crt_pem)
		return hsmca_error_set(err, "the kubeconfig has no client certificate to probe with");
	if (hsmca_kubeconfig_render(&sp, &text, &len, err) != 0 ||
	    hsmca_kubeconfig_parse(text, len, "probe kubeconfig", NULL, NULL, &kc, err) != 0 ||
	    hsmca_kube_open(kc, &opt, &k, err) != 0)
		goto out;
	req = json_object_new_object();
	json_object_object_add(req, "apiVersion", json_object_new_string("authentication.k8s.io/v1"));
	json_object_object_add(req, "kind", json_object_new_string("SelfSubjectReview"));
	if (hsmca_kube_create(k, &ref, req, &rev, err) != 0) {
		if (HSMCA_KUBE_IS_HTTP(err, 403) && strstr(err->msg, "\"system:anonymous\"")) {
			hsmca_error_set(err, "the API server took the request as system:anonymous "
					     "(HTTP 403): the client certificate was not accepted");
			err->code = KUBE_E_ANONYMOUS;
		} else if (HSMCA_KUBE_IS_HTTP(err, 404)) {
			hsmca_error_set(err, "the API server has no SelfSubjectReview API "
					     "(authentication.k8s.io/v1, Kubernetes 1.28 or later)");
		}
		goto out;
	}
	ret = check_review(rev, c->cn, info, infolen, err);
out:
	json_object_put(req);
	json_object_put(rev);
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
	if (text)
		hsmca_wipe(text, len);
	free(text);
	if (ret != 0)
		hsmca_error_prefix(err, "Kubernetes API %s", url);
	return ret;
}

static int kube_probe(const struct hsmca_rot_node *n, const void *creds, char *info,
		      size_t infolen, hsmca_error *err)
{
	return kube_probe_url(n->api, n->api_tls_name, creds, info, infolen, err);
}

static bool kube_is_refusal(const hsmca_error *err)
{
	return HSMCA_KUBE_IS_HTTP(err, 401) || err->code == KUBE_E_ANONYMOUS;
}

static int need_talos(const struct kube_creds *c, hsmca_error *err)
{
	return c->have_talos ? 0 : hsmca_error_set(err, "no talosconfig to reach the nodes");
}

static int kube_set_trust(const struct hsmca_rot_node *n, const void *creds, const char *ca_pem,
			  bool add, bool *changed, hsmca_error *err)
{
	const struct kube_creds *c = creds;

	if (need_talos(c, err) != 0)
		return -1;
	return hsmca_rot_talos_set_trust(n, &c->talos, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca_pem, add,
					 changed, err);
}

/* The node's accepted CAs through Talos, then its API server with the
 * current credentials (when they hold a client certificate). */
static int kube_inspect(const struct hsmca_rot_node *n, const void *creds, const char *old_pem,
			const char *new_pem, struct hsmca_rot_node_view *v, hsmca_error *err)
{
	const struct kube_creds *c = creds;
	char info[128];

	if (need_talos(c, err) != 0 ||
	    hsmca_rot_talos_inspect(n, &c->talos, HSMCA_MCONFIG_CLUSTER_ACCEPTED, old_pem, new_pem,
				    v, err) != 0)
		return -1;
	if (c->crt_pem && kube_probe_url(n->api, n->api_tls_name, c, info, sizeof(info), err) != 0)
		return -1;
	return 0;
}

static int kube_file_trust(const char *path, const char *ca_pem, bool add, bool *changed,
			   hsmca_error *err)
{
	return (add ? hsmca_talm_node_accepted_add : hsmca_talm_node_accepted_remove)(
		path, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca_pem, changed, err);
}

const struct hsmca_rot_target hsmca_rot_target_kube = {
	.name = "kubernetes",
	.title = "Kubernetes API",
	.client_profile = "kube-admin",
	.client_cn = "hsmca-admin",
	.probe_profile = "kube-user",
	.cred_kind = "kubeconfig",
	.settle_seconds = 180,
	.creds_load = kube_creds_load,
	.creds_from_pem = kube_creds_from_pem,
	.creds_free = kube_creds_free,
	.creds_cert = kube_creds_cert,
	.creds_ca = kube_creds_ca,
	.creds_write = kube_creds_write,
	.probe = kube_probe,
	.is_refusal = kube_is_refusal,
	.set_trust = kube_set_trust,
	.inspect = kube_inspect,
	.file_trust = kube_file_trust,
};
