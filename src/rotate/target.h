/* What the rotation driver needs from the system whose access CA it rotates.
 *
 * The driver (steps.c) knows steps, journal, token and talm files; a target
 * knows how to reach one node, how to make it trust or distrust a CA
 * certificate, and how to write a client credential file.  The Talos API is
 * the first target (target_talos.c); the Kubernetes API can plug in with the
 * same operations (cluster.acceptedCAs on the nodes, a kubeconfig as the
 * credential file).
 *
 * Credentials are opaque (`void *`): the target loads them from its
 * credential file or builds them from PEM strings held in memory, and frees
 * them (wiping the key).  Every operation opens fresh connections, so a
 * refusal reported by `probe` is the node's current decision.  All
 * operations are called from worker threads, one node per thread at a time;
 * they must not print.  Errors never quote configuration bytes or keys. */
#ifndef HSMCA_ROTATE_TARGET_H
#define HSMCA_ROTATE_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "rotate/rotate.h"
#include "talos/mconfig.h"

/* err->code of probe_direct: no direct route to the node. */
#define HSMCA_ROT_E_NO_DIRECT 2001

struct hsmca_rot_target {
	const char *name;           /* "talos", "kubernetes" */
	const char *title;          /* "Talos API", "Kubernetes API" */
	const char *client_profile; /* profile of the credential file's certificate */
	const char *client_cn;
	const char *probe_profile;  /* least-privileged profile that can call probe */
	const char *cred_kind;      /* "talosconfig" */
	/* How long a node may take to act on a trust change (apid reloads at
	 * once; Talos restarts kube-apiserver to give it a new bundle). */
	unsigned settle_seconds;

	/* Credentials from the credential file at `path` (plan->context). */
	int (*creds_load)(const struct hsmca_rot_plan *p, const char *path, void **creds,
			  hsmca_error *err);
	/* Credentials from PEM in memory (the key is copied, not kept). */
	int (*creds_from_pem)(const char *ca_pem, const char *crt_pem, const char *key_pem,
			      void **creds, hsmca_error *err);
	void (*creds_free)(void *creds);
	/* The client certificate PEM inside (to find out who issued it). */
	const char *(*creds_cert)(const void *creds);
	/* The CA bundle PEM that verifies nodes (talosconfig `ca`). */
	const char *(*creds_ca)(const void *creds);
	/* Write the credential file atomically, 0600 (plan: context, endpoints,
	 * nodes, node CA). */
	int (*creds_write)(const struct hsmca_rot_plan *p, const char *path, const char *crt_pem,
			   const char *key_pem, hsmca_error *err);

	/* Authenticated no-op call (Version); `info` gets e.g. the version tag. */
	int (*probe)(const struct hsmca_rot_node *n, const void *creds, char *info, size_t infolen,
		     hsmca_error *err);
	/* The same on a fresh DIRECT TLS connection to the node's own apid (a
	 * proxied probe shows only what the endpoint accepts).  Fails with
	 * err->code HSMCA_ROT_E_NO_DIRECT when the node cannot be dialled
	 * directly; NULL when probe is always direct. */
	int (*probe_direct)(const struct hsmca_rot_node *n, const void *creds, char *info,
			    size_t infolen, hsmca_error *err);
	/* Whether a failed probe means the node refused the client certificate. */
	bool (*is_refusal)(const hsmca_error *err);
	/* Add (or remove) `ca_pem` in the node's accepted CAs: read the config,
	 * check the node's role against n->role, edit, apply without reboot
	 * when it changed, read back, and confirm with a probe using the same
	 * credentials.  *changed says whether the node's config changed. */
	int (*set_trust)(const struct hsmca_rot_node *n, const void *creds, const char *ca_pem,
			 bool add, bool *changed, hsmca_error *err);
	/* Read-only view for the dry run: version, role, accepted CAs. */
	int (*inspect)(const struct hsmca_rot_node *n, const void *creds, const char *old_pem,
		       const char *new_pem, struct hsmca_rot_node_view *v, hsmca_error *err);
	/* Keep the accepted CA in the node's talm file (so `talm apply` keeps it). */
	int (*file_trust)(const char *path, const char *ca_pem, bool add, bool *changed,
			  hsmca_error *err);
};

extern const struct hsmca_rot_target hsmca_rot_target_talos;
/* The Kubernetes API of a Talos cluster (target_kube.c): the accepted CAs
 * are edited on the control-plane nodes through the Talos API, the probe
 * and the credential file (a kubeconfig) speak to each node's API server. */
extern const struct hsmca_rot_target hsmca_rot_target_kube;

/* The Talos side of set_trust / inspect for either accepted-CA list;
 * `creds` are struct hsmca_talos_creds. */
int hsmca_rot_talos_set_trust(const struct hsmca_rot_node *n, const void *creds,
			      enum hsmca_mconfig_target which, const char *ca_pem, bool add,
			      bool *changed, hsmca_error *err);
int hsmca_rot_talos_inspect(const struct hsmca_rot_node *n, const void *creds,
			    enum hsmca_mconfig_target which, const char *old_pem, const char *new_pem,
			    struct hsmca_rot_node_view *v, hsmca_error *err);

/* The target named `name`, or NULL. */
const struct hsmca_rot_target *hsmca_rot_target_find(const char *name);

#endif
