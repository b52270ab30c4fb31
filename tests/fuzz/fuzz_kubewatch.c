/* Fuzz watch-stream framing: bytes as libcurl delivers them (in pieces of
 * any size) split into newline-delimited events, each parsed and applied to
 * the watched set (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR).  Its callbacks are
 * static, so src/kube/kubewatch.c is included; the response code libcurl
 * would report comes from a stand-in getinfo.  The first byte sets the piece
 * size and the HTTP status (200 or an error answer). */
#include <stdarg.h>

#include "../../src/kube/kubewatch.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long fuzz_code;

static CURLcode fuzz_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;

	va_start(ap, info);
	if (info == CURLINFO_RESPONSE_CODE)
		*va_arg(ap, long *) = fuzz_code;
	va_end(ap);
	return CURLE_OK;
}

static int on_change(void *arg, const char *type, json_object *object, json_object *current,
		     hsmca_error *err)
{
	unsigned *calls = arg;

	/* Stop after a few events, as a met condition would. */
	return ++*calls >= 64 ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hsmca_kube k = { 0 };
	hsmca_kube_watch_stats st = { 0 };
	struct wctx w = { 0 };
	hsmca_error err;
	unsigned calls = 0;
	size_t i, piece;

	if (size < 1 || size > 1024 * 1024)
		return 0;
	hsmca_curl.easy_getinfo = fuzz_getinfo;
	fuzz_code = (data[0] & 0x80) ? 500 : 200;
	piece = (size_t)(data[0] & 0x7f) + 1;
	data++;
	size--;
	k.opt.max_response = 64 * 1024;
	w.k = &k;
	w.desc = "watch fuzz";
	w.fn = on_change;
	w.arg = &calls;
	w.cache = json_object_new_object();
	w.st = &st;
	w.err = &err;
	w.line.max = k.opt.max_response;
	w.errbody.max = k.opt.max_response;
	if (!w.cache)
		return 0;
	for (i = 0; i < size && w.done == 0 && !w.expired; i += piece) {
		size_t n = size - i < piece ? size - i : piece;
		char *chunk = malloc(n);

		if (!chunk)
			break;
		memcpy(chunk, data + i, n);
		if (watch_write(chunk, 1, n, &w) != n) {
			free(chunk);
			break;
		}
		free(chunk);
	}
	if (fuzz_code != 200)
		(void)kube_status_error(w.desc, fuzz_code, w.errbody.data, w.errbody.len, &err);
	kube_buf_free(&w.line);
	kube_buf_free(&w.errbody);
	json_object_put(w.cache);
	return 0;
}
