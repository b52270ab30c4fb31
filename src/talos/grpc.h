/* gRPC unary calls over libcurl HTTP/2 + mutual TLS: the transport under
 * the Talos client (internal to src/talos/; see docs/talos-client.md). */
#ifndef HSMCA_TALOS_GRPC_H
#define HSMCA_TALOS_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/curl_dl.h"

#include "common/error.h"
#include "talos/pb.h"
#include "talos/talos.h"

/* What one HTTP/2 exchange saw; lives in the client so the OpenSSL message
 * callback's argument stays valid for a reused connection. */
struct hsmca_talos_attempt {
	struct hsmca_talos_pbuf body;
	bool body_too_large;
	int grpc_status; /* -1 until a grpc-status header or trailer */
	char grpc_message[512];
	bool cert_sent;    /* we sent our certificate in the handshake */
	bool server_spoke; /* the server sent something after checking it */
	int alert;         /* fatal alert received from the server, -1 none */
	char errbuf[CURL_ERROR_SIZE];
};

struct hsmca_talos_client {
	struct hsmca_talos_creds creds;
	char endpoint[300]; /* host:port, as shown in messages */
	char url_base[320]; /* https://host:port */
	unsigned deadline_ms;
	bool reuse;
	CURL *easy; /* kept between calls only with reuse */
	struct hsmca_talos_attempt att;
};

/* Set the message, then err->code (hsmca_error_set clears the code).
 * Returns -1. */
int hsmca_talos_seterr(hsmca_error *err, unsigned long code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Drop (wiping) what the last exchange received. */
void hsmca_talos_grpc_reset(struct hsmca_talos_attempt *a);

/* One unary call to `path` ("/machine.MachineService/Version") with the
 * protobuf request `req`, optional `node` metadata, retried as talos.h says
 * until the client's deadline.  On success *msg and *msglen point at the
 * response message inside cl->att.body, valid until the next call; callers
 * that got secrets wipe it with hsmca_talos_grpc_reset().  On failure err
 * reads "<what> on <endpoint>[ (node n)]: ..." with err->code set. */
int hsmca_talos_grpc_unary(hsmca_talos_client *cl, const char *what, const char *path,
			   const char *node, const struct hsmca_talos_pbuf *req,
			   const uint8_t **msg, size_t *msglen, hsmca_error *err);

#endif
