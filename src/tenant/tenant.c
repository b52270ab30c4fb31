/* The tenant rotation driver: journal, lock, steps in order, resume, abort,
 * audit.  See tenant.h for the steps and docs/rotation.md for the design. */
#include "tenant/tenant_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "state/config.h"

#define DEFAULT_KAMAJI_NS "cozy-kamaji"

int64_t tenant_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tenant_progress(struct tctx *t, const char *step, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!t->o->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->o->progress(t->o->progress_arg, step, msg);
}

void tenant_fault_point(const char *point)
{
	const char *f = getenv("HSMCA_FAULT");
	size_t n = strlen(point);

	/* A comma-separated list; ours are "tenant:<point>". */
	while (f && *f) {
		const char *end = strchr(f, ',');
		size_t len = end ? (size_t)(end - f) : strlen(f);

		if (len == 7 + n && strncmp(f, "tenant:", 7) == 0 && strncmp(f + 7, point, n) == 0)
			raise(SIGKILL);
		f = end ? end + 1 : NULL;
	}
}

static const char *method_name(hsmca_tenant_method m)
{
	return m == HSMCA_TENANT_METHOD_ANNOTATE ? "annotate" : "delete";
}

static int check_opts(const hsmca_tenant_opts *o, bool need_home, hsmca_error *err)
{
	if (!o->name || !*o->name || !o->namespace || !*o->namespace)
		return hsmca_error_set(err, "the tenant's --name and --namespace are required");
	if (strlen(o->name) > 63 || strlen(o->namespace) > 63 || strchr(o->name, '/') ||
	    strchr(o->namespace, '/') || o->name[0] == '.' || o->namespace[0] == '.')
		return hsmca_error_set(err, "--name and --namespace must be Kubernetes names "
				       "(at most 63 characters, no '/')");
	if (!o->kubeconfig)
		return hsmca_error_set(err, "no kubeconfig for the management cluster");
	if (need_home && !o->home)
		return hsmca_error_set(err, "no state directory");
	return 0;
}

static int default_out(const hsmca_tenant_opts *o, const char *name, char *out, size_t outlen,
		       hsmca_error *err)
{
	char cwd[PATH_MAX];

	if (o->out && o->out[0] == '/')
		return hsmca_path_join(out, outlen, err, "%s", o->out);
	if (!getcwd(cwd, sizeof(cwd)))
		return hsmca_error_errno(err, "getcwd");
	if (o->out)
		return hsmca_path_join(out, outlen, err, "%s/%s", cwd, o->out);
	return hsmca_path_join(out, outlen, err, "%s/%s-admin.kubeconfig", cwd, name);
}

static int connect_mgmt(struct tctx *t, hsmca_error *err)
{
	if (hsmca_kubeconfig_load(t->o->kubeconfig, NULL, &t->kc, err) != 0)
		return -1;
	return hsmca_kube_open(t->kc, NULL, &t->k, err);
}

static void tctx_free(struct tctx *t)
{
	hsmca_kube_free(t->k);
	hsmca_kubeconfig_free(t->kc);
	hsmca_kubeconfig_free(t->old_admin);
	X509_free(t->old_ca);
	X509_free(t->old_fp_ca);
	hsmca_audit_close(t->audit);
	tj_free(&t->j);
}

static bool destructive_begun(const struct tjournal *j)
{
	return tj_last(j, "delete-begin") || tj_last(j, "annotate-begin");
}

/* A journaled rotation of --name, or of Cozystack's kubernetes-<name>,
 * decides the name without asking the API server (a resume must work, and
 * say what it can, while the API server is unreachable).  *found says
 * whether one was found; t->name is set either way. */
static int journaled_name(struct tctx *t, bool *found, hsmca_error *err)
{
	const char *given = t->o->name;
	struct tjournal j;

	*found = false;
	snprintf(t->namebuf, sizeof(t->namebuf), "%s", given);
	t->name = t->namebuf;
	snprintf(t->res->name, sizeof(t->res->name), "%s", given);
	for (int i = 0; i < 2 && !*found; i++) {
		char n[64];

		if (i == 1 && (strncmp(given, "kubernetes-", 11) == 0 || strlen(given) > 52))
			break;
		snprintf(n, sizeof(n), "%s%s", i ? "kubernetes-" : "", given);
		if (tj_init(&j, t->o->home, t->ns, n, err) != 0)
			return -1;
		*found = tj_exists(&j);
		tj_free(&j);
		if (*found && i == 1) {
			snprintf(t->namebuf, sizeof(t->namebuf), "%s", n);
			snprintf(t->res->name, sizeof(t->res->name), "%s", n);
			snprintf(t->res->name_note, sizeof(t->res->name_note),
				 "using %s: a rotation of it is journaled (Cozystack names the "
				 "TenantControlPlane kubernetes-<app>)", n);
		}
	}
	return 0;
}

static int audit(struct tctx *t, const char *event, const char *outcome,
		 const char *const *detail, hsmca_error *err)
{
	char object[600];

	snprintf(object, sizeof(object), "tenant %s/%s", t->ns, t->name);
	return hsmca_audit_append(t->audit, event, object, outcome, detail, err);
}

/* Read the begin line of a journal into the context; check the options. */
static int adopt_begin(struct tctx *t, json_object *begin, hsmca_error *err)
{
	const char *m = hsmca_kube_str(begin, "method"), *kns = hsmca_kube_str(begin, "kamaji_namespace");
	const char *out = hsmca_kube_str(begin, "out");

	if (!m || !kns || !out)
		return hsmca_error_set(err, "journal %s: the begin line lacks method, "
				       "kamaji_namespace or out", t->j.path);
	if (strcmp(m, "delete") != 0 && strcmp(m, "annotate") != 0)
		return hsmca_error_set(err, "journal %s: unknown method %s", t->j.path, m);
	t->method = strcmp(m, "annotate") == 0 ? HSMCA_TENANT_METHOD_ANNOTATE
						: HSMCA_TENANT_METHOD_DELETE;
	if (t->o->method_given && t->o->method != t->method)
		return hsmca_error_set(err, "the journaled rotation uses --method %s, not --method %s",
				       m, method_name(t->o->method));
	if (t->o->kamaji_namespace && strcmp(t->o->kamaji_namespace, kns) != 0)
		return hsmca_error_set(err, "the journaled rotation uses --kamaji-namespace %s, not %s",
				       kns, t->o->kamaji_namespace);
	t->kns = kns;
	t->keep_fp = json_object_get_boolean(json_object_object_get(begin, "keep_front_proxy_ca"));
	t->no_wait_workers = json_object_get_boolean(json_object_object_get(begin, "no_wait_workers"));
	if ((t->o->keep_front_proxy_ca && !t->keep_fp) || (t->o->no_wait_workers && !t->no_wait_workers))
		return hsmca_error_set(err, "the journaled rotation was begun without %s; it is "
				       "resumed as begun (drop the option)",
				       t->o->keep_front_proxy_ca && !t->keep_fp ? "--keep-front-proxy-ca"
										: "--no-wait-workers");
	if (!t->o->out)
		snprintf(t->res->out, sizeof(t->res->out), "%s", out);
	return 0;
}

/* Before each step that changes the tenant: a run whose Lease was lost (taken
 * over after it could not renew, or overwritten) stops before it acts. */
static int lease_ok(struct tctx *t, const char *step, hsmca_error *err)
{
	if (t->lease && hsmca_lease_check(t->lease, err) != 0)
		return hsmca_error_prefix(err, "before step %s", step);
	return 0;
}

/* The cluster-wide lock, beside the local flock: another hsmca, with another
 * state directory or on another machine, is refused while we hold it. */
static int take_lease(struct tctx *t, hsmca_error *err)
{
	char name[TENANT_NAME_MAX + 16], path[PATH_MAX];
	hsmca_lease_opts lo = { 0 };
	uint8_t *prev = NULL;
	size_t len = 0;
	const char *id;
	int ret = -1;

	snprintf(name, sizeof(name), "hsmca-rotate-%s", t->name);
	lo.kubeconfig = t->o->kubeconfig;
	lo.namespace = t->ns;
	lo.name = name;
	lo.duration_s = t->o->lease_duration_s;
	/* The identity of the last run from this state directory.  We hold its
	 * flock, so that run is dead: its Lease (a kill -9 left it) is ours to
	 * take at once, for --resume, instead of after it expires. */
	if (hsmca_path_join(path, sizeof(path), err, "%s/lease-holder", t->j.dir) != 0)
		return -1;
	if (hsmca_read_file(path, HSMCA_LEASE_IDENTITY_MAX, &prev, &len, err) == 0)
		lo.reclaim = (const char *)prev;
	hsmca_error_clear(err);
	if (hsmca_lease_acquire(&lo, &t->lease, err) != 0) {
		hsmca_error_prefix(err, "lock tenant %s/%s", t->ns, t->name);
		goto out;
	}
	id = hsmca_lease_identity(t->lease);
	if (hsmca_write_atomic(path, id, strlen(id), 0600, err) != 0)
		goto out;
	tenant_progress(t, "lease", "holding Lease %s/%s as %s", t->ns, name, id);
	ret = 0;
out:
	free(prev);
	return ret;
}

static int run_steps(struct tctx *t, hsmca_error *err)
{
	json_object *l;

	if (!destructive_begun(&t->j)) {
		/* Nothing destructive yet: (re-)record the state as it is now, and
		 * hold the old admin kubeconfig in this process. */
		if (tenant_record_old(t, err) != 0)
			return hsmca_error_prefix(err, "step record-old");
		{
			const char *d[] = { "method", method_name(t->method), "old_ca_sha256",
					    t->res->old_ca_sha256, "old_front_proxy_ca_sha256",
					    t->res->old_fp_ca_sha256, "front_proxy_ca",
					    t->keep_fp ? "kept" : "rotated", "kamaji_namespace", t->kns,
					    NULL };

			if (audit(t, "tenant-rotate-begin", "ok", d, err) != 0)
				return hsmca_error_prefix(err, "audit log (nothing was deleted)");
		}
	} else {
		t->old = tj_last(&t->j, "record-old");
		if (!t->old)
			return hsmca_error_set(err, "journal %s: deletion begun but no record-old line",
					       t->j.path);
		if (tenant_load_old(t, err) != 0)
			return -1;
		tenant_progress(t, "resume", "continuing after step %s; old CA sha256 %s",
				tj_last_step(&t->j), t->res->old_ca_sha256);
	}
	if (lease_ok(t, t->method == HSMCA_TENANT_METHOD_DELETE ? "delete" : "annotate", err) != 0)
		return -1;
	if (t->method == HSMCA_TENANT_METHOD_DELETE) {
		if (!tj_last(&t->j, "delete-done") && tenant_delete_secrets(t, err) != 0)
			return -1;
	} else if (!tj_last(&t->j, "annotate-done") && tenant_annotate(t, err) != 0) {
		return -1;
	}
	if (lease_ok(t, "restart", err) != 0 ||
	    (!tj_last(&t->j, "restart-done") && tenant_restart_pods(t, err) != 0))
		return -1;
	if ((l = tj_last(&t->j, "annotate-begin")) != NULL)
		t->annotate_start = (time_t)json_object_get_int64(json_object_object_get(l, "start"));
	if ((l = tj_last(&t->j, "wait-done")) != NULL) {
		snprintf(t->res->new_ca_sha256, sizeof(t->res->new_ca_sha256), "%s",
			 hsmca_kube_str(l, "new_ca_sha256") ? hsmca_kube_str(l, "new_ca_sha256") : "");
		snprintf(t->res->new_fp_ca_sha256, sizeof(t->res->new_fp_ca_sha256), "%s",
			 hsmca_kube_str(l, "new_fp_ca_sha256") ? hsmca_kube_str(l, "new_fp_ca_sha256")
							       : "");
	} else {
		json_object *f;
		int64_t timeout_s = t->o->timeout_s > 0 ? t->o->timeout_s
							 : HSMCA_TENANT_DEFAULT_TIMEOUT_S;

		t->deadline_ms = tenant_now_ms() + timeout_s * 1000;
		tenant_progress(t, "wait", "watching for Kamaji to finish (deadline %lld s)",
				(long long)timeout_s);
		if (tenant_wait(t, err) != 0)
			return -1;
		f = json_object_new_object();
		json_object_object_add(f, "new_ca_sha256", json_object_new_string(t->res->new_ca_sha256));
		json_object_object_add(f, "new_fp_ca_sha256",
				       json_object_new_string(t->res->new_fp_ca_sha256));
		if (tj_append(&t->j, "wait-done", f, err) != 0)
			return -1;
		tenant_fault_point("wait");
	}
	if ((l = tj_last(&t->j, "proved")) != NULL) {
		snprintf(t->res->tenant_version, sizeof(t->res->tenant_version), "%s",
			 hsmca_kube_str(l, "version") ? hsmca_kube_str(l, "version") : "");
		snprintf(t->res->old_kubeconfig, sizeof(t->res->old_kubeconfig), "%s",
			 hsmca_kube_str(l, "old_kubeconfig") ? hsmca_kube_str(l, "old_kubeconfig") : "");
		snprintf(t->res->old_credential, sizeof(t->res->old_credential), "%s",
			 hsmca_kube_str(l, "old_credential") ? hsmca_kube_str(l, "old_credential") : "");
		l = tj_last(&t->j, "written");
		snprintf(t->res->kubeconfig_key, sizeof(t->res->kubeconfig_key), "%s",
			 l && hsmca_kube_str(l, "key") ? hsmca_kube_str(l, "key") : "");
	} else {
		/* Written again on resume: the file may be gone, and writing it is
		 * idempotent. */
		if (lease_ok(t, "write", err) != 0 || tenant_write_kubeconfig(t, err) != 0 ||
		    tenant_prove(t, err) != 0)
			return -1;
	}
	{
		const char *d[] = { "method", method_name(t->method), "old_ca_sha256",
				    t->res->old_ca_sha256, "new_ca_sha256", t->res->new_ca_sha256,
				    "old_front_proxy_ca_sha256", t->res->old_fp_ca_sha256,
				    "new_front_proxy_ca_sha256", t->res->new_fp_ca_sha256,
				    "front_proxy_ca", t->keep_fp ? "kept" : "rotated",
				    "kubeconfig", t->res->out, "old_kubeconfig", t->res->old_kubeconfig,
				    "old_credential", t->res->old_credential,
				    "resumed", t->res->resumed ? "yes" : "no", NULL };

		if (audit(t, "tenant-rotate", "ok", d, err) != 0)
			return hsmca_error_prefix(err, "audit log (the rotation itself is complete)");
	}
	if (tj_append(&t->j, "done", NULL, err) != 0 || tj_close_as(&t->j, "done", err) != 0)
		return -1;
	tenant_progress(t, "done", "rotation of tenant %s/%s complete", t->ns, t->name);
	return 0;
}

int hsmca_tenant_rotate(const hsmca_tenant_opts *o, bool resume, hsmca_tenant_result *res,
			hsmca_error *err)
{
	struct tctx t;
	char path[PATH_MAX];
	int ret = -1;

	memset(&t, 0, sizeof(t));
	memset(res, 0, sizeof(*res));
	t.o = o;
	t.res = res;
	t.name = o->name;
	t.ns = o->namespace;
	t.kns = o->kamaji_namespace ? o->kamaji_namespace : DEFAULT_KAMAJI_NS;
	t.method = o->method;
	t.keep_fp = o->keep_front_proxy_ca;
	t.no_wait_workers = o->no_wait_workers;
	t.j.lock_fd = t.j.fd = -1;
	if (check_opts(o, true, err) != 0)
		return -1;
	if (!hsmca_config_exists(o->home))
		return hsmca_error_set(err, "%s is not an hsmca state directory (no hsmca.yaml): the "
				       "rotation's journal and audit record live there; run 'hsmca "
				       "init' or point --home / HSMCA_HOME at one", o->home);
	if (o->out && default_out(o, t.name, res->out, sizeof(res->out), err) != 0)
		return -1;
	{
		bool found;

		if (journaled_name(&t, &found, err) != 0)
			goto out;
		if (!found) {
			/* A fresh run: which TCP, and whether it can be rotated, are
			 * settled before anything is written. */
			if (connect_mgmt(&t, err) != 0 || tenant_resolve_name(&t, err) != 0 ||
			    tenant_precheck(&t, err) != 0)
				goto out;
		}
	}
	if (tj_init(&t.j, o->home, t.ns, t.name, err) != 0 || tj_lock(&t.j, err) != 0 ||
	    tj_load(&t.j, err) != 0)
		goto out;
	if (json_object_array_length(t.j.lines) > 0 && !resume) {
		hsmca_error_set(err, "an unfinished rotation of tenant %s/%s is journaled in %s "
				"(last step: %s); run again with --resume to continue it, or "
				"--abort to clear it", t.ns, t.name, t.j.path,
				tj_last_step(&t.j) ? tj_last_step(&t.j) : "?");
		goto out;
	}
	if (take_lease(&t, err) != 0)
		goto out;
	if (json_object_array_length(t.j.lines) > 0) {
		if (!tj_last(&t.j, "begin")) {
			hsmca_error_set(err, "journal %s has no begin line", t.j.path);
			goto out;
		}
		if (adopt_begin(&t, tj_last(&t.j, "begin"), err) != 0)
			goto out;
		res->resumed = true;
	} else {
		json_object *f;

		if (resume) {
			hsmca_error_set(err, "nothing to resume: no journal at %s", t.j.path);
			goto out;
		}
		if (!o->out && default_out(o, t.name, res->out, sizeof(res->out), err) != 0)
			goto out;
		f = json_object_new_object();
		json_object_object_add(f, "name", json_object_new_string(t.name));
		json_object_object_add(f, "namespace", json_object_new_string(t.ns));
		json_object_object_add(f, "kamaji_namespace", json_object_new_string(t.kns));
		json_object_object_add(f, "method", json_object_new_string(method_name(t.method)));
		json_object_object_add(f, "keep_front_proxy_ca", json_object_new_boolean(t.keep_fp));
		json_object_object_add(f, "no_wait_workers", json_object_new_boolean(t.no_wait_workers));
		json_object_object_add(f, "out", json_object_new_string(res->out));
		if (tj_append(&t.j, "begin", f, err) != 0)
			goto out;
	}
	if (hsmca_path_join(path, sizeof(path), err, "%s/audit.log", o->home) != 0 ||
	    hsmca_audit_open(path, &t.audit, err) != 0)
		goto out;
	if (!t.k && connect_mgmt(&t, err) != 0)
		goto out;
	ret = run_steps(&t, err);
out:
	/* Released on every exit of a run (a failed run is no longer running;
	 * its journal is local); a killed run's Lease expires by itself. */
	hsmca_lease_release(t.lease, NULL);
	t.lease = NULL;
	if (ret != 0 && t.j.lines && json_object_array_length(t.j.lines) > 0) {
		char msg[HSMCA_ERROR_MAX];
		unsigned long code = err->code;

		if (destructive_begun(&t.j)) {
			if (t.audit) {
				const char *d[] = { "step", tj_last_step(&t.j), "error", err->msg, NULL };
				hsmca_error e2;

				audit(&t, "tenant-rotate", "failed", d, &e2);
			}
			snprintf(msg, sizeof(msg), "%s; Kamaji's regeneration has begun and cannot be "
				 "undone: fix the cause and run again with --resume (it waits, it "
				 "does not delete again)", err->msg);
		} else if (err->code != EWOULDBLOCK) {
			snprintf(msg, sizeof(msg), "%s; nothing was deleted: run again with --resume, "
				 "or --abort", err->msg);
		} else {
			snprintf(msg, sizeof(msg), "%s", err->msg);
		}
		snprintf(err->msg, sizeof(err->msg), "%s", msg);
		err->code = code;
	}
	tctx_free(&t);
	return ret;
}

int hsmca_tenant_plan(const hsmca_tenant_opts *o, json_object **plan, hsmca_error *err)
{
	struct tctx t;
	hsmca_tenant_result res;
	json_object *p = NULL;
	int ret = -1;

	memset(&t, 0, sizeof(t));
	memset(&res, 0, sizeof(res));
	t.o = o;
	t.res = &res;
	t.name = o->name;
	t.ns = o->namespace;
	t.kns = o->kamaji_namespace ? o->kamaji_namespace : DEFAULT_KAMAJI_NS;
	t.method = o->method;
	t.j.lock_fd = t.j.fd = -1;
	if (check_opts(o, false, err) != 0)
		return -1;
	t.keep_fp = o->keep_front_proxy_ca;
	t.no_wait_workers = o->no_wait_workers;
	if (connect_mgmt(&t, err) != 0 || tenant_resolve_name(&t, err) != 0)
		goto out;
	if (default_out(o, t.name, res.out, sizeof(res.out), err) != 0 ||
	    tenant_plan(&t, &p, err) != 0)
		goto out;
	json_object_object_add(p, "given_name", json_object_new_string(o->name));
	json_object_object_add(p, "name_note", json_object_new_string(res.name_note));
	json_object_object_add(p, "out", json_object_new_string(res.out));
	json_object_object_add(p, "journal", NULL);
	if (o->home && tj_init(&t.j, o->home, t.ns, t.name, err) == 0 && tj_load(&t.j, err) == 0 &&
	    json_object_array_length(t.j.lines) > 0) {
		json_object *jo = json_object_new_object();

		json_object_object_add(jo, "path", json_object_new_string(t.j.path));
		json_object_object_add(jo, "step", json_object_new_string(tj_last_step(&t.j)));
		json_object_object_add(jo, "destructive",
				       json_object_new_boolean(destructive_begun(&t.j)));
		json_object_object_add(p, "journal", jo);
	}
	*plan = p;
	p = NULL;
	ret = 0;
out:
	json_object_put(p);
	tctx_free(&t);
	return ret;
}

/* Whether the cluster still shows every recorded Secret unchanged (same
 * uid, old CA, no rotate annotation): then the begun deletion did nothing. */
static int nothing_happened(struct tctx *t, bool *same, hsmca_error *err)
{
	json_object *secrets, *obj = NULL;
	char fp[65];

	*same = false;
	if (!json_object_object_get_ex(t->old, "secrets", &secrets))
		return hsmca_error_set(err, "journal: record-old has no secrets");
	json_object_object_foreach(secrets, name, uid)
	{
		hsmca_kube_ref ref = { "v1", "secrets", t->ns, name };
		const char *u;

		if (!uid)
			continue;
		if (hsmca_kube_get(t->k, &ref, &obj, err) != 0) {
			if (HSMCA_KUBE_IS_HTTP(err, 404))
				return 0;
			return -1;
		}
		u = hsmca_kube_str(obj, "metadata.uid");
		if (!u || strcmp(u, json_object_get_string(uid)) != 0)
			goto changed;
		if (strcmp(name + strlen(t->name), "-ca") == 0) {
			const char *old_fp = hsmca_kube_str(t->old, "old_ca_sha256");

			if (tenant_ca_of_secret(obj, fp, NULL, err) != 0) {
				json_object_put(obj);
				return -1;
			}
			if (!old_fp || strcmp(fp, old_fp) != 0)
				goto changed;
			/* "" is a pending request; a timestamp an earlier rotation. */
			if (tenant_rotate_annotation(obj) && !*tenant_rotate_annotation(obj))
				goto changed;
		}
		json_object_put(obj);
		obj = NULL;
	}
	*same = true;
	return 0;
changed:
	json_object_put(obj);
	return 0;
}

int hsmca_tenant_abort(const hsmca_tenant_opts *o, char *msg, size_t msglen, hsmca_error *err)
{
	struct tctx t;
	hsmca_tenant_result res;
	unsigned deleted = 0;
	bool same = false;
	int ret = -1;

	memset(&t, 0, sizeof(t));
	memset(&res, 0, sizeof(res));
	t.o = o;
	t.res = &res;
	t.name = o->name;
	t.ns = o->namespace;
	t.j.lock_fd = t.j.fd = -1;
	if (!o->name || !o->namespace || !o->home)
		return hsmca_error_set(err, "--name, --namespace and a state directory are required");
	{
		bool found;

		if (journaled_name(&t, &found, err) != 0)
			return -1;
	}
	if (tj_init(&t.j, o->home, t.ns, t.name, err) != 0 || tj_lock(&t.j, err) != 0 ||
	    tj_load(&t.j, err) != 0)
		goto out;
	if (json_object_array_length(t.j.lines) == 0) {
		hsmca_error_set(err, "nothing to abort: no journal at %s", t.j.path);
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(t.j.lines); i++) {
		json_object *l = json_object_array_get_idx(t.j.lines, i);
		const char *s = hsmca_kube_str(l, "step");

		if (s && strcmp(s, "deleted") == 0 && !json_object_object_get_ex(l, "already", NULL))
			deleted++;
	}
	if (deleted > 0 || tj_last(&t.j, "annotate-done")) {
		hsmca_error_set(err, "cannot abort: %s; Kamaji is regenerating the tenant's Secrets "
				"from a new CA and that cannot be undone. Run 'hsmca tenant rotate-ca "
				"--name %s --namespace %s --resume' to wait for it and fetch the new "
				"admin kubeconfig (journal %s)",
				deleted ? "Secrets were already deleted" : "<name>-ca was annotated",
				t.name, t.ns, t.j.path);
		goto out;
	}
	if (destructive_begun(&t.j)) {
		/* Begun, but no deletion journaled: a crash may have come between
		 * a DELETE and its journal line.  Ask the cluster. */
		t.old = tj_last(&t.j, "record-old");
		t.kns = DEFAULT_KAMAJI_NS;
		if (!t.old || !o->kubeconfig || connect_mgmt(&t, err) != 0 ||
		    nothing_happened(&t, &same, err) != 0) {
			hsmca_error_prefix(err, "cannot abort: the deletion had begun and whether any "
					   "Secret was deleted could not be checked");
			goto out;
		}
		if (!same) {
			hsmca_error_set(err, "cannot abort: the deletion had begun and the cluster shows "
					"a changed tenant CA Secret; Kamaji's regeneration cannot be undone. "
					"Run with --resume instead (journal %s)", t.j.path);
			goto out;
		}
	}
	if (tj_close_as(&t.j, "aborted", err) != 0)
		goto out;
	snprintf(msg, msglen, "aborted the rotation of tenant %s/%s: nothing had been deleted%s; "
		 "journal kept as %s/aborted-*.jsonl", t.ns, t.name,
		 destructive_begun(&t.j) ? " (checked against the cluster)" : "", t.j.dir);
	ret = 0;
out:
	tctx_free(&t);
	return ret;
}
