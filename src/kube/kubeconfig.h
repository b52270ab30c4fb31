/* kubeconfig: read one context of a kubeconfig file into memory.
 *
 * Supported: clusters[].cluster.{server, certificate-authority-data,
 * certificate-authority, tls-server-name}, users[].user.{client-certificate-data,
 * client-key-data, client-certificate, client-key, token, tokenFile, exec},
 * contexts[].context.{cluster, user, namespace}, current-context.
 * Relative file paths (and an exec command containing '/') are taken
 * relative to the kubeconfig's directory, as kubectl does.
 *
 * Refused with an error rather than silently ignored, because they would
 * weaken or change what the connection means: insecure-skip-tls-verify
 * (TLS verification is always on), a server URL that is not https, proxy-url,
 * auth-provider, username/password, impersonation (as, as-groups, as-uid),
 * the same credential given both inline and as a file, exec combined with a
 * static credential, and exec plugins with interactiveMode Always.
 * Only one file is read (no KUBECONFIG list merging).
 *
 * Keys and tokens live in memory only and are wiped on free.  Nothing here
 * prints.  A hsmca_kubeconfig is not shared between threads. */
#ifndef HSMCA_KUBE_KUBECONFIG_H
#define HSMCA_KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

#define HSMCA_KUBECONFIG_MAX (4u << 20) /* largest kubeconfig read, bytes */

struct kube_exec;

/* The selected context, resolved.  Read-only for callers; every pointer is
 * owned by the structure.  Strings are NUL-terminated; PEM buffers too (one
 * past their length). */
typedef struct hsmca_kubeconfig {
	char *context;          /* context name */
	char *cluster_name;
	char *user_name;
	char *namespace;        /* the context's namespace, or NULL */
	char *server;           /* https URL, without a trailing '/' */
	char *tls_server_name;  /* name to verify instead of the URL host, or NULL */
	uint8_t *ca_pem;        /* CA bundle; NULL means the system trust store */
	size_t ca_len;

	/* Credentials (any may be absent).  key_pem and token are secret. */
	uint8_t *cert_pem;
	size_t cert_len;
	uint8_t *key_pem;
	size_t key_len;
	char *token;
	time_t expiry;          /* exec credential expiry (UTC), 0 if none */

	struct kube_exec *exec; /* exec plugin, or NULL */
	char *dir;              /* directory of the file (relative paths) */
	int exec_timeout_ms;
} hsmca_kubeconfig;

typedef struct hsmca_kubeconfig_options {
	const char *context;    /* use this context instead of current-context (NULL: current) */
	int exec_timeout_ms;    /* exec plugin time limit; 0 means 30000 */
	bool no_exec;           /* refuse kubeconfigs that need an exec plugin */
	bool defer_exec;        /* do not run the plugin now; hsmca_kubeconfig_refresh() will */
} hsmca_kubeconfig_options;

/* Read and resolve the kubeconfig at `path` (at most HSMCA_KUBECONFIG_MAX
 * bytes).  `opt` may be NULL.  If the user has an exec plugin, it is run
 * now (unless opt->defer_exec) to obtain the credential.
 * On success *out is a new object for hsmca_kubeconfig_free().  Errors name
 * the file and line or the missing context/cluster/user. */
int hsmca_kubeconfig_load(const char *path, const hsmca_kubeconfig_options *opt,
			  hsmca_kubeconfig **out, hsmca_error *err);

/* Like hsmca_kubeconfig_load() for a kubeconfig already in memory (e.g. the
 * admin.conf of a Kamaji Secret).  `name` is used in errors; `base_dir`
 * resolves relative paths (NULL: relative paths are refused).  `buf` is not
 * kept; the caller wipes it if it was secret. */
int hsmca_kubeconfig_parse(const void *buf, size_t len, const char *name, const char *base_dir,
			   const hsmca_kubeconfig_options *opt, hsmca_kubeconfig **out,
			   hsmca_error *err);

/* Run the exec plugin again and replace the credential.  Does nothing and
 * returns 0 if the user has no exec plugin.  On error the old credential is
 * kept. */
int hsmca_kubeconfig_refresh(hsmca_kubeconfig *kc, hsmca_error *err);

/* True if the credential came from an exec plugin and expires within
 * `margin` seconds of `now`. */
bool hsmca_kubeconfig_expiring(const hsmca_kubeconfig *kc, time_t now, time_t margin);

/* Wipe the secrets and free.  NULL is accepted. */
void hsmca_kubeconfig_free(hsmca_kubeconfig *kc);

/* ---- writing (kubeconfig_write.c) ---- */

/* A one-context kubeconfig with an inline client certificate.  Names may
 * hold letters, digits and @._:-/+; server must be https. */
typedef struct hsmca_kubeconfig_spec {
	const char *name;            /* cluster and context name */
	const char *user;            /* user name */
	const char *server;
	const char *tls_server_name; /* NULL: none */
	const char *ca_pem;          /* serving CA bundle */
	const char *crt_pem;
	const char *key_pem;         /* secret */
} hsmca_kubeconfig_spec;

/* The kubeconfig text in *out (malloc'ed, holds the key: the caller wipes
 * *outlen bytes and frees). */
int hsmca_kubeconfig_render(const hsmca_kubeconfig_spec *sp, char **out, size_t *outlen,
			    hsmca_error *err);

/* Whether `path` may be replaced by a one-context kubeconfig for context
 * `name`: it does not exist, is empty, or holds no other context. */
int hsmca_kubeconfig_replace_ok(const char *path, const char *name, hsmca_error *err);

/* Render and replace `path` atomically, mode 0600.  An existing file that
 * holds a context other than sp->name is refused (it would be lost). */
int hsmca_kubeconfig_write(const char *path, const hsmca_kubeconfig_spec *sp, hsmca_error *err);

#endif
