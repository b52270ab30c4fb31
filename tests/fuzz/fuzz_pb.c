/* Fuzz the protobuf decoder and the Talos response decoders built on it.
 * src/talos/client.c is included with hsmca_talos_grpc_unary renamed to a
 * stand-in that hands back the fuzz input as the response message, so
 * Version, machine-config Get and ApplyConfiguration decode it exactly as
 * they would a node's answer.  The walk below also visits every field of
 * every nested length-delimited field. */
#define hsmca_talos_grpc_unary fuzz_grpc_unary
#include "talos/grpc.h"

#include "../../src/talos/client.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *fuzz_msg;
static size_t fuzz_len;

/* Declared by talos/grpc.h under the renamed name. */
int fuzz_grpc_unary(hsmca_talos_client *cl, const char *what, const char *path, const char *node,
		    const struct hsmca_talos_pbuf *req, const uint8_t **msg, size_t *msglen,
		    hsmca_error *err)
{
	*msg = fuzz_msg;
	*msglen = fuzz_len;
	return 0;
}

static void walk(const uint8_t *p, size_t len, unsigned depth)
{
	const uint8_t *end = p + len;
	struct hsmca_talos_pbfield f;
	int rc;

	while ((rc = hsmca_talos_pb_next(&p, end, &f)) == 1) {
		if (p > end)
			__builtin_trap();
		if (f.wt == HSMCA_PB_LEN) {
			if (f.data < end - len || f.data + f.len > p)
				__builtin_trap();
			if (depth < 8)
				walk(f.data, f.len, depth + 1);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hsmca_talos_client *cl;
	hsmca_error err;
	const uint8_t *d;
	uint8_t *yaml = NULL;
	size_t dlen, ylen = 0;
	char tag[64];

	if (size > 1024 * 1024)
		return 0;
	walk(data, size, 0);
	(void)hsmca_talos_pb_find(data, size, 1, &d, &dlen);
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return 0;
	snprintf(cl->endpoint, sizeof(cl->endpoint), "fuzz:50000");
	cl->att.grpc_status = -1;
	fuzz_msg = data;
	fuzz_len = size;
	(void)hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err);
	(void)hsmca_talos_version(cl, "10.0.0.1", tag, 2, &err);
	if (hsmca_talos_get_machine_config(cl, NULL, &yaml, &ylen, &err) == 0)
		free(yaml);
	(void)hsmca_talos_apply_config(cl, "10.0.0.1", (const uint8_t *)"a: 1\n", 5, 0, &err);
	free(cl);
	return 0;
}
