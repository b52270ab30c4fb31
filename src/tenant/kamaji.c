/* The Kamaji side of a tenant rotation: what is there before (record-old),
 * the destructive steps (delete or annotate, restart).  The dry run is plan.c.
 *
 * Never deleting twice: every deletion carries the uid recorded in
 * record-old as a precondition, so only the incarnation that existed before
 * the rotation can be deleted; one Kamaji already regenerated (a new uid)
 * answers 409 and is left alone, and so is a missing one (404). */
#include "tenant/tenant_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/util.h"

const char *const hsmca_tenant_secret_suffixes[HSMCA_TENANT_SECRETS] = {
	"ca",
	"front-proxy-ca-certificate",
	"sa-certificate",
	"api-server-certificate",
	"api-server-kubelet-client-certificate",
	"front-proxy-client-certificate",
	"datastore-certificate",
	"konnectivity-certificate",
	"admin-kubeconfig",
	"controller-manager-kubeconfig",
	"scheduler-kubeconfig",
	"konnectivity-kubeconfig",
};

static const char *const group_ids[3] = { "kamaji", "kcsi", "virt-launcher" };


void tenant_secret_name(const char *name, const char *suffix, char out[static TENANT_NAME_MAX])
{
	snprintf(out, TENANT_NAME_MAX, "%s-%s", name, suffix);
}

bool tenant_rotates(const struct tctx *t, size_t i)
{
	return !(i == HSMCA_TENANT_FP_CA && t->keep_fp);
}

void tenant_pod_groups(const struct tctx *t, struct tenant_pod_group g[static 3])
{
	memset(g, 0, 3 * sizeof(*g));
	g[0].what = "Kamaji controller";
	g[0].ns = t->kns;
	snprintf(g[0].selector, sizeof(g[0].selector), "app.kubernetes.io/name=kamaji");
	g[1].what = "kcsi-driver";
	g[1].ns = t->ns;
	snprintf(g[1].selector, sizeof(g[1].selector), "app=%s-kcsi-driver", t->name);
	/* Worker VMs: cluster-api-provider-kubevirt labels each VM and its VMI
	 * template with cluster.x-k8s.io/cluster-name=<cluster> (the TCP's
	 * name in Cozystack); KubeVirt copies the VMI's labels to the launcher
	 * pod, adds kubevirt.io=virt-launcher and names it GenerateName
	 * "virt-launcher-<vm>-", and the VM name starts with the cluster name. */
	g[2].what = "worker VM (virt-launcher)";
	g[2].ns = t->ns;
	snprintf(g[2].selector, sizeof(g[2].selector),
		 "cluster.x-k8s.io/cluster-name=%s,kubevirt.io=virt-launcher", t->name);
	snprintf(g[2].prefix, sizeof(g[2].prefix), "virt-launcher-%s-", t->name);
}

bool tenant_pod_in_group(const struct tenant_pod_group *g, json_object *pod)
{
	const char *name = hsmca_kube_str(pod, "metadata.name");

	if (!name)
		return false;
	/* "virt-launcher-kubernetes-foo-" also prefixes the pods of a cluster
	 * "foo-bar"; the cluster-name label of the selector tells them apart. */
	return !g->prefix[0] || strncmp(name, g->prefix, strlen(g->prefix)) == 0;
}

static int sha256_hex_der(X509 *c, char fp[static 65], hsmca_error *err)
{
	uint8_t md[32];
	unsigned int n = sizeof(md);

	if (X509_digest(c, EVP_sha256(), md, &n) != 1 || n != sizeof(md))
		return hsmca_error_openssl(err, "certificate fingerprint");
	hsmca_hex(md, sizeof(md), fp);
	return 0;
}

int tenant_cert_of_secret(json_object *secret, const char *key, char fp[static 65], X509 **ca_out,
			  hsmca_error *err)
{
	uint8_t *crt = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *c = NULL;
	int ret = -1;

	if (hsmca_kube_secret_data(secret, key, &crt, &len, err) != 0)
		return -1;
	/* Kamaji reads only the first PEM block of ca.crt; so do we. */
	b = BIO_new_mem_buf(crt, (int)len);
	c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (!c) {
		hsmca_error_openssl(err, "secret %s: %s holds no PEM certificate",
				    hsmca_kube_str(secret, "metadata.name"), key);
		goto out;
	}
	if (sha256_hex_der(c, fp, err) != 0)
		goto out;
	if (ca_out) {
		*ca_out = c;
		c = NULL;
	}
	ret = 0;
out:
	X509_free(c);
	BIO_free(b);
	free(crt);
	return ret;
}

int tenant_ca_of_secret(json_object *secret, char fp[static 65], X509 **ca_out, hsmca_error *err)
{
	return tenant_cert_of_secret(secret, "ca.crt", fp, ca_out, err);
}

json_object *tenant_get_secret(struct tctx *t, const char *suffix, bool *missing,
				   hsmca_error *err)
{
	char name[TENANT_NAME_MAX];
	hsmca_kube_ref ref = { "v1", "secrets", t->ns, name };
	json_object *obj = NULL;

	tenant_secret_name(t->name, suffix, name);
	*missing = false;
	if (hsmca_kube_get(t->k, &ref, &obj, err) != 0) {
		if (HSMCA_KUBE_IS_HTTP(err, 404)) {
			*missing = true;
			return NULL;
		}
		return NULL;
	}
	return obj;
}

int tenant_get_tcp(struct tctx *t, json_object **out, hsmca_error *err)
{
	hsmca_kube_ref ref = { "kamaji.clastix.io/v1alpha1", "tenantcontrolplanes", t->ns,
			       t->name };

	if (hsmca_kube_get(t->k, &ref, out, err) != 0) {
		if (HSMCA_KUBE_IS_HTTP(err, 404))
			hsmca_error_prefix(err, "TenantControlPlane %s/%s does not exist (check --name "
					   "and --namespace)", t->ns, t->name);
		return -1;
	}
	return 0;
}

const char *tenant_tcp_status(json_object *tcp)
{
	const char *s = hsmca_kube_str(tcp, "status.kubernetesResources.version.status");

	return s ? s : "unknown";
}

bool tenant_tcp_paused(json_object *tcp)
{
	json_object *md, *ann;

	return json_object_object_get_ex(tcp, "metadata", &md) &&
	       json_object_object_get_ex(md, "annotations", &ann) &&
	       json_object_object_get_ex(ann, "kamaji.clastix.io/paused", NULL);
}

/* {"<ns>/<name>": uid} of the pods of a group; names (array) too if wanted. */
int tenant_list_group(struct tctx *t, const struct tenant_pod_group *g, json_object **uids,
		      json_object **names, hsmca_error *err)
{
	hsmca_kube_ref ref = { "v1", "pods", g->ns, NULL };
	json_object *list = NULL, *items;
	int ret = -1;

	*uids = json_object_new_object();
	if (names)
		*names = json_object_new_array();
	if (!*uids || (names && !*names)) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (hsmca_kube_list(t->k, &ref, g->selector, &list, err) != 0)
		goto out;
	if (json_object_object_get_ex(list, "items", &items) &&
	    json_object_is_type(items, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(items); i++) {
			json_object *p = json_object_array_get_idx(items, i);
			const char *n = hsmca_kube_str(p, "metadata.name");
			const char *uid = hsmca_kube_str(p, "metadata.uid");
			char key[600];

			if (!n || !uid || !tenant_pod_in_group(g, p))
				continue;
			snprintf(key, sizeof(key), "%s/%s", g->ns, n);
			json_object_object_add(*uids, key, json_object_new_string(uid));
			if (names) {
				json_object *e = json_object_new_object();

				json_object_object_add(e, "name", json_object_new_string(n));
				json_object_object_add(e, "uid", json_object_new_string(uid));
				json_object_object_add(e, "ready",
						       json_object_new_boolean(hsmca_kube_pod_ready(p)));
				json_object_array_add(*names, e);
			}
		}
	}
	ret = 0;
out:
	json_object_put(list);
	if (ret != 0) {
		json_object_put(*uids);
		*uids = NULL;
		if (names) {
			json_object_put(*names);
			*names = NULL;
		}
	}
	return ret;
}

static char *x509_pem(X509 *c)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (!b || PEM_write_bio_X509(b, c) != 1)
		goto out;
	n = BIO_get_mem_data(b, &p);
	if (n <= 0)
		goto out;
	out = malloc((size_t)n + 1);
	if (out) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
out:
	BIO_free(b);
	return out;
}

static X509 *pem_cert(const char *pem)
{
	BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return c;
}

int tenant_load_old(struct tctx *t, hsmca_error *err)
{
	const char *fp_pem = hsmca_kube_str(t->old, "old_fp_ca_pem");
	const char *v;

	X509_free(t->old_ca);
	t->old_ca = pem_cert(hsmca_kube_str(t->old, "old_ca_pem"));
	if (!t->old_ca)
		return hsmca_error_openssl(err, "journal %s: the record-old line has no usable "
					   "old_ca_pem", t->j.path);
	X509_free(t->old_fp_ca);
	t->old_fp_ca = NULL;
	if (fp_pem && !(t->old_fp_ca = pem_cert(fp_pem)))
		return hsmca_error_openssl(err, "journal %s: old_fp_ca_pem", t->j.path);
	v = hsmca_kube_str(t->old, "old_ca_sha256");
	snprintf(t->res->old_ca_sha256, sizeof(t->res->old_ca_sha256), "%s", v ? v : "");
	v = hsmca_kube_str(t->old, "old_fp_ca_sha256");
	snprintf(t->res->old_fp_ca_sha256, sizeof(t->res->old_fp_ca_sha256), "%s", v ? v : "");
	return 0;
}

/* Record the CA certificate of one CA Secret (public) in f under prefix. */
static int record_ca(json_object *f, const char *prefix, json_object *sec, const char *key,
		     char fp[static 65], hsmca_error *err)
{
	char k[64];
	X509 *ca = NULL;
	char *pem;

	if (tenant_cert_of_secret(sec, key, fp, &ca, err) != 0)
		return -1;
	pem = x509_pem(ca);
	X509_free(ca);
	if (!pem)
		return hsmca_error_openssl(err, "encode the old CA certificate");
	snprintf(k, sizeof(k), "%s_sha256", prefix);
	json_object_object_add(f, k, json_object_new_string(fp));
	snprintf(k, sizeof(k), "%s_pem", prefix);
	json_object_object_add(f, k, json_object_new_string(pem));
	snprintf(k, sizeof(k), "%s_uid", prefix);
	json_object_object_add(f, k, json_object_new_string(hsmca_kube_str(sec, "metadata.uid")));
	free(pem);
	return 0;
}

int tenant_record_old(struct tctx *t, hsmca_error *err)
{
	struct tenant_pod_group g[3];
	json_object *f = json_object_new_object(), *secrets = json_object_new_object();
	json_object *pods = json_object_new_object(), *obj = NULL, *tcp = NULL;
	char fp[65], fpfp[65] = "", name[TENANT_NAME_MAX], msg[HSMCA_ERROR_MAX];
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	const char *key_used = NULL;
	int ret = -1;

	if (!f || !secrets || !pods) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (tenant_get_tcp(t, &tcp, err) != 0 || tenant_tcp_can_start(t, tcp, err) != 0)
		goto out;
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		const char *suffix = hsmca_tenant_secret_suffixes[i];
		bool missing;

		tenant_secret_name(t->name, suffix, name);
		obj = tenant_get_secret(t, suffix, &missing, err);
		if (!obj && !missing)
			goto out;
		if (!obj && i == 0) {
			hsmca_error_set(err, "secret %s/%s does not exist: without the tenant CA there "
					"is nothing to rotate (check --name and --namespace)", t->ns, name);
			goto out;
		}
		/* Secrets absent now (a konnectivity one with the addon off) are
		 * neither deleted nor awaited: null. */
		json_object_object_add(secrets, name,
				       obj ? json_object_new_string(hsmca_kube_str(obj, "metadata.uid"))
					   : NULL);
		if (i == 0 && record_ca(f, "old_ca", obj, "ca.crt", fp, err) != 0)
			goto out;
		if (i == HSMCA_TENANT_FP_CA && obj &&
		    record_ca(f, "old_fp_ca", obj, TENANT_FP_CA_KEY, fpfp, err) != 0)
			goto out;
		json_object_put(obj);
		obj = NULL;
	}
	tenant_pod_groups(t, g);
	for (int i = 0; i < 3; i++) {
		json_object *uids;

		if (i == TENANT_GROUP_WORKERS && t->no_wait_workers) {
			json_object_object_add(pods, group_ids[i], json_object_new_object());
			continue;
		}
		if (tenant_list_group(t, &g[i], &uids, NULL, err) != 0)
			goto out;
		json_object_object_add(pods, group_ids[i], uids);
		if (i == TENANT_GROUP_WORKERS) {
			t->res->workers = (unsigned)json_object_object_length(uids);
			if (t->res->workers == 0) {
				tenant_workers_refusal(t, &g[i], msg, sizeof(msg));
				hsmca_error_set(err, "%s", msg);
				goto out;
			}
		}
	}
	/* The old admin kubeconfig stays in this process's memory only: it
	 * holds a private key.  A resumed run cannot have it (docs). */
	hsmca_kubeconfig_free(t->old_admin);
	t->old_admin = NULL;
	if (tenant_fetch_admin(t, &t->old_admin, &key_used, &raw, &raw_len, err) != 0) {
		if (!HSMCA_KUBE_IS_HTTP(err, 404))
			goto out;
		tenant_progress(t, "record-old", "no old admin kubeconfig to prove refused later: %s",
				err->msg);
	}
	json_object_object_add(f, "admin_kubeconfig_key",
			       key_used ? json_object_new_string(key_used) : NULL);
	json_object_object_add(f, "tcp_status", json_object_new_string(tenant_tcp_status(tcp)));
	json_object_object_add(f, "secrets", secrets);
	json_object_object_add(f, "pods", pods);
	secrets = pods = NULL;
	if (tj_append(&t->j, "record-old", f, err) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	t->old = tj_last(&t->j, "record-old");
	if (tenant_load_old(t, err) != 0)
		goto out;
	tenant_progress(t, "record-old", "old CA sha256 %s, old front-proxy CA sha256 %s recorded; "
			"TenantControlPlane %s; %u worker VM pod(s) to await", fp,
			fpfp[0] ? fpfp : "(none: no front-proxy CA Secret)", tenant_tcp_status(tcp),
			t->res->workers);
	tenant_fault_point("record-old");
	ret = 0;
out:
	if (raw) {
		hsmca_wipe(raw, raw_len);
		free(raw);
	}
	json_object_put(obj);
	json_object_put(tcp);
	json_object_put(f);
	json_object_put(secrets);
	json_object_put(pods);
	return ret;
}

/* Whether the journal already has a `step` line whose `field` is `value`. */
static bool journaled(struct tctx *t, const char *step, const char *field, const char *value)
{
	size_t n = json_object_array_length(t->j.lines);

	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_array_get_idx(t->j.lines, i);
		const char *s = hsmca_kube_str(l, "step"), *v = hsmca_kube_str(l, field);

		if (s && v && strcmp(s, step) == 0 && strcmp(v, value) == 0)
			return true;
	}
	return false;
}

/* Delete one recorded object by uid.  Returns 1 if deleted now, 0 if it was
 * already gone or replaced, -1 on error. */
static int delete_recorded(struct tctx *t, const hsmca_kube_ref *ref, const char *uid,
			   const char **why, hsmca_error *err)
{
	if (hsmca_kube_delete(t->k, ref, uid, err) == 0)
		return 1;
	if (HSMCA_KUBE_IS_HTTP(err, 404)) {
		*why = "already gone";
		return 0;
	}
	if (HSMCA_KUBE_IS_HTTP(err, 409)) {
		/* The uid precondition failed: a new incarnation is there. */
		*why = "already replaced (new uid)";
		return 0;
	}
	return -1;
}

int tenant_delete_secrets(struct tctx *t, hsmca_error *err)
{
	json_object *secrets;
	bool first = true;
	int total = 0;

	if (!json_object_object_get_ex(t->old, "secrets", &secrets))
		return hsmca_error_set(err, "journal %s: record-old has no secrets", t->j.path);
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		char name[TENANT_NAME_MAX];
		json_object *u;

		tenant_secret_name(t->name, hsmca_tenant_secret_suffixes[i], name);
		if (tenant_rotates(t, i) && json_object_object_get_ex(secrets, name, &u) && u)
			total++;
	}
	if (!tj_last(&t->j, "delete-begin")) {
		json_object *f = json_object_new_object();

		json_object_object_add(f, "secrets", json_object_get(secrets));
		if (tj_append(&t->j, "delete-begin", f, err) != 0)
			return -1;
	}
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		char name[TENANT_NAME_MAX];
		hsmca_kube_ref ref = { "v1", "secrets", t->ns, name };
		json_object *u, *f;
		const char *uid, *why = NULL;
		int r;

		tenant_secret_name(t->name, hsmca_tenant_secret_suffixes[i], name);
		if (!tenant_rotates(t, i) || journaled(t, "deleted", "secret", name))
			continue;
		if (!json_object_object_get_ex(secrets, name, &u) || !u) {
			/* Missing before the rotation: Kamaji makes it; nothing to delete. */
			continue;
		}
		uid = json_object_get_string(u);
		r = delete_recorded(t, &ref, uid, &why, err);
		if (r < 0)
			return hsmca_error_prefix(err, "step delete (%u of %d Secrets deleted so far)",
						  t->res->deleted, total);
		if (first && r == 1)
			tenant_fault_point("delete-unjournaled");
		f = json_object_new_object();
		json_object_object_add(f, "secret", json_object_new_string(name));
		json_object_object_add(f, "uid", json_object_new_string(uid));
		if (r == 0)
			json_object_object_add(f, "already", json_object_new_string(why));
		if (tj_append(&t->j, "deleted", f, err) != 0)
			return -1;
		if (r == 1) {
			t->res->deleted++;
			tenant_progress(t, "delete", "deleted secret %s/%s", t->ns, name);
		} else {
			t->res->already_gone++;
			tenant_progress(t, "delete", "secret %s/%s: %s, not deleted again", t->ns, name,
					why);
		}
		if (first && r == 1) {
			first = false;
			tenant_fault_point("delete-one");
		}
	}
	if (tj_append(&t->j, "delete-done", NULL, err) != 0)
		return -1;
	tenant_fault_point("delete");
	return 0;
}

/* The rotate annotation's value, or NULL if absent. */
const char *tenant_rotate_annotation(json_object *secret)
{
	json_object *md, *ann, *v;

	if (json_object_object_get_ex(secret, "metadata", &md) &&
	    json_object_object_get_ex(md, "annotations", &ann) &&
	    json_object_object_get_ex(ann, HSMCA_TENANT_ROTATE_ANNOTATION, &v))
		return json_object_get_string(v);
	return NULL;
}

/* Annotate one CA Secret (index i) with certs.kamaji.clastix.io/rotate="".
 * Kamaji rotates on exactly "" and then KEEPS the annotation with the RFC
 * 3339 time of the rotation (internal/utilities/certs_rotation.go): a
 * timestamp is an earlier rotation, not a pending one, and is replaced. */
static int annotate_one(struct tctx *t, size_t i, const char *old_fp, const char *uid_field,
			hsmca_error *err)
{
	const char *suffix = hsmca_tenant_secret_suffixes[i];
	const char *key = i == 0 ? "ca.crt" : TENANT_FP_CA_KEY;
	char name[TENANT_NAME_MAX], fp[65];
	hsmca_kube_ref ref = { "v1", "secrets", t->ns, name };
	json_object *sec = NULL, *patch = NULL, *md, *ann;
	const char *v;
	int ret = -1;

	tenant_secret_name(t->name, suffix, name);
	if (hsmca_kube_get(t->k, &ref, &sec, err) != 0) {
		if (!HSMCA_KUBE_IS_HTTP(err, 404))
			goto out;
		tenant_progress(t, "annotate", "secret %s/%s is gone; Kamaji is regenerating it",
				t->ns, name);
		ret = 0;
		goto out;
	}
	if (tenant_cert_of_secret(sec, key, fp, NULL, err) == 0 && old_fp && strcmp(fp, old_fp) != 0) {
		tenant_progress(t, "annotate", "secret %s/%s already holds a new CA; not annotated "
				"again", t->ns, name);
		ret = 0;
		goto out;
	}
	v = tenant_rotate_annotation(sec);
	if (v && !*v) {
		tenant_progress(t, "annotate", "secret %s/%s already carries %s=\"\" (a rotation "
				"Kamaji has not done yet); not annotated again", t->ns, name,
				HSMCA_TENANT_ROTATE_ANNOTATION);
		ret = 0;
		goto out;
	}
	patch = json_object_new_object();
	md = json_object_new_object();
	ann = json_object_new_object();
	json_object_object_add(ann, HSMCA_TENANT_ROTATE_ANNOTATION, json_object_new_string(""));
	json_object_object_add(md, "annotations", ann);
	/* The uid makes the patch apply to the recorded incarnation only. */
	json_object_object_add(md, "uid", json_object_new_string(hsmca_kube_str(t->old, uid_field)));
	json_object_object_add(patch, "metadata", md);
	if (hsmca_kube_merge_patch(t->k, &ref, patch, NULL, err) != 0) {
		hsmca_error_prefix(err, "step annotate (%s)", name);
		goto out;
	}
	tenant_progress(t, "annotate", "annotated secret %s/%s with %s=\"\"%s%s%s", t->ns, name,
			HSMCA_TENANT_ROTATE_ANNOTATION, v ? " (it carried " : "", v ? v : "",
			v ? ", the time of an earlier rotation)" : "");
	ret = 0;
out:
	json_object_put(sec);
	json_object_put(patch);
	return ret;
}

int tenant_annotate(struct tctx *t, hsmca_error *err)
{
	json_object *l = tj_last(&t->j, "annotate-begin");

	if (!l) {
		json_object *f = json_object_new_object();

		json_object_object_add(f, "start", json_object_new_int64((int64_t)time(NULL)));
		if (tj_append(&t->j, "annotate-begin", f, err) != 0)
			return -1;
		l = tj_last(&t->j, "annotate-begin");
	}
	t->annotate_start = (time_t)json_object_get_int64(json_object_object_get(l, "start"));
	if (annotate_one(t, 0, hsmca_kube_str(t->old, "old_ca_sha256"), "old_ca_uid", err) != 0)
		return -1;
	if (tenant_rotates(t, HSMCA_TENANT_FP_CA) && t->old_fp_ca &&
	    annotate_one(t, HSMCA_TENANT_FP_CA, hsmca_kube_str(t->old, "old_fp_ca_sha256"),
			 "old_fp_ca_uid", err) != 0)
		return -1;
	if (tj_append(&t->j, "annotate-done", NULL, err) != 0)
		return -1;
	tenant_fault_point("annotate");
	return 0;
}

int tenant_restart_pods(struct tctx *t, hsmca_error *err)
{
	struct tenant_pod_group g[3];
	json_object *pods;
	bool first = true;

	if (!json_object_object_get_ex(t->old, "pods", &pods))
		return hsmca_error_set(err, "journal %s: record-old has no pods", t->j.path);
	if (!tj_last(&t->j, "restart-begin") && tj_append(&t->j, "restart-begin", NULL, err) != 0)
		return -1;
	tenant_pod_groups(t, g);
	for (int i = 0; i < 2; i++) {
		json_object *uids;

		if (!json_object_object_get_ex(pods, group_ids[i], &uids))
			continue;
		json_object_object_foreach(uids, key, val)
		{
			const char *slash = strchr(key, '/'), *why = NULL;
			const char *uid = json_object_get_string(val);
			hsmca_kube_ref ref = { "v1", "pods", g[i].ns, slash ? slash + 1 : key };
			json_object *f;
			int r;

			if (journaled(t, "restarted", "pod", key))
				continue;
			r = delete_recorded(t, &ref, uid, &why, err);
			if (r < 0)
				return hsmca_error_prefix(err, "step restart (%s pods)", g[i].what);
			f = json_object_new_object();
			json_object_object_add(f, "pod", json_object_new_string(key));
			json_object_object_add(f, "uid", json_object_new_string(uid));
			if (r == 0)
				json_object_object_add(f, "already", json_object_new_string(why));
			if (tj_append(&t->j, "restarted", f, err) != 0)
				return -1;
			if (r == 1) {
				t->res->restarted++;
				tenant_progress(t, "restart", "deleted %s pod %s", g[i].what, key);
			} else {
				t->res->already_gone++;
				tenant_progress(t, "restart", "%s pod %s: %s", g[i].what, key, why);
			}
			if (first && r == 1) {
				first = false;
				tenant_fault_point("restart-one");
			}
		}
	}
	if (tj_append(&t->j, "restart-done", NULL, err) != 0)
		return -1;
	tenant_fault_point("restart");
	return 0;
}
