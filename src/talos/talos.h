/* Talos API client: gRPC over HTTP/2 + mutual TLS, through libcurl.
 *
 * Three calls are implemented, each by its full method path and hand-encoded
 * protobuf (field numbers in docs/talos-client.md):
 *   /machine.MachineService/Version
 *   /cosi.resource.State/Get  (namespace config, MachineConfigs.config.talos.dev, v1alpha1)
 *   /machine.MachineService/ApplyConfiguration
 *
 * Credentials come from a talosconfig and stay in memory: the client
 * certificate and key are handed to libcurl as blobs, never written to disk.
 * The server certificate is always verified against the talosconfig `ca`
 * (and nothing else), with the endpoint's host as the name: Talos node
 * certificates carry IP SANs, so connect to the node IP.
 *
 * Every call opens a FRESH TLS connection with a full handshake (no
 * connection reuse, no TLS session resumption) unless the client was told
 * otherwise with hsmca_talos_client_set_reuse(): apid only checks its
 * client-CA set on new handshakes, so proving that a credential is refused
 * needs a new one.
 *
 * Retries: gRPC UNAVAILABLE and transport failures (connection refused,
 * reset) are retried with exponential backoff (100 ms doubling, at most 5 s
 * apart) until the client's deadline (default 30 s, or the environment
 * variable HSMCA_TALOS_DEADLINE, e.g. "5" or "5s", read by
 * hsmca_talos_client_new).  Every other outcome ends the call.  When the
 * deadline passes while retrying, the error is the last retried failure
 * ("... (still failing after N attempts in T s)"), also when the deadline
 * cut the last attempt short: a node that stays down reads UNAVAILABLE (or
 * HSMCA_TALOS_E_UNREACHABLE) whether the deadline falls in a backoff or in
 * an attempt.  DEADLINE_EXCEEDED means the first attempt did not end in time.
 *
 * Errors read "<method> on <endpoint>[ (node <n>)]: <STATUS_NAME>: <message>",
 * e.g. "apply config on 127.0.0.1:50001: PERMISSION_DENIED: not authorized",
 * and set err->code to the gRPC status (1..16) or one of HSMCA_TALOS_E_*.
 *
 * Nothing here logs; configuration bytes are never put in error messages and
 * every buffer that held them is wiped before it is freed.
 *
 * Thread safety: a client is used by one thread at a time; creds may be
 * shared read-only.  Call curl_global_init() once before using threads
 * (hsmca_talos_client_new does it on first use otherwise). */
#ifndef HSMCA_TALOS_TALOS_H
#define HSMCA_TALOS_TALOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* err->code values besides gRPC statuses (1..16). */
enum {
	/* The node refused our client certificate: TLS handshake failed after
	 * we presented it (a certificate alert, or the connection closed
	 * before the node sent anything).  Not retried. */
	HSMCA_TALOS_E_TLS_REFUSED = 1001,
	/* TCP connection failed (refused, unreachable) until the deadline. */
	HSMCA_TALOS_E_UNREACHABLE = 1002,
	/* The node's certificate did not verify against the talosconfig ca. */
	HSMCA_TALOS_E_SERVER_CERT = 1003,
	/* Another TLS / HTTP/2 failure, retried until the deadline. */
	HSMCA_TALOS_E_TRANSPORT = 1004,
	/* The response was not well-formed gRPC / protobuf. */
	HSMCA_TALOS_E_PROTOCOL = 1005,
	/* Bad arguments or local setup (bad endpoint, bad credentials). */
	HSMCA_TALOS_E_LOCAL = 1006,
};

/* gRPC status codes used by callers. */
enum {
	HSMCA_GRPC_OK = 0,
	HSMCA_GRPC_INVALID_ARGUMENT = 3,
	HSMCA_GRPC_DEADLINE_EXCEEDED = 4,
	HSMCA_GRPC_NOT_FOUND = 5,
	HSMCA_GRPC_PERMISSION_DENIED = 7,
	HSMCA_GRPC_FAILED_PRECONDITION = 9,
	HSMCA_GRPC_UNIMPLEMENTED = 12,
	HSMCA_GRPC_INTERNAL = 13,
	HSMCA_GRPC_UNAVAILABLE = 14,
};

/* ApplyConfiguration modes (machine.ApplyConfigurationRequest.Mode). */
enum {
	HSMCA_TALOS_MODE_REBOOT = 0,
	HSMCA_TALOS_MODE_AUTO = 1,
	HSMCA_TALOS_MODE_NO_REBOOT = 2,
	HSMCA_TALOS_MODE_STAGED = 3,
	HSMCA_TALOS_MODE_TRY = 4,
};

#define HSMCA_TALOS_DEFAULT_PORT        50000
#define HSMCA_TALOS_DEFAULT_DEADLINE_MS 30000u

/* Talos API credentials, PEM, each NUL-terminated (len excludes the NUL).
 * key_pem is PKCS#8/SEC1 PEM that OpenSSL reads: a talosconfig's
 * "ED25519 PRIVATE KEY" label is already relabelled "PRIVATE KEY". */
struct hsmca_talos_creds {
	char *ca_pem;
	size_t ca_len;
	char *crt_pem;
	size_t crt_len;
	char *key_pem; /* secret: wiped by hsmca_talos_creds_clear */
	size_t key_len;
};

/* Read a talosconfig (YAML: context, contexts.<name>.{endpoints, nodes, ca,
 * crt, key}, the last three base64 PEM) and fill *out with the chosen
 * context's credentials (`context` NULL = the file's current context).
 * If endpoints / nodes are not NULL they receive NULL-terminated string
 * arrays (possibly empty), freed with hsmca_talos_strv_free().  The file
 * buffer is wiped after parsing.  Checks that the key matches the
 * certificate.  Errors name the file and field, never key bytes.
 * On failure nothing is returned and *out is left zeroed. */
int hsmca_talos_creds_from_talosconfig(const char *path, const char *context,
				       struct hsmca_talos_creds *out, char ***endpoints,
				       char ***nodes, hsmca_error *err);

/* Same from PEM strings already in memory (copied; key relabelled). */
int hsmca_talos_creds_from_pem(const char *ca_pem, const char *crt_pem, const char *key_pem,
			       struct hsmca_talos_creds *out, hsmca_error *err);

/* Wipe the key, free everything, zero the struct.  NULL-safe. */
void hsmca_talos_creds_clear(struct hsmca_talos_creds *c);

/* Free a NULL-terminated string array.  NULL-safe. */
void hsmca_talos_strv_free(char **v);

typedef struct hsmca_talos_client hsmca_talos_client;

/* A client for one endpoint: "host", "host:port", "[v6]" or "[v6]:port"
 * (default port 50000).  The credentials are copied.  The deadline is
 * HSMCA_TALOS_DEADLINE when set (seconds, or a duration like "90s"),
 * else 30 s; an unparsable variable is an error. */
int hsmca_talos_client_new(const struct hsmca_talos_creds *c, const char *endpoint,
			   hsmca_talos_client **out, hsmca_error *err);

/* Wipe the client's copy of the key and free it.  NULL-safe. */
void hsmca_talos_client_free(hsmca_talos_client *cl);

/* Deadline for each call including its retries, in milliseconds (> 0). */
void hsmca_talos_client_set_deadline(hsmca_talos_client *cl, unsigned ms);

/* Keep one connection across calls (off by default: every call does a new
 * TLS handshake).  TLS session resumption stays off either way. */
void hsmca_talos_client_set_reuse(hsmca_talos_client *cl, bool reuse);

/* The "host:port" this client talks to. */
const char *hsmca_talos_client_endpoint(const hsmca_talos_client *cl);

/* MachineService/Version of the endpoint, or of `node` through it (node
 * metadata: IP or hostname, no port; NULL = the endpoint itself).  Writes
 * the version tag ("v1.14.0") into tag. */
int hsmca_talos_version(hsmca_talos_client *cl, const char *node, char *tag, size_t taglen,
			hsmca_error *err);

/* Read the node's machine config (all documents) through COSI State/Get.
 * Needs role os:admin.  *yaml is NUL-terminated one past *len and holds the
 * node's private keys: the caller must hsmca_wipe(*yaml, *len) and free()
 * it. */
int hsmca_talos_get_machine_config(hsmca_talos_client *cl, const char *node, uint8_t **yaml,
				   size_t *len, hsmca_error *err);

/* ApplyConfiguration with the whole config `yaml` (every document) and
 * `mode` (HSMCA_TALOS_MODE_NO_REBOOT for hsmca).  The request buffer is
 * wiped after the call; `yaml` is not touched. */
int hsmca_talos_apply_config(hsmca_talos_client *cl, const char *node, const uint8_t *yaml,
			     size_t len, int mode, hsmca_error *err);

/* "UNAVAILABLE" etc. for a gRPC status, "UNKNOWN_STATUS" otherwise. */
const char *hsmca_talos_status_name(unsigned long code);

#endif
