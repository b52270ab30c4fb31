/* The public API (include/hsmca/hsmca.h) over the internal modules. */
#include "hsmca/hsmca.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "common/fsutil.h"
#include "issue/issue.h"
#include "state/session.h"
#include "x509/x509.h"

struct hsmca_ctx {
	struct hsmca_session *session;
	hsmca_error err;
};

const char *hsmca_version(void)
{
	return HSMCA_VERSION;
}

hsmca_ctx *hsmca_open(const char *home, const char *pin_source, char *errbuf, size_t errlen)
{
	struct hsmca_session_opts o = { .home = home, .pin_source = pin_source, .login = true };
	hsmca_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if (hsmca_session_open(&o, &ctx->session, &ctx->err) != 0) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s", ctx->err.msg);
		free(ctx);
		return NULL;
	}
	return ctx;
}

void hsmca_close(hsmca_ctx *ctx)
{
	if (!ctx)
		return;
	hsmca_session_close(ctx->session);
	free(ctx);
}

const char *hsmca_last_error(const hsmca_ctx *ctx)
{
	return ctx ? ctx->err.msg : "no context";
}

int hsmca_ca_certificate(hsmca_ctx *ctx, const char *name, char **pem, size_t *len)
{
	struct hsmca_ca *ca = NULL;
	char *text;

	hsmca_error_clear(&ctx->err);
	if (hsmca_ca_load(ctx->session->home, name, &ca, &ctx->err) != 0)
		return -1;
	text = hsmca_pem_encode("CERTIFICATE", ca->der, ca->der_len, len);
	hsmca_ca_free(ca);
	if (!text)
		return hsmca_error_set(&ctx->err, "out of memory");
	*pem = text;
	return 0;
}

int hsmca_sign_csr(hsmca_ctx *ctx, const char *ca, const char *profile, const uint8_t *csr,
		   size_t csr_len, char **pem, size_t *len)
{
	struct hsmca_issue_request req;
	struct hsmca_issued out;
	int ret;

	hsmca_error_clear(&ctx->err);
	memset(&req, 0, sizeof(req));
	req.ca = ca;
	req.profile = profile;
	req.csr = csr;
	req.csr_len = csr_len;
	ret = hsmca_issue_one(ctx->session, &req, &out, &ctx->err);
	if (ret != 0)
		return -1;
	*pem = hsmca_pem_encode("CERTIFICATE", out.der, out.der_len, len);
	hsmca_issued_clear(&out);
	if (!*pem)
		return hsmca_error_set(&ctx->err, "out of memory");
	return 0;
}

int hsmca_audit_check(hsmca_ctx *ctx, size_t *lines)
{
	char path[PATH_MAX];
	size_t bad = 0;

	hsmca_error_clear(&ctx->err);
	if (hsmca_path_join(path, sizeof(path), &ctx->err, "%s/audit.log", ctx->session->home) != 0)
		return -1;
	return hsmca_audit_verify(path, lines, &bad, &ctx->err);
}
