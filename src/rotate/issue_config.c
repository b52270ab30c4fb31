/* `hsmca talos issue-config` and `hsmca kube issue-config`: credentials from
 * the current access CA. */
#include "rotate/rot_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "common/outcheck.h"
#include "common/util.h"
#include "kube/kubeconfig.h"
#include "talos/talm.h"
#include "talos/talos.h"
#include "x509/x509.h"

static const struct {
	const char *role, *profile, *cn;
} roles[] = {
	{ "os:admin", "talos-admin", "hsmca-admin" },
	{ "os:operator", "talos-operator", "hsmca-operator" },
	{ "os:reader", "talos-reader", "hsmca-reader" },
	{ "os:etcd:backup", "talos-etcd-backup", "hsmca-etcd-backup" },
};

static void describe(const char *pem, struct hsmca_rot_issued *info)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	const ASN1_INTEGER *sn;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	struct tm tm;
	int len;

	if (x) {
		X509_NAME_oneline(X509_get_subject_name(x), info->subject, sizeof(info->subject));
		sn = X509_get0_serialNumber(x);
		if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) && (hex = BN_bn2hex(bn)))
			snprintf(info->serial, sizeof(info->serial), "%s", hex);
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
			hsmca_format_time(timegm(&tm), info->not_after);
		if ((len = i2d_X509(x, &der)) > 0)
			hsmca_fingerprint(der, (size_t)len, info->fingerprint);
	}
	OPENSSL_free(hex);
	OPENSSL_free(der);
	BN_free(bn);
	X509_free(x);
	BIO_free(b);
}

/* The target's current access CA, which signs credentials outside a
 * rotation; `flags` completes the rotate-ca hint when there is none. */
static int issuing_ca(struct hsmca_session *s, const struct hsmca_rot_target *t,
		      const char *flags, char ca[64], hsmca_error *err)
{
	if (hsmca_rot_journal_exists(s->home))
		return hsmca_error_set(err, "a rotation is in progress (see 'hsmca rotate status'): "
					    "finish or abort it before issuing credentials");
	if (hsmca_rot_current_ca(s->home, t->name, ca, err) != 0)
		return -1;
	if (!ca[0])
		return hsmca_error_set(err, "no %s access CA yet: adopt one with 'hsmca rotate-ca%s' "
					    "(see docs/rotation.md)", t->title, flags);
	return 0;
}

int hsmca_rot_issue_config(struct hsmca_session *s, const char *role, const char *from_talosconfig,
			   const char *context, const char *out, struct hsmca_rot_issued *info,
			   hsmca_error *err)
{
	const struct hsmca_rot_target *t = &hsmca_rot_target_talos;
	struct hsmca_rot_plan p;
	struct hsmca_talos_creds creds = { 0 };
	char ca[64], *crt = NULL, *key = NULL;
	size_t i;
	int ret = -1;

	memset(&p, 0, sizeof(p));
	memset(info, 0, sizeof(*info));
	for (i = 0; i < HSMCA_ARRAY_LEN(roles); i++)
		if (strcmp(role, roles[i].role) == 0)
			break;
	if (i == HSMCA_ARRAY_LEN(roles))
		return hsmca_error_set(err, "unknown Talos role \"%s\" (os:admin, os:operator, "
					    "os:reader, os:etcd:backup)", role);
	if (issuing_ca(s, t, "", ca, err) != 0)
		return -1;
	if (from_talosconfig) {
		char **eps = NULL, **nds = NULL;

		if (context)
			snprintf(p.context, sizeof(p.context), "%s", context);
		else if (hsmca_rot_talosconfig_context(from_talosconfig, p.context, sizeof(p.context),
							 err) != 0)
			goto out;
		if (hsmca_talos_creds_from_talosconfig(from_talosconfig, p.context, &creds, &eps, &nds,
						       err) != 0)
			goto out;
		p.endpoints = eps;
		p.tc_nodes = nds;
		p.node_ca_pem = strdup(creds.ca_pem);
		snprintf(p.target, sizeof(p.target), "%s", t->name);
		if (!p.node_ca_pem) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
	} else {
		if (hsmca_rot_cluster_load(s->home, t->name, &p, err) != 0)
			goto out;
		if (context)
			snprintf(p.context, sizeof(p.context), "%s", context);
	}
	/* Everything the write will check, before the credential is signed and
	 * recorded: a signed credential that cannot be written is a wasted
	 * certificate in the records. */
	if (hsmca_outcheck_file(out, true, err) != 0 ||
	    hsmca_talm_talosconfig_precheck(out, p.context, (const char *const *)p.endpoints,
					    (const char *const *)p.tc_nodes, err) != 0)
		goto out;
	if (hsmca_rot_issue_client(s, ca, roles[i].profile, roles[i].cn, 0, &crt, &key, err) != 0 ||
	    t->creds_write(&p, out, crt, key, err) != 0)
		goto out;
	snprintf(info->ca, sizeof(info->ca), "%s", ca);
	snprintf(info->profile, sizeof(info->profile), "%s", roles[i].profile);
	snprintf(info->context, sizeof(info->context), "%s", p.context);
	describe(crt, info);
	ret = 0;
out:
	free(crt);
	hsmca_rot_secret_free(key);
	hsmca_talos_creds_clear(&creds);
	hsmca_rot_plan_free(&p);
	return ret;
}

/* "CN=<user>,O=<g>…" with ',' and '\' escaped for the --subject parser. */
static int kube_subject(const struct hsmca_rot_kube_request *rq, char *out, size_t outlen,
			hsmca_error *err)
{
	size_t len = 0, i;
	const char *v, *p;

	for (i = 0; i == 0 || (rq->groups && rq->groups[i - 1]); i++) {
		v = i == 0 ? rq->user : rq->groups[i - 1];
		if (!*v)
			return hsmca_error_set(err, "%s must not be empty", i ? "a group" : "the user");
		if (len + 4 >= outlen)
			return hsmca_error_set(err, "user and groups too long");
		memcpy(out + len, i ? ",O=" : "CN=", 3);
		len += 3;
		for (p = v; *p; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return hsmca_error_set(err, "\"%s\": control characters are not allowed",
						       v);
			if (len + 3 >= outlen)
				return hsmca_error_set(err, "user and groups too long");
			if (*p == ',' || *p == '\\')
				out[len++] = '\\';
			out[len++] = *p;
		}
	}
	out[len] = '\0';
	return 0;
}

int hsmca_rot_issue_kubeconfig(struct hsmca_session *s, const struct hsmca_rot_kube_request *rq,
			       const char *out, struct hsmca_rot_issued *info, hsmca_error *err)
{
	const struct hsmca_rot_target *t = &hsmca_rot_target_kube;
	const char *profile = rq->admin ? "kube-admin" : "kube-user";
	hsmca_kubeconfig_options kopt = { 0 };
	hsmca_kubeconfig *kc = NULL;
	struct hsmca_rot_plan p;
	hsmca_kubeconfig_spec sp = { 0 };
	char ca[64], subject[1024], name[256], *crt = NULL, *key = NULL, *ca_pem = NULL;
	char *text = NULL;
	size_t text_len = 0;
	const char *server, *cluster;
	int ret = -1;

	memset(&p, 0, sizeof(p));
	memset(info, 0, sizeof(*info));
	if (!rq->user || !*rq->user)
		return hsmca_error_set(err, "a user name is required");
	if (issuing_ca(s, t, " --talos=false --kubernetes=true", ca, err) != 0)
		return -1;
	if (kube_subject(rq, subject, sizeof(subject), err) != 0)
		return -1;
	if (rq->from_kubeconfig) {
		kopt.defer_exec = true;
		if (hsmca_kubeconfig_load(rq->from_kubeconfig, &kopt, &kc, err) != 0)
			goto out;
		if (!kc->ca_pem) {
			hsmca_error_set(err, "%s: no certificate-authority-data to take the API "
					     "server's CA from", rq->from_kubeconfig);
			goto out;
		}
		ca_pem = strndup((const char *)kc->ca_pem, kc->ca_len);
		server = kc->server;
		cluster = kc->cluster_name;
	} else {
		if (hsmca_rot_cluster_load(s->home, t->name, &p, err) != 0)
			goto out;
		ca_pem = strdup(p.node_ca_pem);
		server = p.endpoints && p.endpoints[0] ? p.endpoints[0] : NULL;
		cluster = p.context;
	}
	if (!ca_pem) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (rq->server)
		server = rq->server;
	if (!server) {
		hsmca_error_set(err, "no API server URL: give --server URL");
		goto out;
	}
	/* "admin@prod" names a context by the user@cluster habit: keep "prod". */
	if (strrchr(cluster, '@'))
		cluster = strrchr(cluster, '@') + 1;
	snprintf(name, sizeof(name), "%s@%s", rq->user, cluster);
	sp.name = rq->context ? rq->context : name;
	sp.user = sp.name;
	sp.server = server;
	sp.ca_pem = ca_pem;
	/* Everything the write will check, before the credential is signed and
	 * recorded: the file, the contexts it holds, and the names and server
	 * (a rendering with placeholders for the certificate and key). */
	sp.crt_pem = sp.key_pem = "-";
	if (hsmca_outcheck_file(out, true, err) != 0 ||
	    hsmca_kubeconfig_replace_ok(out, sp.name, err) != 0 ||
	    hsmca_kubeconfig_render(&sp, &text, &text_len, err) != 0)
		goto out;
	if (hsmca_rot_issue_client_as(s, ca, profile, rq->user, rq->admin ? NULL : subject,
				      rq->validity, &crt, &key, err) != 0)
		goto out;
	sp.crt_pem = crt;
	sp.key_pem = key;
	if (hsmca_kubeconfig_write(out, &sp, err) != 0)
		goto out;
	snprintf(info->ca, sizeof(info->ca), "%s", ca);
	snprintf(info->profile, sizeof(info->profile), "%s", profile);
	snprintf(info->context, sizeof(info->context), "%s", sp.name);
	describe(crt, info);
	ret = 0;
out:
	free(text);
	free(crt);
	hsmca_rot_secret_free(key);
	free(ca_pem);
	hsmca_kubeconfig_free(kc);
	hsmca_rot_plan_free(&p);
	return ret;
}
