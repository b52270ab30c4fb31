/* Which tenant and which pods: the TenantControlPlane name as Cozystack
 * makes it, the worker VMs' launcher pods, the checks a fresh run makes
 * before it writes anything, and the small parsers they need. */
#include "tenant/tenant_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define COZYSTACK_PREFIX "kubernetes-"

bool tenant_labels_match(json_object *obj, const char *selector)
{
	json_object *labels;
	const char *p = selector;

	if (!json_object_object_get_ex(obj, "metadata", &labels) ||
	    !json_object_object_get_ex(labels, "labels", &labels))
		return false;
	while (*p) {
		const char *end = strchr(p, ','), *eq = strchr(p, '=');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char k[256], v[256];
		json_object *val;

		if (!eq || eq >= p + len || (size_t)(eq - p) >= sizeof(k) ||
		    (size_t)(p + len - eq - 1) >= sizeof(v))
			return false;
		memcpy(k, p, (size_t)(eq - p));
		k[eq - p] = '\0';
		memcpy(v, eq + 1, (size_t)(p + len - eq - 1));
		v[p + len - eq - 1] = '\0';
		if (!json_object_object_get_ex(labels, k, &val) ||
		    strcmp(json_object_get_string(val), v) != 0)
			return false;
		p = end ? end + 1 : p + len;
	}
	return true;
}

void tenant_workers_refusal(const struct tctx *t, const struct tenant_pod_group *g, char *out,
			    size_t outlen)
{
	snprintf(out, outlen, "no worker VM pod of TenantControlPlane %s found: namespace %s, "
		 "-l %s, names %s*; a rotation would report success without awaiting the "
		 "worker VMs. Check --name/--namespace, or pass --no-wait-workers if the "
		 "tenant has no worker VMs (nothing changed)", t->name, g->ns, g->selector,
		 g->prefix);
}

int tenant_parse_rfc3339(const char *s, time_t *out)
{
	char base[21];
	const char *p;
	hsmca_error e;
	long off = 0;

	/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm) */
	if (!s || strlen(s) < 20 || s[10] != 'T')
		return -1;
	memcpy(base, s, 19);
	base[19] = 'Z';
	base[20] = '\0';
	p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
	} else {
		return -1;
	}
	if (hsmca_parse_time(base, "timestamp", out, &e) != 0)
		return -1;
	*out -= off;
	return 0;
}


int tenant_tcp_can_start(struct tctx *t, json_object *tcp, hsmca_error *err)
{
	const char *st = tenant_tcp_status(tcp);

	if (tenant_tcp_paused(tcp))
		return hsmca_error_set(err, "TenantControlPlane %s/%s carries kamaji.clastix.io/paused: "
				       "Kamaji would not regenerate the Secrets; remove the annotation "
				       "first (nothing changed)", t->ns, t->name);
	if (strcmp(st, "CertificateAuthorityRotating") == 0)
		return hsmca_error_set(err, "TenantControlPlane %s/%s is already rotating its CA "
				       "(status CertificateAuthorityRotating); wait until it is Ready "
				       "(nothing changed)", t->ns, t->name);
	/* Kamaji: Sleeping means spec.controlPlane.deployment.replicas is 0 -- no
	 * tenant API server runs, so the new certificates would not be served
	 * and the new kubeconfig could not be proven. */
	if (strcmp(st, "Sleeping") == 0)
		return hsmca_error_set(err, "TenantControlPlane %s/%s is Sleeping (0 control-plane "
				       "replicas): no tenant API server would serve the new CA; scale "
				       "it up first (nothing changed)", t->ns, t->name);
	if (strcmp(st, "WriteLimited") == 0)
		tenant_progress(t, "record-old", "note: TenantControlPlane %s/%s is WriteLimited "
				"(running, with write limits on the tenant); Kamaji's status does "
				"not show a rollout in this state, so the proof step is what shows "
				"the new CA served", t->ns, t->name);
	else if (strcmp(st, "Ready") != 0)
		tenant_progress(t, "record-old", "note: TenantControlPlane %s/%s is %s, not Ready",
				t->ns, t->name, st);
	return 0;
}

static int tcp_exists(struct tctx *t, const char *name, bool *exists, hsmca_error *err)
{
	hsmca_kube_ref ref = { "kamaji.clastix.io/v1alpha1", "tenantcontrolplanes", t->ns, name };
	json_object *obj = NULL;

	*exists = false;
	if (hsmca_kube_get(t->k, &ref, &obj, err) != 0)
		return HSMCA_KUBE_IS_HTTP(err, 404) ? 0 : -1;
	json_object_put(obj);
	*exists = true;
	return 0;
}

int tenant_resolve_name(struct tctx *t, hsmca_error *err)
{
	const char *given = t->o->name;
	char pref[64];
	bool exists;

	snprintf(t->namebuf, sizeof(t->namebuf), "%s", given);
	t->name = t->namebuf;
	snprintf(t->res->name, sizeof(t->res->name), "%s", given);
	if (tcp_exists(t, given, &exists, err) != 0)
		return hsmca_error_prefix(err, "find TenantControlPlane %s/%s", t->ns, given);
	if (exists)
		return 0;
	if (strncmp(given, COZYSTACK_PREFIX, strlen(COZYSTACK_PREFIX)) == 0 ||
	    strlen(given) + strlen(COZYSTACK_PREFIX) > 63)
		return hsmca_error_set(err, "TenantControlPlane %s/%s does not exist (check --name and "
				       "--namespace)", t->ns, given);
	snprintf(pref, sizeof(pref), COZYSTACK_PREFIX "%s", given);
	if (tcp_exists(t, pref, &exists, err) != 0)
		return hsmca_error_prefix(err, "find TenantControlPlane %s/%s", t->ns, pref);
	if (!exists)
		return hsmca_error_set(err, "TenantControlPlane %s/%s does not exist, nor %s/%s "
				       "(Cozystack's name for the kubernetes app %s); check --name and "
				       "--namespace", t->ns, given, t->ns, pref, given);
	snprintf(t->namebuf, sizeof(t->namebuf), "%s", pref);
	snprintf(t->res->name, sizeof(t->res->name), "%s", pref);
	snprintf(t->res->name_note, sizeof(t->res->name_note),
		 "no TenantControlPlane %s; using %s (Cozystack names it kubernetes-<app>)", given,
		 pref);
	tenant_progress(t, "select", "%s", t->res->name_note);
	return 0;
}

int tenant_precheck(struct tctx *t, hsmca_error *err)
{
	struct tenant_pod_group g[3];
	json_object *tcp = NULL, *uids = NULL;
	char msg[HSMCA_ERROR_MAX];
	int ret = -1;

	if (tenant_get_tcp(t, &tcp, err) != 0 || tenant_tcp_can_start(t, tcp, err) != 0)
		goto out;
	tenant_pod_groups(t, g);
	if (tenant_list_group(t, &g[TENANT_GROUP_WORKERS], &uids, NULL, err) != 0)
		goto out;
	if (json_object_object_length(uids) == 0 && !t->no_wait_workers) {
		tenant_workers_refusal(t, &g[TENANT_GROUP_WORKERS], msg, sizeof(msg));
		hsmca_error_set(err, "%s", msg);
		goto out;
	}
	ret = 0;
out:
	json_object_put(tcp);
	json_object_put(uids);
	return ret;
}
