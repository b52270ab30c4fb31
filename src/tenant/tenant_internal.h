/* Shared by the files of src/tenant/; not for other modules. */
#ifndef HSMCA_TENANT_INTERNAL_H
#define HSMCA_TENANT_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "fleet/lease.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "tenant/tenant.h"

#define TENANT_NAME_MAX 254
#define TENANT_JOURNAL_MAX (4u << 20)

/* ---- journal (journal.c) --------------------------------------------- */

struct tjournal {
	char dir[PATH_MAX];  /* <home>/tenant/<ns>-<name> */
	char path[PATH_MAX]; /* dir/journal.jsonl */
	int lock_fd;         /* -1 when not locked */
	int fd;              /* append fd, -1 until the first append */
	json_object *lines;  /* array of the lines read and appended */
};

/* Fill the paths (nothing is created). */
int tj_init(struct tjournal *j, const char *home, const char *ns, const char *name,
	    hsmca_error *err);
/* Create the directory (0700) and take the exclusive lock (non-blocking). */
int tj_lock(struct tjournal *j, hsmca_error *err);
/* Read the journal if there is one (a torn last line, from a crash in the
 * middle of a write, is dropped and cut off the file when locked). */
int tj_load(struct tjournal *j, hsmca_error *err);
bool tj_exists(const struct tjournal *j);
/* Append {"step": step, "time": now, ...fields} as one line, one write(),
 * fsynced.  `fields` (may be NULL) is consumed. */
int tj_append(struct tjournal *j, const char *step, json_object *fields, hsmca_error *err);
/* The last line with this step, or NULL.  Borrowed. */
json_object *tj_last(const struct tjournal *j, const char *step);
/* The step of the last line, or NULL. */
const char *tj_last_step(const struct tjournal *j);
/* Rename the journal to <how>-<time>.jsonl in its directory. */
int tj_close_as(struct tjournal *j, const char *how, hsmca_error *err);
/* Close fds and free lines (the lock is released). */
void tj_free(struct tjournal *j);

/* ---- the run's context ------------------------------------------------ */

struct tctx {
	const hsmca_tenant_opts *o;
	const char *name, *ns, *kns; /* name: the resolved TCP name (namebuf) */
	char namebuf[64];
	hsmca_tenant_method method;
	bool keep_fp;           /* keep the front-proxy CA (journaled on begin) */
	bool no_wait_workers;   /* await no worker VM pods (journaled on begin) */
	time_t annotate_start;  /* wall clock when annotation began (method annotate) */
	hsmca_kubeconfig *kc;   /* management cluster */
	hsmca_kube *k;
	hsmca_lease *lease;     /* the coordination Lease hsmca-rotate-<name>, while held */
	struct tjournal j;
	hsmca_audit *audit;
	hsmca_tenant_result *res;
	int64_t deadline_ms;    /* end of the wait step (monotonic ms), set when it starts */
	/* from the record-old line */
	json_object *old;       /* borrowed from the journal */
	X509 *old_ca;
	X509 *old_fp_ca;        /* NULL if the tenant had no front-proxy CA Secret */
	/* the old admin kubeconfig of this process (never written anywhere);
	 * NULL after a resume past record-old */
	hsmca_kubeconfig *old_admin;
};

void tenant_progress(struct tctx *t, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Monotonic clock in milliseconds. */
int64_t tenant_now_ms(void);
/* SIGKILL self if HSMCA_FAULT names tenant:<point>. */
void tenant_fault_point(const char *point);
/* "<name>-<suffix>" into out. */
void tenant_secret_name(const char *name, const char *suffix, char out[static TENANT_NAME_MAX]);
/* Whether the Secret hsmca_tenant_secret_suffixes[i] is replaced by this run
 * (the front-proxy CA is not with keep_front_proxy_ca). */
bool tenant_rotates(const struct tctx *t, size_t i);
/* An RFC 3339 time as Kamaji writes it (Go time.RFC3339: "Z" or a +hh:mm
 * offset, optional fraction).  -1 if it is not one. */
int tenant_parse_rfc3339(const char *s, time_t *out);
/* Whether the pod's labels satisfy "k=v[,k=v...]". */
bool tenant_labels_match(json_object *obj, const char *selector);

/* ---- Kamaji side (kamaji.c) ------------------------------------------ */

/* Label selector and name prefix of the pods of a group. */
struct tenant_pod_group {
	const char *what;      /* "Kamaji controller", "kcsi-driver", "virt-launcher" */
	const char *ns;
	char selector[320];
	char prefix[320];      /* name prefix, "" for any */
};
#define TENANT_GROUP_WORKERS 2 /* index of the virt-launcher group */
void tenant_pod_groups(const struct tctx *t, struct tenant_pod_group g[static 3]);
/* True if pod belongs to the group (selector already applied by the server). */
bool tenant_pod_in_group(const struct tenant_pod_group *g, json_object *pod);

/* GET <name>-<suffix> in the tenant namespace; NULL with *missing on 404,
 * NULL with err set on other errors. */
json_object *tenant_get_secret(struct tctx *t, const char *suffix, bool *missing,
			       hsmca_error *err);
/* GET the TenantControlPlane (a 404 says to check --name/--namespace). */
int tenant_get_tcp(struct tctx *t, json_object **out, hsmca_error *err);
/* status.kubernetesResources.version.status, or "unknown". */
const char *tenant_tcp_status(json_object *tcp);
/* Whether it carries kamaji.clastix.io/paused. */
bool tenant_tcp_paused(json_object *tcp);
/* Refuse to start on a TCP Kamaji would not (or could not yet) reconcile:
 * paused, already rotating, Sleeping (no API server runs). */
int tenant_tcp_can_start(struct tctx *t, json_object *tcp, hsmca_error *err);
/* LIST a pod group: *uids = {"<ns>/<name>": uid}; *names (if wanted) =
 * [{"name","uid","ready"}]. */
int tenant_list_group(struct tctx *t, const struct tenant_pod_group *g, json_object **uids,
		      json_object **names, hsmca_error *err);

/* SHA-256 (hex) of the first certificate in the Secret's data[key]; *ca_out
 * (may be NULL) gets the certificate. */
int tenant_cert_of_secret(json_object *secret, const char *key, char fp[static 65], X509 **ca_out,
			  hsmca_error *err);
/* The same for <name>-ca's ca.crt. */
int tenant_ca_of_secret(json_object *secret, char fp[static 65], X509 **ca_out, hsmca_error *err);
#define TENANT_FP_CA_KEY "front-proxy-ca.crt" /* kubeadm FrontProxyCACertName */
/* Resolve o->name to the TenantControlPlane name (Cozystack's
 * kubernetes-<name>) into t->namebuf / t->res->name_note. */
int tenant_resolve_name(struct tctx *t, hsmca_error *err);
/* Before a fresh run writes anything: the TCP can be rotated now and the
 * worker VM pods are found (or no_wait_workers). */
int tenant_precheck(struct tctx *t, hsmca_error *err);
/* The refusal text when no worker VM pod is found. */
void tenant_workers_refusal(const struct tctx *t, const struct tenant_pod_group *g, char *out,
			    size_t outlen);
/* Read the current state, record it in the journal, keep the old admin
 * kubeconfig in memory (t->old_admin). */
int tenant_record_old(struct tctx *t, hsmca_error *err);
/* Load t->old_ca from the record-old line. */
int tenant_load_old(struct tctx *t, hsmca_error *err);
int tenant_delete_secrets(struct tctx *t, hsmca_error *err);
int tenant_annotate(struct tctx *t, hsmca_error *err);
/* The certs.kamaji.clastix.io/rotate value of a Secret, NULL if absent. */
const char *tenant_rotate_annotation(json_object *secret);
int tenant_restart_pods(struct tctx *t, hsmca_error *err);

/* ---- dry run (plan.c) -------------------------------------------------- */

/* The plan object of hsmca_tenant_plan() without "out" and "journal". */
int tenant_plan(struct tctx *t, json_object **out, hsmca_error *err);

/* ---- waiting (wait.c) ------------------------------------------------- */

/* Watch until the rotation is complete or t->deadline_ms. */
int tenant_wait(struct tctx *t, hsmca_error *err);
/* Whether any certificate in the Secret's data (PEM, also inside kubeconfig
 * *-data fields) is issued by `ca`; names the first such key in `key`. */
bool tenant_secret_has_cert_of(json_object *secret, X509 *ca, char *key, size_t keylen);

/* ---- kubeconfig and proofs (prove.c) ----------------------------------- */

/* Fetch the new admin kubeconfig, write it 0600 to t->res->out. */
int tenant_write_kubeconfig(struct tctx *t, hsmca_error *err);
/* Prove the written kubeconfig works and the old one is refused. */
int tenant_prove(struct tctx *t, hsmca_error *err);
/* Read <name>-admin-kubeconfig's super-admin.conf (or admin.conf) and parse
 * it in memory.  *key_used names the key. */
int tenant_fetch_admin(struct tctx *t, hsmca_kubeconfig **out, const char **key_used,
		       uint8_t **raw, size_t *raw_len, hsmca_error *err);

#endif
