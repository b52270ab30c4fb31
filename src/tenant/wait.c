/* The wait step: watch until Kamaji has finished, by a deadline.
 *
 * Four watches in turn, each given the time left: the tenant namespace's
 * Secrets, the TenantControlPlane, the tenant namespace's pods, the Kamaji
 * namespace's controller pods.  Each condition is evaluated over the whole
 * current set the client keeps (so it survives re-lists after 410) and is
 * stable once reached, so checking them one after the other is sound. */
#include "tenant/tenant_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/util.h"

/* ---- certificates of the old CA inside Secret data ---------------------- */

static bool cert_of(X509 *c, X509 *ca)
{
	if (X509_cmp(c, ca) == 0)
		return true;
	return X509_check_issued(ca, c) == X509_V_OK && X509_verify(c, X509_get0_pubkey(ca)) == 1;
}

/* Every "-----BEGIN CERTIFICATE-----" block of a NUL-terminated buffer.
 * Only certificate blocks are handed to OpenSSL, never key blocks. */
static bool pem_has_cert_of(const char *buf, X509 *ca)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	const char *p = buf;

	while ((p = strstr(p, begin)) != NULL) {
		const char *e = strstr(p, end);
		BIO *b;
		X509 *c;
		bool hit;

		if (!e)
			return false;
		e += sizeof(end) - 1;
		b = BIO_new_mem_buf(p, (int)(e - p));
		c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		hit = c && cert_of(c, ca);
		X509_free(c);
		BIO_free(b);
		if (hit)
			return true;
		p = e;
	}
	return false;
}

/* Certificates inside a kubeconfig are base64 of PEM, in the values of
 * certificate-authority-data and client-certificate-data. */
static bool kubeconfig_has_cert_of(const char *buf, X509 *ca)
{
	static const char *const fields[] = { "certificate-authority-data:",
					      "client-certificate-data:" };

	for (size_t f = 0; f < HSMCA_ARRAY_LEN(fields); f++) {
		const char *p = buf;

		while ((p = strstr(p, fields[f])) != NULL) {
			const char *v = p + strlen(fields[f]), *e;
			unsigned char *dec;
			size_t n;
			int d;
			bool hit = false;

			while (*v == ' ' || *v == '"' || *v == '\'')
				v++;
			for (e = v; *e && *e != '\n' && *e != '"' && *e != '\'' && *e != ' ' &&
				    *e != '\r';
			     e++)
				;
			p = e;
			n = (size_t)(e - v);
			if (n == 0 || n % 4 != 0 || n > (1u << 20))
				continue;
			dec = malloc(n + 1);
			if (!dec)
				return false;
			d = EVP_DecodeBlock(dec, (const unsigned char *)v, (int)n);
			if (d > 0) {
				dec[d] = '\0';
				hit = pem_has_cert_of((const char *)dec, ca);
			}
			hsmca_wipe(dec, n + 1);
			free(dec);
			if (hit)
				return true;
		}
	}
	return false;
}

bool tenant_secret_has_cert_of(json_object *secret, X509 *ca, char *key, size_t keylen)
{
	json_object *data;

	if (!json_object_object_get_ex(secret, "data", &data) ||
	    !json_object_is_type(data, json_type_object))
		return false;
	json_object_object_foreach(data, k, v)
	{
		uint8_t *buf = NULL;
		size_t len = 0;
		hsmca_error e;
		bool hit;

		(void)v;
		if (hsmca_kube_secret_data(secret, k, &buf, &len, &e) != 0)
			continue;
		/* buf is NUL-terminated one past len; values are text here. */
		hit = pem_has_cert_of((const char *)buf, ca) ||
		      kubeconfig_has_cert_of((const char *)buf, ca);
		hsmca_wipe(buf, len);
		free(buf);
		if (hit) {
			snprintf(key, keylen, "%s", k);
			return true;
		}
	}
	return false;
}

/* ---- conditions ---------------------------------------------------------- */

struct waitc {
	struct tctx *t;
	char why[512];
	char last[512];
};

static void why(struct waitc *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(struct waitc *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
	if (strcmp(w->why, w->last) != 0) {
		snprintf(w->last, sizeof(w->last), "%s", w->why);
		tenant_progress(w->t, "wait", "waiting: %s", w->why);
	}
}

static json_object *current_get(json_object *current, const char *ns, const char *name)
{
	char key[600];
	json_object *o;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	return json_object_object_get_ex(current, key, &o) ? o : NULL;
}

/* Tenant-CA-signed Secrets (Kamaji: every one re-signed when its
 * certificate no longer verifies against <name>-ca). */
static const char *const ca_signed[] = {
	"api-server-certificate", "api-server-kubelet-client-certificate",
	"konnectivity-certificate", "admin-kubeconfig", "controller-manager-kubeconfig",
	"scheduler-kubeconfig", "konnectivity-kubeconfig",
};

static bool recorded(struct tctx *t, const char *name, const char **uid)
{
	json_object *old_secrets, *u;

	*uid = NULL;
	if (!json_object_object_get_ex(t->old, "secrets", &old_secrets) ||
	    !json_object_object_get_ex(old_secrets, name, &u) || !u)
		return false;
	*uid = json_object_get_string(u);
	return true;
}

/* Method annotate: Kamaji replaced "" by the RFC 3339 time of the
 * rotation; it must not be before this run's annotation began (to the
 * second: Kamaji writes whole seconds). */
static bool rotated_since(struct waitc *w, json_object *sec, const char *name)
{
	const char *v = tenant_rotate_annotation(sec);
	time_t ts;

	if (!v || !*v) {
		why(w, "secret %s: %s is %s", name, HSMCA_TENANT_ROTATE_ANNOTATION,
		    v ? "\"\" (Kamaji has not rotated it yet)" : "gone");
		return false;
	}
	if (tenant_parse_rfc3339(v, &ts) != 0) {
		why(w, "secret %s: %s=%s is not an RFC 3339 time", name, HSMCA_TENANT_ROTATE_ANNOTATION,
		    v);
		return false;
	}
	if (ts < w->t->annotate_start) {
		why(w, "secret %s: %s=%s is before this run's annotation (an earlier rotation; "
		    "or the management cluster's clock is behind)", name,
		    HSMCA_TENANT_ROTATE_ANNOTATION, v);
		return false;
	}
	return true;
}

static int secrets_done(void *arg, const char *type, json_object *object, json_object *current,
			hsmca_error *err)
{
	struct waitc *w = arg;
	struct tctx *t = w->t;
	const char *old_fp = hsmca_kube_str(t->old, "old_ca_sha256");
	const char *old_fpfp = hsmca_kube_str(t->old, "old_fp_ca_sha256");
	char name[TENANT_NAME_MAX], fp[65], fpfp[65] = "", key[128];
	json_object *sec;
	X509 *new_ca = NULL, *new_fp_ca = NULL;
	hsmca_error e;
	int ret = 0;

	(void)type;
	(void)object;
	(void)err;
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		const char *uid, *cur;

		tenant_secret_name(t->name, hsmca_tenant_secret_suffixes[i], name);
		if (!recorded(t, name, &uid))
			continue; /* absent before the run: not awaited */
		sec = current_get(current, t->ns, name);
		if (!sec) {
			why(w, "secret %s not yet recreated", name);
			return 0;
		}
		cur = hsmca_kube_str(sec, "metadata.uid");
		if (t->method == HSMCA_TENANT_METHOD_DELETE && tenant_rotates(t, i) && cur &&
		    strcmp(uid, cur) == 0) {
			why(w, "secret %s is still the old one (same uid)", name);
			return 0;
		}
		if (t->method == HSMCA_TENANT_METHOD_ANNOTATE && tenant_rotates(t, i) &&
		    (i == 0 || i == HSMCA_TENANT_FP_CA) && !rotated_since(w, sec, name))
			return 0;
	}
	tenant_secret_name(t->name, "ca", name);
	sec = current_get(current, t->ns, name);
	if (tenant_ca_of_secret(sec, fp, &new_ca, &e) != 0) {
		why(w, "secret %s: %s", name, e.msg);
		return 0;
	}
	if (old_fp && strcmp(fp, old_fp) == 0) {
		why(w, "secret %s still holds the old CA", name);
		goto out;
	}
	tenant_secret_name(t->name, "front-proxy-ca-certificate", name);
	sec = current_get(current, t->ns, name);
	if (t->old_fp_ca) {
		if (!sec || tenant_cert_of_secret(sec, TENANT_FP_CA_KEY, fpfp, &new_fp_ca, &e) != 0) {
			why(w, "secret %s: %s", name, sec ? e.msg : "missing");
			goto out;
		}
		if (tenant_rotates(t, HSMCA_TENANT_FP_CA) && old_fpfp && strcmp(fpfp, old_fpfp) == 0) {
			why(w, "secret %s still holds the old front-proxy CA", name);
			goto out;
		}
		/* front-proxy-client must be re-signed by the (new) front-proxy CA. */
		tenant_secret_name(t->name, "front-proxy-client-certificate", name);
		sec = current_get(current, t->ns, name);
		if (sec && !tenant_secret_has_cert_of(sec, new_fp_ca, key, sizeof(key))) {
			why(w, "secret %s is not yet signed by the new front-proxy CA", name);
			goto out;
		}
	}
	for (size_t i = 0; i < HSMCA_ARRAY_LEN(ca_signed); i++) {
		const char *uid;

		tenant_secret_name(t->name, ca_signed[i], name);
		sec = current_get(current, t->ns, name);
		if (recorded(t, name, &uid) && sec &&
		    !tenant_secret_has_cert_of(sec, new_ca, key, sizeof(key))) {
			why(w, "secret %s holds no certificate of the new CA yet", name);
			goto out;
		}
	}
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		tenant_secret_name(t->name, hsmca_tenant_secret_suffixes[i], name);
		sec = current_get(current, t->ns, name);
		if (!sec)
			continue;
		if (tenant_secret_has_cert_of(sec, t->old_ca, key, sizeof(key))) {
			why(w, "secret %s (%s) still holds a certificate of the old CA", name, key);
			goto out;
		}
		if (tenant_rotates(t, HSMCA_TENANT_FP_CA) && t->old_fp_ca &&
		    tenant_secret_has_cert_of(sec, t->old_fp_ca, key, sizeof(key))) {
			why(w, "secret %s (%s) still holds a certificate of the old front-proxy CA",
			    name, key);
			goto out;
		}
	}
	snprintf(t->res->new_ca_sha256, sizeof(t->res->new_ca_sha256), "%s", fp);
	snprintf(t->res->new_fp_ca_sha256, sizeof(t->res->new_fp_ca_sha256), "%s", fpfp);
	ret = 1;
out:
	X509_free(new_ca);
	X509_free(new_fp_ca);
	return ret;
}

/* Kamaji's .status.kubernetesResources.version.status: Ready ends the wait;
 * WriteLimited (running, spec.writePermissions limits the tenant; Kamaji
 * reports it before checking a rollout) ends it too, the proof step then
 * shows the new CA served; Sleeping (0 replicas) ends it with an error --
 * nothing will serve the new CA until the control plane is scaled up;
 * anything else (CertificateAuthorityRotating, NotReady, Upgrading,
 * Provisioning, Unknown) is waited through. */
static int tcp_done(void *arg, const char *type, json_object *object, json_object *current,
		    hsmca_error *err)
{
	struct waitc *w = arg;
	json_object *tcp = current_get(current, w->t->ns, w->t->name);
	const char *st;

	(void)type;
	(void)object;
	if (!tcp) {
		why(w, "TenantControlPlane %s/%s is gone", w->t->ns, w->t->name);
		return 0;
	}
	st = hsmca_kube_str(tcp, "status.kubernetesResources.version.status");
	if (st && strcmp(st, "Ready") == 0)
		return 1;
	if (st && strcmp(st, "WriteLimited") == 0) {
		tenant_progress(w->t, "wait", "TenantControlPlane %s/%s is WriteLimited: running with "
				"write limits; its status shows no rollout then, the proof step checks "
				"the new CA is served", w->t->ns, w->t->name);
		return 1;
	}
	if (st && strcmp(st, "Sleeping") == 0) {
		hsmca_error_set(err, "TenantControlPlane %s/%s is Sleeping (0 control-plane replicas): "
				"no tenant API server runs to serve the new CA; scale it up and "
				"resume", w->t->ns, w->t->name);
		return -1;
	}
	why(w, "TenantControlPlane %s/%s is %s", w->t->ns, w->t->name, st ? st : "without status");
	return 0;
}

struct podsc {
	struct waitc w;
	const struct tenant_pod_group *g[3];
	json_object *old[3];
	int n;
};

static int pods_done(void *arg, const char *type, json_object *object, json_object *current,
		     hsmca_error *err)
{
	struct podsc *pc = arg;

	(void)type;
	(void)object;
	(void)err;
	for (int i = 0; i < pc->n; i++) {
		const struct tenant_pod_group *g = pc->g[i];
		int old_n = json_object_object_length(pc->old[i]), live = 0;

		if (old_n == 0)
			continue;
		json_object_object_foreach(current, key, pod)
		{
			const char *uid = hsmca_kube_str(pod, "metadata.uid");
			json_object *md, *u;

			if (!tenant_labels_match(pod, g->selector) || !tenant_pod_in_group(g, pod))
				continue;
			if (json_object_object_get_ex(pc->old[i], key, &u) && uid &&
			    strcmp(json_object_get_string(u), uid) == 0) {
				why(&pc->w, "%s pod %s has not been replaced yet", g->what, key);
				return 0;
			}
			if (json_object_object_get_ex(pod, "metadata", &md) &&
			    json_object_object_get_ex(md, "deletionTimestamp", NULL))
				continue;
			if (!hsmca_kube_pod_ready(pod)) {
				why(&pc->w, "%s pod %s is not Ready", g->what, key);
				return 0;
			}
			live++;
		}
		if (live < old_n) {
			why(&pc->w, "%d of %d %s pods back", live, old_n, g->what);
			return 0;
		}
	}
	return 1;
}

/* ---- the step ---------------------------------------------------------- */

static int watch_until(struct tctx *t, const char *what, const hsmca_kube_ref *ref,
		       const char *selector, hsmca_kube_watch_fn fn, struct waitc *w,
		       hsmca_error *err)
{
	hsmca_kube_watch_stats st;
	int64_t left = t->deadline_ms - tenant_now_ms();
	int r;

	memset(&st, 0, sizeof(st));
	if (left < 1)
		left = 1;
	w->t = t;
	r = hsmca_kube_watch(t->k, ref, selector, (long)left, fn, w, &st, err);
	t->res->lists += st.lists;
	t->res->expired += st.expired;
	t->res->reconnects += st.reconnects;
	if (st.expired)
		tenant_progress(t, "wait", "%s: watch expired (410) %u time(s); listed again and went on",
				what, st.expired);
	if (r == 0)
		return 0;
	if (err->code == HSMCA_KUBE_ERR_DEADLINE) {
		char inner[HSMCA_ERROR_MAX];

		snprintf(inner, sizeof(inner), "%s", err->msg);
		hsmca_error_set(err, "step wait: %s not reached within the deadline (--timeout); "
				"still waiting: %s [%s]", what, w->why[0] ? w->why : "no answer yet", inner);
		err->code = HSMCA_KUBE_ERR_DEADLINE;
		return -1;
	}
	return hsmca_error_prefix(err, "step wait (%s)", what);
}

int tenant_wait(struct tctx *t, hsmca_error *err)
{
	struct tenant_pod_group g[3];
	hsmca_kube_ref secrets = { "v1", "secrets", t->ns, NULL };
	hsmca_kube_ref tcp = { "kamaji.clastix.io/v1alpha1", "tenantcontrolplanes", t->ns, t->name };
	hsmca_kube_ref pods_ns = { "v1", "pods", t->ns, NULL };
	hsmca_kube_ref pods_kns = { "v1", "pods", t->kns, NULL };
	struct waitc w;
	struct podsc pc;
	json_object *old_pods = NULL;
	static const char *const ids[3] = { "kamaji", "kcsi", "virt-launcher" };

	memset(&w, 0, sizeof(w));
	if (watch_until(t, "every Secret recreated with a new CA", &secrets, NULL, secrets_done, &w,
			err) != 0)
		return -1;
	tenant_progress(t, "wait", "the Secrets are back; new CA sha256 %s, front-proxy CA sha256 %s",
			t->res->new_ca_sha256,
			t->res->new_fp_ca_sha256[0] ? t->res->new_fp_ca_sha256 : "(none)");
	memset(&w, 0, sizeof(w));
	if (watch_until(t, "TenantControlPlane Ready", &tcp, NULL, tcp_done, &w, err) != 0)
		return -1;
	tenant_progress(t, "wait", "TenantControlPlane %s/%s is serving", t->ns, t->name);

	tenant_pod_groups(t, g);
	json_object_object_get_ex(t->old, "pods", &old_pods);
	/* Pods of the tenant namespace (and the Kamaji one if it is the same). */
	memset(&pc, 0, sizeof(pc));
	for (int i = 0; i < 3; i++) {
		json_object *o = NULL;

		if (strcmp(g[i].ns, t->ns) != 0 || !json_object_object_get_ex(old_pods, ids[i], &o))
			continue;
		pc.g[pc.n] = &g[i];
		pc.old[pc.n++] = o;
	}
	if (pc.n && watch_until(t, "kcsi-driver and worker VM (virt-launcher) pods replaced and Ready",
				&pods_ns, NULL, pods_done, &pc.w, err) != 0)
		return -1;
	if (strcmp(t->kns, t->ns) != 0) {
		json_object *o = NULL;

		memset(&pc, 0, sizeof(pc));
		if (json_object_object_get_ex(old_pods, ids[0], &o)) {
			pc.g[0] = &g[0];
			pc.old[0] = o;
			pc.n = 1;
			if (watch_until(t, "Kamaji controller pods replaced and Ready", &pods_kns,
					g[0].selector, pods_done, &pc.w, err) != 0)
				return -1;
		}
	}
	tenant_progress(t, "wait", "restarted and virt-launcher pods are replaced and Ready");
	return 0;
}
