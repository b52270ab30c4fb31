/* Kamaji tenant CA rotation (hsmca tenant rotate-ca).
 *
 * A Kamaji TenantControlPlane keeps its CAs and every leaf certificate and
 * kubeconfig in thirteen Secrets `<name>-…` of the tenant namespace: the
 * eleven of the seed procedure, the front-proxy CA (rotated too unless
 * keep_front_proxy_ca) and <name>-datastore-config (no certificate; never
 * touched).  In Cozystack the TCP is named kubernetes-<cluster>.  Kamaji
 * holds the tenant CA key itself (it signs leaves in-process), so this is not
 * a hardware-held CA: hsmca drives Kamaji's own regeneration, safely, and
 * proves the outcome.  Steps (docs/rotation.md, "Kamaji tenant rotation"):
 *
 *   record-old  old CA and front-proxy CA fingerprints and certificates
 *               (public), the uids of the Secrets and of the pods to restart
 *               and await (the worker VMs' virt-launcher pods by
 *               cluster.x-k8s.io/cluster-name=<name>: a run that finds none
 *               is refused unless no_wait_workers); the old admin kubeconfig
 *               is read into memory only
 *   delete      the twelve Secrets (eleven with keep_front_proxy_ca), each
 *               with a uid precondition (method delete), or the annotation
 *               certs.kamaji.clastix.io/rotate="" on <name>-ca and
 *               <name>-front-proxy-ca-certificate (method annotate; Kamaji
 *               keeps the annotation with the RFC 3339 time of the rotation)
 *   restart     Kamaji controller pods and the tenant's kcsi-driver pods
 *   wait        by watching, until a deadline: every Secret that existed
 *               before back (new uid, or for annotate a new certificate and
 *               a rotation timestamp not before the run) with the new CAs, no
 *               certificate of an old one, front-proxy-client signed by the
 *               new front-proxy CA; the TenantControlPlane Ready (or
 *               WriteLimited; Sleeping ends the wait with an error); the
 *               restarted pods and the worker VMs' pods replaced and Ready
 *   write       the new admin kubeconfig, 0600, atomically
 *   prove       the new kubeconfig gets an answer from the tenant API server;
 *               the old one is refused
 *   done        audit line with both fingerprints; the journal is closed
 *
 * Every step is journaled (fsynced JSON lines) in
 * <home>/tenant/<namespace>-<name>/journal.jsonl under an exclusive flock on
 * the `lock` file beside it; a run that was killed is continued with
 * resume, which never deletes a Secret or pod twice: once the first deletion
 * is journaled as begun, only the incarnations recorded before (by uid) are
 * ever deleted, and a resumed run waits.
 *
 * The library prints nothing: progress goes to the caller's callback.  No
 * Secret data (every one of the eleven holds a private key) is ever written
 * to the journal, the audit log, an error message or the callback; the new
 * admin kubeconfig goes only to the 0600 output file.
 *
 * Test hook: environment HSMCA_FAULT=tenant:<point> makes the process kill
 * itself (SIGKILL) at that point: record-old, delete-unjournaled (the first
 * Secret deleted, its journal line not yet written), delete-one, delete,
 * annotate, restart-one, restart, wait, write, prove.
 *
 * Not thread-safe: one rotation per process at a time. */
#ifndef HSMCA_TENANT_TENANT_H
#define HSMCA_TENANT_TENANT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"

#define HSMCA_TENANT_SECRETS 12 /* rotated; plus <name>-datastore-config, untouched */
#define HSMCA_TENANT_FP_CA 1    /* index of front-proxy-ca-certificate */
#define HSMCA_TENANT_DEFAULT_TIMEOUT_S 900
#define HSMCA_TENANT_ROTATE_ANNOTATION "certs.kamaji.clastix.io/rotate"

/* The suffixes of the Secrets a rotation replaces: "ca" first, then
 * "front-proxy-ca-certificate" (skipped with keep_front_proxy_ca). */
extern const char *const hsmca_tenant_secret_suffixes[HSMCA_TENANT_SECRETS];

typedef enum hsmca_tenant_method {
	HSMCA_TENANT_METHOD_DELETE = 0, /* delete the Secrets (the seed procedure) */
	HSMCA_TENANT_METHOD_ANNOTATE,   /* annotate the CA Secrets, Kamaji rotates in place */
} hsmca_tenant_method;

/* Progress: `step` is the step name ("record-old", "delete", ...), `msg` one
 * human-readable line without a newline.  Never carries Secret data. */
typedef void (*hsmca_tenant_progress_fn)(void *arg, const char *step, const char *msg);

typedef struct hsmca_tenant_opts {
	const char *name;             /* TenantControlPlane name (required); "foo" is
				       * taken as "kubernetes-foo" only if no TCP foo
				       * exists and kubernetes-foo does (Cozystack) */
	const char *namespace;        /* tenant namespace (required) */
	const char *kamaji_namespace; /* NULL: "cozy-kamaji" */
	const char *kubeconfig;       /* management cluster kubeconfig file (required) */
	const char *home;             /* resolved state directory (required except for plan) */
	const char *out;              /* new admin kubeconfig; NULL: the journal's, else
				       * "<name>-admin.kubeconfig" in the working directory */
	hsmca_tenant_method method;
	bool method_given;            /* method was chosen explicitly (checked on resume) */
	bool keep_front_proxy_ca;     /* the seed's behaviour: leave the front-proxy CA */
	bool no_wait_workers;         /* the tenant has no worker VMs: await none */
	int64_t timeout_s;            /* bound of the wait step in this run; 0: default */
	int lease_duration_s;         /* the Lease hsmca-rotate-<name>; 0: 60 s */
	hsmca_tenant_progress_fn progress; /* may be NULL */
	void *progress_arg;
} hsmca_tenant_opts;

typedef struct hsmca_tenant_result {
	char old_ca_sha256[65];   /* SHA-256 of the old CA certificate (DER), hex */
	char new_ca_sha256[65];
	char old_fp_ca_sha256[65]; /* front-proxy CA; "" if the tenant had none */
	char new_fp_ca_sha256[65]; /* equal to the old one with keep_front_proxy_ca */
	char name[64];            /* the TenantControlPlane name used */
	char name_note[160];      /* how --name was resolved, "" if taken as given */
	unsigned workers;         /* worker VM pods awaited */
	char out[PATH_MAX];       /* where the new admin kubeconfig was written */
	char kubeconfig_key[32];  /* "super-admin.conf" or "admin.conf" */
	char tenant_version[64];  /* gitVersion the tenant API server answered with */
	char old_kubeconfig[256]; /* how the old admin kubeconfig, as it was, was refused */
	char old_credential[256]; /* how the old client certificate was refused (or why
				   * that was not proven) */
	bool resumed;             /* continued a journaled run */
	unsigned deleted;         /* Secrets deleted in this run */
	unsigned already_gone;    /* recorded Secrets/pods found already replaced (resume) */
	unsigned restarted;       /* pods deleted in this run */
	unsigned lists, expired, reconnects; /* watch statistics of the wait step */
} hsmca_tenant_result;

/* The dry run: read (GET/LIST only) what a rotation would touch and return
 * it as a new JSON object (json_object_put()):
 *   {"tenant","given_name","name_note","namespace","kamaji_namespace","method",
 *    "server","ca_sha256","front_proxy_ca_sha256","keep_front_proxy_ca",
 *    "tenantcontrolplane":{"name","status","paused"},
 *    "delete":[{"name","uid","resourceVersion"} | {"name","missing":true}]
 *      or "annotate":[{"name","uid","annotation_value"}],"untouched":[names],
 *    "workers":{"selector","prefix","pods":[...],"wait":bool,"refused":msg|null},
 *    "restart":[{"namespace","selector","pods":[{"name","uid"}]}],
 *    "await":{"secrets":[names],"tenantcontrolplane":"Ready",
 *             "pods":[{"namespace","selector","prefix","pods":[...]}]},
 *    "out", "journal": null | {"path","step","destructive"}}
 * Nothing is changed; no journal or lock is created.  o->home may be NULL
 * (then "journal" is null).  Errors: the API server cannot be reached or
 * refuses, <name>-ca or the TenantControlPlane does not exist.  A plan a
 * real run would refuse (no worker VM pods found) is still returned, with
 * workers.refused set. */
int hsmca_tenant_plan(const hsmca_tenant_opts *o, json_object **plan, hsmca_error *err);

/* Run the rotation, or continue a journaled one (resume).  Without resume,
 * an unfinished journal is an error that says to resume or abort; with
 * resume, a missing journal is an error.  On resume the journal's method,
 * Kamaji namespace and output path are used (a different explicit method
 * is an error; an explicit o->out replaces the journal's).  *res is filled
 * as far as the run got, also on error.  The state directory must exist
 * and be an hsmca state directory (hsmca.yaml): it holds the journal and
 * the audit log.  Errors leave the journal in place for resume and say
 * which step failed. */
int hsmca_tenant_rotate(const hsmca_tenant_opts *o, bool resume, hsmca_tenant_result *res,
			hsmca_error *err);

/* Clear an unfinished rotation's journal when nothing destructive was done
 * yet (the journal is kept as aborted-<time>.jsonl beside it).  If the
 * deletion (or annotation) was already journaled as begun, refuses: Kamaji
 * is regenerating the tenant's Secrets and that cannot be undone; resume is
 * the way on.  `msg` receives one line saying what was done. */
int hsmca_tenant_abort(const hsmca_tenant_opts *o, char *msg, size_t msglen, hsmca_error *err);

#endif
