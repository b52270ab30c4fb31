/* CA rotation driver: a crash-safe, journaled rotation of the access CA
 * that a cluster API accepts for client authentication (docs/rotation.md).
 *
 * The access CA lives in the token; nodes only ever receive its
 * certificate.  A rotation runs seven steps, each journaled before and
 * after and each idempotent:
 *
 *   1 prepare        new key in the token, new self-signed access CA
 *   2 trust-new      every node accepts the new CA (control planes first)
 *   3 issue          new client credential (talosconfig) signed by the new
 *                    CA; talm node files carry the new accepted CA
 *   4 verify-new     every node accepts the new credential (fresh TLS)
 *   5 distrust-old   the old CA is removed from every node and node file
 *   6 prove-revoked  a credential of the old CA is refused by every node
 *   7 retire         the old key is destroyed in the token
 *
 * State directory layout (all public material; see docs/rotation.md):
 *   <home>/rotate/lock               flock: one rotation at a time
 *   <home>/rotate/journal            the active rotation (JSON lines)
 *   <home>/rotate/history/<id>.journal  finished or aborted rotations
 *   <home>/cas/<base>-g<N>/          one CA per generation (ca.h)
 *   <home>/cas/<base>-g<N>/retired.json  written when its key is destroyed
 *   <home>/<target>/access-ca        the name of the current access CA
 *   <home>/<target>/cluster.json     endpoints, nodes and node CA of the
 *                                    last issued credential
 *
 * The library never prints: progress goes to the caller's event callback,
 * results come back in structs.  Thread safety: a hsmca_rot handle belongs
 * to one thread (it runs its own node workers internally). */
#ifndef HSMCA_ROTATE_ROTATE_H
#define HSMCA_ROTATE_ROTATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/error.h"
#include "state/session.h"

enum hsmca_rot_step {
	HSMCA_ROT_PREPARE,
	HSMCA_ROT_TRUST_NEW,
	HSMCA_ROT_ISSUE,
	HSMCA_ROT_VERIFY_NEW,
	HSMCA_ROT_DISTRUST_OLD,
	HSMCA_ROT_PROVE_REVOKED,
	HSMCA_ROT_RETIRE,
	HSMCA_ROT_NSTEPS
};

/* "prepare", "trust-new", ... ; NULL for an out-of-range value. */
const char *hsmca_rot_step_name(enum hsmca_rot_step s);
/* One line saying what the step does. */
const char *hsmca_rot_step_title(enum hsmca_rot_step s);
/* Step by name ("trust-new") or number ("2"); -1 if unknown. */
int hsmca_rot_step_parse(const char *s);

enum hsmca_rot_role { HSMCA_ROT_CONTROLPLANE, HSMCA_ROT_WORKER };

const char *hsmca_rot_role_name(enum hsmca_rot_role r);

struct hsmca_rot_node {
	char addr[256];         /* host or host:port the driver connects to */
	enum hsmca_rot_role role;
	char file[PATH_MAX];    /* talm node file that carries its accepted CAs, or "" */
	char role_from[64];     /* where the role came from, for the plan */
	char api[256];          /* kubernetes target: this node's kube-apiserver URL */
	char api_tls_name[254]; /* ... and the name its certificate is checked for, or "" */
	/* How the Talos API reaches it (reach.c), as talosctl does: */
	char via[1024];         /* endpoints, comma-separated, that proxy calls to it with
				 * `node: <addr>` metadata; "" = called directly at `dial` */
	char dial[256];         /* where a direct TLS connection goes (its own apid) */
};

/* What the command line gathered.  NULL-terminated string arrays; NULL = not
 * given. */
struct hsmca_rot_options {
	const char *home;         /* resolved state directory */
	const char *target;       /* "talos" or "kubernetes" */
	const char *node_file;    /* -f: a talm node file */
	const char *talosconfig;  /* --talosconfig (else the talm project's, else $TALOSCONFIG) */
	const char *output;       /* --output (default: the talosconfig, replaced in place) */
	const char *context;      /* --context (default: the talosconfig's current context) */
	const char *key_type;     /* --key-type (default ec-p256) */
	const char *base_name;    /* CA base name (default "<target>-access") */
	char **nodes;             /* --nodes */
	char **endpoints;         /* --endpoints */
	char **cp_nodes;          /* --control-plane-nodes */
	char **worker_nodes;      /* --worker-nodes */
	unsigned parallel;        /* nodes worked on at once (0 = default 3) */
	/* kubernetes target only */
	const char *kubeconfig;   /* --kubeconfig (else the talm project's, else $KUBECONFIG) */
	const char *kube_context; /* --kube-context (default: its current-context) */
	const char *k8s_endpoint; /* --k8s-endpoint: server of the new kubeconfig */
	char **k8s_apis;          /* --k8s-node-endpoints: one URL per control plane */
};

#define HSMCA_ROT_MAX_NODES 256

/* A rotation plan: everything the steps need, fixed when the rotation
 * begins and kept in the journal header, so that --resume does the same. */
struct hsmca_rot_plan {
	char id[64];
	char target[16];
	char created[32];
	char base_name[48];
	char old_ca[64];         /* "" = first adoption: no hsmca access CA yet */
	char new_ca[64];
	char key_type[16];
	char new_key_label[129];
	char talosconfig[PATH_MAX]; /* credentials used for steps 1-2 */
	char output[PATH_MAX];      /* the new credentials (steps 3-6) */
	char context[128];
	char project[PATH_MAX];     /* talm project root, or "" */
	char **endpoints;           /* written into the new talosconfig */
	char **tc_nodes;            /* its `nodes` */
	char *node_ca_pem;          /* talosconfig `ca`: verifies node server certificates */
	char current_issuer[96];    /* who signed the current credential: "machine CA", CA name, "unknown" */
	struct hsmca_rot_node *nodes; /* control planes first, then workers */
	size_t n_nodes;
	unsigned parallel;
	/* kubernetes target: node_ca_pem is the API server's serving CA (the
	 * kubeconfig's certificate-authority-data), talosconfig and context
	 * reach the nodes' Talos API (cluster.acceptedCAs), output is the new
	 * kubeconfig. */
	char kubeconfig[PATH_MAX];  /* the kubeconfig the rotation starts from */
	char kube_context[128];
	char k8s_endpoint[256];
	char kube_tls_name[254];    /* the kubeconfig's tls-server-name, kept; "" if none */
};

/* The credential file a rotation starts from: the talosconfig, or the
 * kubeconfig for the kubernetes target. */
const char *hsmca_rot_plan_input(const struct hsmca_rot_plan *p);

/* Build the plan from the options: node list and roles (explicit lists, else
 * the talm project's node files; never from cluster membership), talosconfig
 * paths and context, current and next access CA generation.  Reads files
 * only; changes nothing.  Errors name what is missing or contradictory. */
int hsmca_rot_plan_build(const struct hsmca_rot_options *o, struct hsmca_rot_plan *plan,
			 hsmca_error *err);
void hsmca_rot_plan_free(struct hsmca_rot_plan *plan);

/* ---- progress ---- */

enum hsmca_rot_ev_kind {
	HSMCA_ROT_EV_STEP_BEGIN,
	HSMCA_ROT_EV_STEP_END,
	HSMCA_ROT_EV_STEP_SKIP,  /* nothing to do; text says why */
	HSMCA_ROT_EV_NODE_BEGIN,
	HSMCA_ROT_EV_NODE_END,   /* text: what was done */
	HSMCA_ROT_EV_NODE_FAIL,  /* text: the error */
	HSMCA_ROT_EV_NOTE,       /* text */
};

struct hsmca_rot_event {
	enum hsmca_rot_ev_kind kind;
	int step;           /* enum hsmca_rot_step, -1 for abort notes */
	int node;           /* index in plan->nodes, -1 if none */
	const char *addr;   /* the node's address, or NULL */
	const char *role;   /* "controlplane" / "worker", or NULL */
	const char *text;   /* never holds secrets */
	size_t done, total; /* nodes finished in this step so far / in all */
};

/* Called from the driver's threads, one call at a time (serialised). */
struct hsmca_rot_events {
	void (*fn)(void *arg, const struct hsmca_rot_event *ev);
	void *arg;
};

/* ---- preview (dry run) ---- */

struct hsmca_rot_node_view {
	bool reachable;
	char version[64];
	char live_type[32];   /* machine.type read from the node */
	bool role_ok;
	size_t n_accepted;    /* entries in the accepted-CA list */
	bool trusts_old, trusts_new;
	char reach[320];      /* "direct at …" / "through <endpoint> (node metadata …)" */
	bool direct;          /* a fresh direct TLS connection works: the proofs use it;
			       * else they read the node's config back */
	char error[512];
};

struct hsmca_rot_ca_view {
	bool exists;
	char name[64];
	char subject[512];
	char fingerprint[96];
	char key_label[129];
	char key_uri[1024];
	char key_type[16];
	char not_before[21], not_after[21];
	bool key_present;     /* found in the token and matching the certificate */
};

struct hsmca_rot_preview {
	struct hsmca_rot_ca_view old_ca, new_ca; /* new_ca.exists = false before step 1 */
	char new_validity[32];
	struct hsmca_rot_node_view *nodes;       /* plan->n_nodes entries */
	char **files;                            /* every file a real run writes */
	size_t n_files;
	bool ok;                                 /* nothing in the preview blocks a real run */
	char problem[1024];                      /* the first reason why not */
};

/* What a real run would do, without changing anything: loads the current
 * access CA and looks for its key in the token (login needed), checks the
 * new key label is free, connects to every node with the current
 * credentials (Version, machine config read — kept in memory and wiped —
 * for the role and the accepted CAs).  Nothing is written: no journal, no
 * lock file, no audit line, no token object. */
int hsmca_rot_preview(struct hsmca_session *s, const struct hsmca_rot_plan *plan,
		      struct hsmca_rot_preview *out, hsmca_error *err);
void hsmca_rot_preview_free(struct hsmca_rot_preview *p);

/* ---- running ---- */

typedef struct hsmca_rot hsmca_rot;

/* Take the rotation lock (refused while another process holds it) and
 * start a journal for `plan` (refused while an unfinished journal exists:
 * resume or abort it).  The plan is copied. */
int hsmca_rot_begin(const char *home, const struct hsmca_rot_plan *plan, hsmca_rot **out,
		    hsmca_error *err);

/* Take the lock and load the unfinished journal (error if there is none). */
int hsmca_rot_open(const char *home, hsmca_rot **out, hsmca_error *err);

/* Release the lock and free.  NULL-safe. */
void hsmca_rot_close(hsmca_rot *r);

const struct hsmca_rot_plan *hsmca_rot_get_plan(const hsmca_rot *r);

/* Run every step not yet done, in order.  On success the journal is moved
 * to history and 0 is returned.  On failure the journal stays (resume with
 * hsmca_rot_open + hsmca_rot_run) and err names the step, the node and the
 * call.  The session must be logged in.  Fault injection: HSMCA_FAULT
 * (docs/rotation.md) kills the process with SIGKILL at the named point. */
int hsmca_rot_run(hsmca_rot *r, struct hsmca_session *s, const struct hsmca_rot_events *ev,
		  hsmca_error *err);

/* What an abort did, one line each (no secrets). */
struct hsmca_rot_abort_report {
	char lines[32][256];
	size_t n;
};

/* Roll back what can be rolled back: allowed until step 5 begins.  Removes
 * the new CA from the nodes and node files, restores a talosconfig signed
 * by the old access CA if step 3 had replaced it, destroys the new key and
 * marks the new CA retired.  On a first adoption whose talosconfig was
 * already replaced the nodes keep the new CA (removing it would lock the
 * operator out); the report says so.  The journal then moves to history. */
int hsmca_rot_abort(hsmca_rot *r, struct hsmca_session *s, const struct hsmca_rot_events *ev,
		    struct hsmca_rot_abort_report *rep, hsmca_error *err);

/* ---- status ---- */

enum hsmca_rot_step_state { HSMCA_ROT_ST_PENDING, HSMCA_ROT_ST_BEGUN, HSMCA_ROT_ST_DONE };

struct hsmca_rot_status {
	bool active;            /* an unfinished journal exists */
	bool running;           /* another process holds the lock */
	long lock_pid;          /* as written in the lock file, 0 if unknown */
	struct hsmca_rot_plan plan; /* of the active rotation */
	enum hsmca_rot_step_state steps[HSMCA_ROT_NSTEPS];
	size_t nodes_done[HSMCA_ROT_NSTEPS];
	bool aborting;
	char last_error[1024];  /* the last failure journaled, "" if none */
	char last_time[32];
	char current_ca[64];    /* <home>/talos/access-ca, "" if none */
	char last_finished[128]; /* newest history entry, "" if none */
};

/* Read-only: the active journal (if any), whether a process holds the lock,
 * the current access CA and the last finished rotation.  Creates nothing. */
int hsmca_rot_status(const char *home, const char *target, struct hsmca_rot_status *st,
		     hsmca_error *err);
void hsmca_rot_status_free(struct hsmca_rot_status *st);

/* ---- credentials outside a rotation ---- */

struct hsmca_rot_issued {
	char ca[64];           /* the access CA that signed it */
	char profile[64];
	char context[128];
	char subject[512];
	char serial[41];
	char not_after[21];
	char fingerprint[96];  /* SHA-256 of the certificate */
};

/* Write a talosconfig for a Talos role ("os:admin", "os:operator",
 * "os:reader", "os:etcd:backup") at `out` (0600, atomic; an existing file
 * holding other contexts is refused): a key made here in memory, its
 * certificate signed in the token by the current access CA.  Endpoints,
 * nodes and node CA come from `from_talosconfig` when given (its key is not
 * used), else from the last rotation (<home>/talos/cluster.json).
 * `context` NULL keeps that context name.  Refused while a rotation is in
 * progress.  The session must be logged in. */
int hsmca_rot_issue_config(struct hsmca_session *s, const char *role, const char *from_talosconfig,
			   const char *context, const char *out, struct hsmca_rot_issued *info,
			   hsmca_error *err);

/* What `hsmca kube issue-config` asks for. */
struct hsmca_rot_kube_request {
	const char *user;            /* CN */
	const char *const *groups;   /* O values, NULL-terminated; may be NULL */
	bool admin;                  /* profile kube-admin (O=system:masters) instead of kube-user */
	const char *server;          /* https URL; NULL = the last rotation's --k8s-endpoint */
	const char *from_kubeconfig; /* take the serving CA (and server) from it; NULL = last rotation */
	const char *context;         /* context name; NULL = "<user>@<cluster context>" */
	long validity;               /* seconds; 0 = the profile's default (1 year) */
};

/* Write a kubeconfig for one user at `out` (0600, atomic; an existing file
 * holding other contexts is refused): a key made here in memory, its
 * certificate signed in the token by the current Kubernetes access CA.
 * The serving CA comes from `from_kubeconfig` (its credentials are not
 * used) or from the last rotation (<home>/kubernetes/cluster.json).
 * Refused while a rotation is in progress.  The session must be logged in. */
int hsmca_rot_issue_kubeconfig(struct hsmca_session *s, const struct hsmca_rot_kube_request *rq,
			       const char *out, struct hsmca_rot_issued *info, hsmca_error *err);

#endif
