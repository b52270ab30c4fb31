/* Fuzz gRPC response handling below the protobuf: header and trailer lines
 * (grpc-status, percent-encoded grpc-message), the body as libcurl hands it
 * over in pieces, and the 5-byte message framing.  src/talos/grpc.c is
 * included because these are its static callbacks.  Input: header lines,
 * then "\n----\n", then the body; the first body byte sets the piece size. */
#include "../../src/talos/grpc.c"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmca_talos_attempt *a;
	const uint8_t *body, *msg;
	size_t hlen, blen, i, piece, msglen;
	hsmca_error err;

	if (size > 1024 * 1024)
		return 0;
	a = calloc(1, sizeof(*a));
	if (!a)
		return 0;
	a->grpc_status = -1;
	fuzz_split(data, size, &hlen, &body, &blen);
	for (i = 0; i < hlen;) {
		const uint8_t *nl = memchr(data + i, '\n', hlen - i);
		size_t n = nl ? (size_t)(nl - (data + i)) + 1 : hlen - i;
		char *line = malloc(n);

		/* libcurl's buffer is not NUL-terminated: copy so ASan sees overreads. */
		if (!line)
			break;
		memcpy(line, data + i, n);
		on_header(line, 1, n, a);
		free(line);
		i += n;
	}
	if (strlen(a->grpc_message) >= sizeof(a->grpc_message))
		__builtin_trap();
	piece = blen ? (size_t)body[0] + 1 : 1;
	for (i = 0; i < blen; i += piece) {
		size_t n = blen - i < piece ? blen - i : piece;
		char *chunk = malloc(n);

		if (!chunk)
			break;
		memcpy(chunk, body + i, n);
		if (on_body(chunk, 1, n, a) != n) {
			free(chunk);
			break;
		}
		free(chunk);
	}
	if (unframe_response(&a->body, &msg, &msglen, &err) == 0 &&
	    (msg < a->body.p || msg + msglen != a->body.p + a->body.len))
		__builtin_trap();
	hsmca_talos_grpc_reset(a);
	free(a);
	return 0;
}
