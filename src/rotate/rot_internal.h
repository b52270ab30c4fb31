/* Shared by the files of src/rotate/ only. */
#ifndef HSMCA_ROTATE_ROT_INTERNAL_H
#define HSMCA_ROTATE_ROT_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "rotate/rotate.h"
#include "rotate/target.h"
#include "state/session.h"

/* Pseudo-step index for the nodes an abort works on (journal "abort"). */
#define HSMCA_ROT_ABORT HSMCA_ROT_NSTEPS

/* ---- journal (journal.c) ----
 *
 * <home>/rotate/journal: JSON lines, each written with one O_APPEND write
 * and fsynced before the driver goes on.  Line 1 is the plan; later lines
 * are events {"seq", "time", "ev", "step", "node", ...}:
 *   step-begin, step-end, step-skip, node-begin, node-end, fail,
 *   abort-begin, abort-node ..., abort-end, finish.
 * A last line without its newline (the process died mid-write) is ignored
 * and cut off when the journal is opened for appending. */

struct hsmca_rot_jstate {
	enum hsmca_rot_step_state steps[HSMCA_ROT_NSTEPS + 1];
	bool *node_done[HSMCA_ROT_NSTEPS + 1]; /* n_nodes each */
	size_t n_nodes;
	bool aborting, aborted, finished;
	char last_error[1024];
	char last_time[32];
	long seq;
};

struct hsmca_rot_journal {
	int fd;
	char path[PATH_MAX];
	long seq;
};

/* <home>/rotate/<name> into out. */
int hsmca_rot_path(const char *home, const char *name, char *out, size_t outlen,
		   hsmca_error *err);

/* Take <home>/rotate/lock (created 0644 with our PID): flock LOCK_EX|LOCK_NB.
 * Held is reported as "another rotation is running (pid N)". */
int hsmca_rot_lock_take(const char *home, int *fd, hsmca_error *err);
void hsmca_rot_lock_release(int fd);
/* Without creating anything: whether the lock file exists and is held by a
 * process, and the PID it records. */
int hsmca_rot_lock_probe(const char *home, bool *held, long *pid, hsmca_error *err);

/* Whether <home>/rotate/journal exists. */
bool hsmca_rot_journal_exists(const char *home);
/* Create the journal with the plan as its first line (O_EXCL). */
int hsmca_rot_journal_create(const char *home, const struct hsmca_rot_plan *plan,
			     struct hsmca_rot_journal *j, hsmca_error *err);
/* Read the journal: plan and state.  When `j` is not NULL the journal is
 * opened for appending (a torn last line is cut off first). */
int hsmca_rot_journal_load(const char *home, struct hsmca_rot_plan *plan,
			   struct hsmca_rot_jstate *st, struct hsmca_rot_journal *j,
			   hsmca_error *err);
/* Append one event (adds seq and time; `o` is consumed), and fsync when
 * `sync`.  Unsynced lines survive a crash of the process (they are in the
 * page cache) but not of the machine; the driver leaves only node-begin
 * records unsynced, which resume does not need. */
int hsmca_rot_journal_append(struct hsmca_rot_journal *j, json_object *o, bool sync,
			     hsmca_error *err);
/* Move the journal to <home>/rotate/history/<id>.journal. */
int hsmca_rot_journal_archive(struct hsmca_rot_journal *j, const char *home, const char *id,
			      hsmca_error *err);
void hsmca_rot_journal_close(struct hsmca_rot_journal *j);
void hsmca_rot_jstate_free(struct hsmca_rot_jstate *st);
/* Apply one event to the state (used by load and by the driver). */
void hsmca_rot_jstate_apply(struct hsmca_rot_jstate *st, json_object *ev);

/* ---- the plan as JSON (plan.c) ---- */

json_object *hsmca_rot_plan_to_json(const struct hsmca_rot_plan *p);
int hsmca_rot_plan_from_json(json_object *o, struct hsmca_rot_plan *p, hsmca_error *err);
/* The current context name of a talosconfig. */
int hsmca_rot_talosconfig_context(const char *path, char *out, size_t outlen, hsmca_error *err);
/* Deep copy. */
int hsmca_rot_plan_copy(struct hsmca_rot_plan *dst, const struct hsmca_rot_plan *src,
			hsmca_error *err);

/* Kubernetes target (plan_kube.c): kubeconfig, kube context, API server per
 * control plane (workers are dropped), serving CA, endpoint; reads files
 * only.  Needs p->project, p->nodes and p->old_ca. */
int hsmca_rot_plan_kube(const struct hsmca_rot_options *o, struct hsmca_rot_plan *p,
			hsmca_error *err);

/* ---- how nodes are reached (reach.c) ----
 * For every node: direct (its address carries a port, or it is itself one
 * of the endpoints) at `dial`; otherwise through the endpoints in `via`
 * with `node: <addr>` metadata, and `dial` is its address on the default
 * port, tried only for the stronger direct proofs. */
int hsmca_rot_assign_reach(struct hsmca_rot_plan *p, char *const *endpoints, hsmca_error *err);

/* ---- access CA store (access.c) ---- */

/* <home>/<target>/access-ca: the current access CA name ("" if none). */
int hsmca_rot_current_ca(const char *home, const char *target, char name[64], hsmca_error *err);
int hsmca_rot_set_current_ca(const char *home, const char *target, const char *name,
			     hsmca_error *err);
/* <base>-g<N+1> for the highest existing generation N (g1 when none). */
int hsmca_rot_next_generation(const char *home, const char *base, char out[64], hsmca_error *err);
/* <home>/cas/<name>/retired.json (public). */
int hsmca_rot_mark_retired(const char *home, const char *ca, const char *rotation,
			   const char *reason, bool key_destroyed, hsmca_error *err);
bool hsmca_rot_is_retired(const char *home, const char *ca);
/* <home>/<target>/cluster.json: context, endpoints, nodes, node CA of the
 * last credential file written (public), for `talos issue-config`. */
int hsmca_rot_cluster_save(const char *home, const struct hsmca_rot_plan *p, hsmca_error *err);
int hsmca_rot_cluster_load(const char *home, const char *target, struct hsmca_rot_plan *p,
			   hsmca_error *err);

/* Issue a client certificate under `profile` from CA `ca`, for a key made
 * here in memory (EC P-256): *crt_pem and *key_pem are malloc'ed PEM; free
 * the key with hsmca_rot_secret_free().  Recorded and audit-logged by
 * hsmca_issue_one.  validity 0 = the profile's default. */
int hsmca_rot_issue_client(struct hsmca_session *s, const char *ca, const char *profile,
			   const char *cn, long validity, char **crt_pem, char **key_pem,
			   hsmca_error *err);
/* The same with a --subject override ("CN=…,O=…"; NULL: none), for
 * profiles that take the subject from it (kube-user groups). */
int hsmca_rot_issue_client_as(struct hsmca_session *s, const char *ca, const char *profile,
			      const char *cn, const char *subject, long validity, char **crt_pem,
			      char **key_out, hsmca_error *err);
void hsmca_rot_secret_free(char *p);
/* Whether the PEM certificate was signed by `ca` (issuer name and signature). */
bool hsmca_rot_cert_issued_by(const char *crt_pem, X509 *ca);
/* "machine CA" / the access CA name / "unknown issuer": who signed a
 * credential's certificate, for the plan. */
void hsmca_rot_describe_issuer(const char *home, const char *crt_pem, const char *node_ca_pem,
			       const char *access_ca, char *out, size_t outlen);

/* ---- fault injection (fault.c) ----
 * HSMCA_FAULT=<step>[:before|after|<node index>]: SIGKILL at that point. */
void hsmca_rot_fault(int step, const char *where);
void hsmca_rot_fault_node(int step, size_t node);

/* ---- the running rotation (steps.c) ---- */

struct hsmca_rot {
	char home[PATH_MAX];
	int lock_fd;
	struct hsmca_rot_plan plan;
	struct hsmca_rot_jstate st;
	struct hsmca_rot_journal j;
	const struct hsmca_rot_target *t;
	struct hsmca_session *s;
	const struct hsmca_rot_events *ev;
	pthread_mutex_t mu; /* journal, state and events */
};

/* Journal an event under r->mu and apply it to r->st. */
int hsmca_rot_log(struct hsmca_rot *r, const char *ev, int step, int node, const char *const *kv,
		  hsmca_error *err);
/* hsmca_rot_log, then (when it succeeded and kind >= 0) the progress event
 * of that kind, under one lock so the node count it carries matches. */
int hsmca_rot_log_emit(struct hsmca_rot *r, const char *ev, int step, int node,
		       const char *const *kv, int kind, const char *text, hsmca_error *err);
/* Send a progress event (under r->mu). */
void hsmca_rot_emit(struct hsmca_rot *r, enum hsmca_rot_ev_kind kind, int step, int node,
		    const char *text);

/* Per-node work for one step: returns 0 and a short description of what
 * was done in `done` (no secrets), or -1 with err. */
typedef int (*hsmca_rot_node_fn)(struct hsmca_rot *r, size_t i, void *arg, char *done,
				 size_t donelen, hsmca_error *err);

/* Run fn on every node not yet done in `step` (control planes first, then
 * workers, r->plan.parallel at a time), journaling node-begin / node-end
 * around each and firing the node fault point in between.  After the first
 * failure no new node is started; running ones finish.  Returns -1 with the
 * first failure in err ("<step>: node <addr>: ..."). */
int hsmca_rot_for_nodes(struct hsmca_rot *r, int step, hsmca_rot_node_fn fn, void *arg,
			hsmca_error *err);

/* Run fn(i) for i in [0, n) on up to `parallel` threads; rc[i] gets the
 * result.  Used for the read-only preview too. */
void hsmca_rot_pool(size_t n, unsigned parallel, int (*fn)(void *arg, size_t i), void *arg);

/* Seconds a node may take to apply a trust change before it is believed
 * (HSMCA_ROTATE_SETTLE, default the target's settle_seconds). */
unsigned hsmca_rot_settle_seconds(const struct hsmca_rot_target *t);

#endif
