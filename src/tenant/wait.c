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

static int secrets_done(void *arg, const char *type, json_object *object, json_object *current,
			hsmca_error *err)
{
	struct waitc *w = arg;
	struct tctx *t = w->t;
	json_object *old_secrets = NULL, *sec, *md, *ann;
	const char *old_fp = hsmca_kube_str(t->old, "old_ca_sha256");
	char name[TENANT_NAME_MAX], fp[65], key[128];
	hsmca_error e;

	(void)type;
	(void)object;
	(void)err;
	json_object_object_get_ex(t->old, "secrets", &old_secrets);
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		json_object *u = NULL;
		const char *uid;

		tenant_secret_name(t->name, hsmca_tenant_secret_suffixes[i], name);
		sec = current_get(current, t->ns, name);
		if (!sec) {
			why(w, "secret %s not yet recreated", name);
			return 0;
		}
		uid = hsmca_kube_str(sec, "metadata.uid");
		if (t->method == HSMCA_TENANT_METHOD_DELETE && old_secrets &&
		    json_object_object_get_ex(old_secrets, name, &u) && u && uid &&
		    strcmp(json_object_get_string(u), uid) == 0) {
			why(w, "secret %s is still the old one (same uid)", name);
			return 0;
		}
	}
	tenant_secret_name(t->name, "ca", name);
	sec = current_get(current, t->ns, name);
	if (json_object_object_get_ex(sec, "metadata", &md) &&
	    json_object_object_get_ex(md, "annotations", &ann) &&
	    json_object_object_get_ex(ann, HSMCA_TENANT_ROTATE_ANNOTATION, NULL)) {
		why(w, "secret %s still carries %s", name, HSMCA_TENANT_ROTATE_ANNOTATION);
		return 0;
	}
	if (tenant_ca_of_secret(sec, fp, NULL, &e) != 0) {
		why(w, "secret %s: %s", name, e.msg);
		return 0;
	}
	if (old_fp && strcmp(fp, old_fp) == 0) {
		why(w, "secret %s still holds the old CA", name);
		return 0;
	}
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		tenant_secret_name(t->name, hsmca_tenant_secret_suffixes[i], name);
		sec = current_get(current, t->ns, name);
		if (tenant_secret_has_cert_of(sec, t->old_ca, key, sizeof(key))) {
			why(w, "secret %s (%s) still holds a certificate of the old CA", name, key);
			return 0;
		}
	}
	snprintf(t->res->new_ca_sha256, sizeof(t->res->new_ca_sha256), "%s", fp);
	return 1;
}

static int tcp_done(void *arg, const char *type, json_object *object, json_object *current,
		    hsmca_error *err)
{
	struct waitc *w = arg;
	json_object *tcp = current_get(current, w->t->ns, w->t->name);
	const char *st;

	(void)type;
	(void)object;
	(void)err;
	if (!tcp) {
		why(w, "TenantControlPlane %s/%s is gone", w->t->ns, w->t->name);
		return 0;
	}
	st = hsmca_kube_str(tcp, "status.kubernetesResources.version.status");
	if (!st || strcmp(st, "Ready") != 0) {
		why(w, "TenantControlPlane %s/%s is %s", w->t->ns, w->t->name, st ? st : "without status");
		return 0;
	}
	return 1;
}

/* "k=v" label selectors only (all this step uses). */
static bool labels_match(json_object *pod, const char *selector)
{
	const char *eq = strchr(selector, '=');
	char k[256];
	json_object *labels, *v;

	if (!eq || (size_t)(eq - selector) >= sizeof(k))
		return false;
	memcpy(k, selector, (size_t)(eq - selector));
	k[eq - selector] = '\0';
	return json_object_object_get_ex(pod, "metadata", &labels) &&
	       json_object_object_get_ex(labels, "labels", &labels) &&
	       json_object_object_get_ex(labels, k, &v) &&
	       strcmp(json_object_get_string(v), eq + 1) == 0;
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

			if (!labels_match(pod, g->selector) || !tenant_pod_in_group(g, pod))
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
	tenant_progress(t, "wait", "all %d Secrets are back; new CA sha256 %s", HSMCA_TENANT_SECRETS,
			t->res->new_ca_sha256);
	memset(&w, 0, sizeof(w));
	if (watch_until(t, "TenantControlPlane Ready", &tcp, NULL, tcp_done, &w, err) != 0)
		return -1;
	tenant_progress(t, "wait", "TenantControlPlane %s/%s is Ready", t->ns, t->name);

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
	if (pc.n && watch_until(t, "kcsi-driver and virt-launcher pods replaced and Ready",
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
