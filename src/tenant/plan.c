/* The dry run: what a rotation would delete, restart and await, read with
 * GET and LIST only. */
#include "tenant/tenant_internal.h"

#include <stdio.h>
#include <string.h>

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* "delete" (or "annotate"): the Secrets with uid and resourceVersion;
 * "ca_sha256", "front_proxy_ca_sha256"; "untouched". */
static int plan_secrets(struct tctx *t, json_object *p, json_object *await, hsmca_error *err)
{
	json_object *del = json_object_new_array(), *names = json_object_new_array(), *obj = NULL;
	json_object *ann = json_object_new_array(), *keep = json_object_new_array();
	char fp[65] = "", fpfp[65] = "", name[TENANT_NAME_MAX];
	int ret = -1;

	if (!del || !names || !ann || !keep) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < HSMCA_TENANT_SECRETS; i++) {
		json_object *o;
		bool missing;

		tenant_secret_name(t->name, hsmca_tenant_secret_suffixes[i], name);
		obj = tenant_get_secret(t, hsmca_tenant_secret_suffixes[i], &missing, err);
		if (!obj && !missing)
			goto out;
		if (!obj && i == 0) {
			hsmca_error_set(err, "secret %s/%s does not exist: without the tenant CA there "
					"is nothing to rotate (check --name and --namespace)", t->ns, name);
			goto out;
		}
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		if (obj) {
			const char *v = tenant_rotate_annotation(obj);

			json_object_object_add(o, "uid", jstr(hsmca_kube_str(obj, "metadata.uid")));
			json_object_object_add(o, "resourceVersion",
					       jstr(hsmca_kube_str(obj, "metadata.resourceVersion")));
			if (v)
				json_object_object_add(o, "annotation_value", json_object_new_string(v));
		} else {
			json_object_object_add(o, "missing", json_object_new_boolean(1));
		}
		if (i == HSMCA_TENANT_FP_CA)
			json_object_object_add(o, "front_proxy_ca", json_object_new_boolean(1));
		if (!tenant_rotates(t, i)) {
			json_object_array_add(keep, json_object_get(o));
		} else {
			json_object_array_add(del, json_object_get(o));
			if (obj && (i == 0 || i == HSMCA_TENANT_FP_CA))
				json_object_array_add(ann, json_object_get(o));
		}
		json_object_put(o);
		if (obj)
			json_object_array_add(names, json_object_new_string(name));
		if (i == 0 && tenant_ca_of_secret(obj, fp, NULL, err) != 0)
			goto out;
		if (i == HSMCA_TENANT_FP_CA && obj &&
		    tenant_cert_of_secret(obj, TENANT_FP_CA_KEY, fpfp, NULL, err) != 0)
			goto out;
		json_object_put(obj);
		obj = NULL;
	}
	/* Kamaji's 13th Secret holds the datastore connection, no certificate. */
	tenant_secret_name(t->name, "datastore-config", name);
	json_object_array_add(keep, json_object_new_string(name));
	json_object_object_add(p, "ca_sha256", json_object_new_string(fp));
	json_object_object_add(p, "front_proxy_ca_sha256", json_object_new_string(fpfp));
	json_object_object_add(p, "keep_front_proxy_ca", json_object_new_boolean(t->keep_fp));
	if (t->method == HSMCA_TENANT_METHOD_ANNOTATE) {
		json_object_object_add(p, "annotate", json_object_get(ann));
		json_object_object_add(p, "annotation",
				       json_object_new_string(HSMCA_TENANT_ROTATE_ANNOTATION));
	} else {
		json_object_object_add(p, "delete", json_object_get(del));
	}
	json_object_object_add(p, "untouched", json_object_get(keep));
	json_object_object_add(await, "secrets", json_object_get(names));
	ret = 0;
out:
	json_object_put(del);
	json_object_put(ann);
	json_object_put(keep);
	json_object_put(names);
	json_object_put(obj);
	return ret;
}

/* "restart": the first two pod groups; await.pods: all three (the worker
 * VMs' only without no_wait_workers); "workers". */
static int plan_pods(struct tctx *t, json_object *p, json_object *await, hsmca_error *err)
{
	struct tenant_pod_group g[3];
	json_object *restart = json_object_new_array(), *aw = json_object_new_array();
	char msg[HSMCA_ERROR_MAX];
	int ret = -1;

	if (!restart || !aw) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	tenant_pod_groups(t, g);
	for (int i = 0; i < 3; i++) {
		json_object *uids, *names, *o;

		if (tenant_list_group(t, &g[i], &uids, &names, err) != 0)
			goto out;
		json_object_put(uids);
		o = json_object_new_object();
		json_object_object_add(o, "what", json_object_new_string(g[i].what));
		json_object_object_add(o, "namespace", json_object_new_string(g[i].ns));
		json_object_object_add(o, "selector", json_object_new_string(g[i].selector));
		if (g[i].prefix[0])
			json_object_object_add(o, "prefix", json_object_new_string(g[i].prefix));
		if (i == TENANT_GROUP_WORKERS) {
			json_object_object_add(o, "wait", json_object_new_boolean(!t->no_wait_workers));
			if (json_object_array_length(names) == 0 && !t->no_wait_workers) {
				tenant_workers_refusal(t, &g[i], msg, sizeof(msg));
				json_object_object_add(o, "refused", json_object_new_string(msg));
			} else {
				json_object_object_add(o, "refused", NULL);
			}
		}
		json_object_object_add(o, "pods", names);
		if (i < 2)
			json_object_array_add(restart, json_object_get(o));
		if (i == TENANT_GROUP_WORKERS)
			json_object_object_add(p, "workers", json_object_get(o));
		if (i < 2 || !t->no_wait_workers)
			json_object_array_add(aw, json_object_get(o));
		json_object_put(o);
	}
	json_object_object_add(p, "restart", json_object_get(restart));
	json_object_object_add(await, "pods", json_object_get(aw));
	ret = 0;
out:
	json_object_put(restart);
	json_object_put(aw);
	return ret;
}

int tenant_plan(struct tctx *t, json_object **out, hsmca_error *err)
{
	json_object *p = json_object_new_object(), *await = json_object_new_object();
	json_object *tcp = NULL, *o;
	int ret = -1;

	if (!p || !await) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	json_object_object_add(p, "tenant", json_object_new_string(t->name));
	json_object_object_add(p, "namespace", json_object_new_string(t->ns));
	json_object_object_add(p, "kamaji_namespace", json_object_new_string(t->kns));
	json_object_object_add(p, "method", json_object_new_string(
		t->method == HSMCA_TENANT_METHOD_ANNOTATE ? "annotate" : "delete"));
	json_object_object_add(p, "server", json_object_new_string(t->kc->server));
	if (tenant_get_tcp(t, &tcp, err) != 0)
		goto out;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "status", json_object_new_string(tenant_tcp_status(tcp)));
	json_object_object_add(o, "paused", json_object_new_boolean(tenant_tcp_paused(tcp)));
	json_object_object_add(p, "tenantcontrolplane", o);
	if (plan_secrets(t, p, await, err) != 0 || plan_pods(t, p, await, err) != 0)
		goto out;
	json_object_object_add(await, "tenantcontrolplane", json_object_new_string("Ready"));
	json_object_object_add(p, "await", await);
	await = NULL;
	*out = p;
	p = NULL;
	ret = 0;
out:
	json_object_put(p);
	json_object_put(await);
	json_object_put(tcp);
	return ret;
}
