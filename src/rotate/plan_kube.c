/* The parts of a rotation plan that only the kubernetes target has: the
 * kubeconfig it starts from, the API server of every control-plane node and
 * the server of the new kubeconfig (rotate.h). */
#include "rotate/rot_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "common/fsutil.h"
#include "kube/kubeconfig.h"

const char *hsmca_rot_plan_input(const struct hsmca_rot_plan *p)
{
	return strcmp(p->target, "kubernetes") == 0 ? p->kubeconfig : p->talosconfig;
}

static int find_kubeconfig(const struct hsmca_rot_options *o, const struct hsmca_rot_plan *p,
			   char *out, size_t outlen, hsmca_error *err)
{
	char path[PATH_MAX];
	const char *env;

	if (o->kubeconfig) {
		snprintf(path, sizeof(path), "%s", o->kubeconfig);
	} else if (p->project[0] &&
		   hsmca_path_join(path, sizeof(path), err, "%s/kubeconfig", p->project) == 0 &&
		   access(path, F_OK) == 0) {
		/* the talm project's kubeconfig */
	} else if ((env = getenv("KUBECONFIG")) && *env) {
		if (strchr(env, ':'))
			return hsmca_error_set(err, "KUBECONFIG lists several files; give --kubeconfig "
						    "FILE (hsmca reads one)");
		snprintf(path, sizeof(path), "%s", env);
	} else {
		return hsmca_error_set(err, "no kubeconfig: give --kubeconfig FILE, -f a node file of "
					    "a talm project that has one, or set KUBECONFIG");
	}
	if (!realpath(path, out) || strlen(out) >= outlen)
		return hsmca_error_errno(err, "kubeconfig %s", path);
	return 0;
}

/* "https://<host>:6443" for a Talos node address "host", "host:port",
 * "[v6]" or "[v6]:port". */
static int default_api(const char *addr, char *out, size_t outlen, hsmca_error *err)
{
	char host[256];
	const char *end;
	size_t n;

	if (addr[0] == '[') {
		end = strchr(addr, ']');
		if (!end)
			return hsmca_error_set(err, "node address %s: unclosed '['", addr);
		n = (size_t)(end - addr) + 1;
	} else {
		end = strchr(addr, ':');
		n = end && !strchr(end + 1, ':') ? (size_t)(end - addr) : strlen(addr);
		if (end && strchr(end + 1, ':')) { /* bare IPv6 */
			if (snprintf(out, outlen, "https://[%s]:6443", addr) >= (int)outlen)
				return hsmca_error_set(err, "node address %s too long", addr);
			return 0;
		}
	}
	if (n == 0 || n >= sizeof(host))
		return hsmca_error_set(err, "node address \"%s\" has no host", addr);
	memcpy(host, addr, n);
	host[n] = '\0';
	if (snprintf(out, outlen, "https://%s:6443", host) >= (int)outlen)
		return hsmca_error_set(err, "node address %s too long", addr);
	return 0;
}

static int check_url(const char *u, const char *what, hsmca_error *err)
{
	const char *p;

	if (strncmp(u, "https://", 8) != 0 || !u[8])
		return hsmca_error_set(err, "%s \"%s\" must be an https:// URL", what, u);
	for (p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\')
			return hsmca_error_set(err, "%s \"%s\" holds a character that does not "
						    "belong in a URL", what, u);
	return 0;
}

/* Keep the control planes (the only nodes that run kube-apiserver) and give
 * each its API server URL. */
static int kube_nodes(const struct hsmca_rot_options *o, struct hsmca_rot_plan *p,
		      hsmca_error *err)
{
	size_t i, k = 0, n_api = 0;

	for (i = 0; o->k8s_apis && o->k8s_apis[i]; i++)
		n_api++;
	for (i = 0; i < p->n_nodes; i++)
		if (p->nodes[i].role == HSMCA_ROT_CONTROLPLANE)
			p->nodes[k++] = p->nodes[i];
	p->n_nodes = k;
	if (k == 0)
		return hsmca_error_set(err, "no control-plane node in the plan: the Kubernetes API "
					    "accepted CAs live on control-plane nodes (give "
					    "--control-plane-nodes or -f a node file of a talm project)");
	if (o->k8s_apis && n_api != k)
		return hsmca_error_set(err, "--k8s-node-endpoints lists %zu URL(s) for %zu "
					    "control-plane node(s); give one per control plane, in "
					    "the plan's order", n_api, k);
	for (i = 0; i < k; i++) {
		struct hsmca_rot_node *n = &p->nodes[i];

		if (o->k8s_apis) {
			if (check_url(o->k8s_apis[i], "--k8s-node-endpoints", err) != 0)
				return -1;
			if (snprintf(n->api, sizeof(n->api), "%s", o->k8s_apis[i]) >=
			    (int)sizeof(n->api))
				return hsmca_error_set(err, "URL too long: %s", o->k8s_apis[i]);
		} else if (default_api(n->addr, n->api, sizeof(n->api), err) != 0) {
			return -1;
		}
	}
	return 0;
}

static void describe(const char *home, const hsmca_kubeconfig *kc, const char *old_ca,
		     char *out, size_t outlen)
{
	BIO *b = kc->ca_pem ? BIO_new_mem_buf(kc->ca_pem, (int)kc->ca_len) : NULL;
	X509 *ca = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	if (!kc->cert_pem)
		snprintf(out, outlen, "%s", kc->token ? "bearer token (no client certificate)"
				      : "no client certificate");
	else if (ca && hsmca_rot_cert_issued_by((const char *)kc->cert_pem, ca))
		snprintf(out, outlen, "cluster CA");
	else
		hsmca_rot_describe_issuer(home, (const char *)kc->cert_pem, NULL, old_ca, out,
					  outlen);
	X509_free(ca);
	BIO_free(b);
}

int hsmca_rot_plan_kube(const struct hsmca_rot_options *o, struct hsmca_rot_plan *p,
			hsmca_error *err)
{
	hsmca_kubeconfig_options kopt = { 0 };
	hsmca_kubeconfig *kc = NULL;
	size_t i;
	int ret = -1;

	if (find_kubeconfig(o, p, p->kubeconfig, sizeof(p->kubeconfig), err) != 0)
		return -1;
	kopt.context = o->kube_context;
	kopt.defer_exec = true; /* only the server and its CA are needed here */
	if (hsmca_kubeconfig_load(p->kubeconfig, &kopt, &kc, err) != 0)
		return -1;
	if (!kc->ca_pem) {
		hsmca_error_set(err, "%s: context %s has no certificate-authority(-data): hsmca needs "
				     "the API server's CA to write into the new kubeconfig",
				p->kubeconfig, kc->context);
		goto out;
	}
	snprintf(p->kube_context, sizeof(p->kube_context), "%s", kc->context);
	if (o->k8s_endpoint && check_url(o->k8s_endpoint, "--k8s-endpoint", err) != 0)
		goto out;
	if (snprintf(p->k8s_endpoint, sizeof(p->k8s_endpoint), "%s",
		     o->k8s_endpoint ? o->k8s_endpoint : kc->server) >= (int)sizeof(p->k8s_endpoint)) {
		hsmca_error_set(err, "Kubernetes endpoint URL too long");
		goto out;
	}
	if (kc->tls_server_name &&
	    snprintf(p->kube_tls_name, sizeof(p->kube_tls_name), "%s", kc->tls_server_name) >=
		    (int)sizeof(p->kube_tls_name)) {
		hsmca_error_set(err, "%s: tls-server-name too long", p->kubeconfig);
		goto out;
	}
	if (kube_nodes(o, p, err) != 0)
		goto out;
	/* The serving certificate is checked for the same name on every node
	 * (each API server presents the cluster's one certificate). */
	for (i = 0; i < p->n_nodes; i++)
		snprintf(p->nodes[i].api_tls_name, sizeof(p->nodes[i].api_tls_name), "%s",
			 p->kube_tls_name);
	free(p->node_ca_pem);
	p->node_ca_pem = strndup((const char *)kc->ca_pem, kc->ca_len);
	p->endpoints = calloc(2, sizeof(char *));
	p->tc_nodes = calloc(1, sizeof(char *));
	if (!p->node_ca_pem || !p->endpoints || !p->tc_nodes ||
	    !(p->endpoints[0] = strdup(p->k8s_endpoint))) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	describe(o->home, kc, p->old_ca, p->current_issuer, sizeof(p->current_issuer));
	ret = 0;
out:
	hsmca_kubeconfig_free(kc);
	return ret;
}
