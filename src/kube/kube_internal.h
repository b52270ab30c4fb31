/* Internal helpers of the kube module: base64, a small YAML tree that wipes
 * its scalars, and the exec credential plugin runner.  Not for other modules. */
#ifndef HSMCA_KUBE_INTERNAL_H
#define HSMCA_KUBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

/* ---- base64 (standard alphabet; whitespace skipped when decoding) ---- */

#include "common/b64.h" /* base64, shared with the Talos client */

/* ---- YAML: a tree whose scalars are wiped when it is freed ---- */

enum kyaml_kind { KYAML_SCALAR, KYAML_SEQ, KYAML_MAP };

struct kyaml {
	enum kyaml_kind kind;
	unsigned line;      /* 1-based */
	char *value;        /* scalars: NUL-terminated text */
	size_t len;
	bool plain;         /* scalars: unquoted */
	size_t n, cap;      /* sequences: items; mappings: keys[i] -> items[i] */
	struct kyaml **keys;
	struct kyaml **items;
};

/* Parse one YAML document (aliases refused, duplicate keys refused, depth
 * and node count bounded).  Errors read "<name>:<line>: <why>".  libyaml's
 * input buffers and every scalar it hands over are wiped. */
int kyaml_load(const void *buf, size_t len, const char *name, struct kyaml **out,
	       hsmca_error *err);
void kyaml_free(struct kyaml *n); /* wipes scalars; NULL accepted */
const struct kyaml *kyaml_get(const struct kyaml *map, const char *key);
/* A scalar's text (NULL for a missing node, a null scalar or a collection). */
const char *kyaml_str(const struct kyaml *n);

/* ---- exec credential plugins ---- */

struct kube_exec {
	char *api_version;  /* client.authentication.k8s.io/v1 or /v1beta1 */
	char *command;      /* as written in the kubeconfig */
	char *path;         /* what is spawned: absolute/relative path, or NULL for a PATH search */
	char **argv;        /* NULL-terminated; argv[0] = command */
	char **env;         /* NULL-terminated "NAME=value" added to the environment */
	bool provide_cluster_info;
	bool interactive_always;
};

struct kube_exec_cluster {  /* what provideClusterInfo passes to the plugin */
	const char *server;
	const char *tls_server_name;
	const uint8_t *ca_pem;
	size_t ca_len;
};

struct kube_exec_result {
	char *token;        /* secret */
	uint8_t *cert_pem;
	size_t cert_len;
	uint8_t *key_pem;   /* secret */
	size_t key_len;
	time_t expiry;      /* 0: does not expire */
};

void kube_exec_free(struct kube_exec *ex);
/* Run the plugin (no shell; stdin /dev/null; stdout bounded to 1 MiB;
 * killed after timeout_ms) and read its ExecCredential. */
int kube_exec_run(const struct kube_exec *ex, const struct kube_exec_cluster *cl,
		  int timeout_ms, struct kube_exec_result *res, hsmca_error *err);
void kube_exec_result_clear(struct kube_exec_result *res);

/* Parse an RFC 3339 timestamp with optional fraction and Z or ±hh:mm. */
int kube_parse_rfc3339(const char *s, time_t *out);

/* Monotonic milliseconds. */
int64_t kube_now_ms(void);

/* Wipe a NUL-terminated string and free it. */
void kube_free_secret_str(char *s);
/* Wipe len bytes and free. */
void kube_free_secret(void *p, size_t len);

#endif
