#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

int hsmca_error_vset(hsmca_error *err, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return -1;
}

int hsmca_error_set(hsmca_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hsmca_error_vset(err, fmt, ap);
	va_end(ap);
	if (err)
		err->code = 0;
	return -1;
}

int hsmca_error_prefix(hsmca_error *err, const char *fmt, ...)
{
	char prefix[HSMCA_ERROR_MAX];
	char old[HSMCA_ERROR_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if (old[0])
		snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	else
		snprintf(err->msg, sizeof(err->msg), "%s", prefix);
	return -1;
}

int hsmca_error_errno(hsmca_error *err, const char *fmt, ...)
{
	int saved = errno;
	char what[HSMCA_ERROR_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(saved));
	err->code = (unsigned long)saved;
	errno = saved;
	return -1;
}

int hsmca_error_openssl(hsmca_error *err, const char *fmt, ...)
{
	char what[HSMCA_ERROR_MAX];
	char reason[256] = "";
	unsigned long e;
	va_list ap;

	e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (reason[0])
		snprintf(err->msg, sizeof(err->msg), "%s (OpenSSL %s)", what, reason);
	else
		snprintf(err->msg, sizeof(err->msg), "%s", what);
	err->code = e;
	return -1;
}

void hsmca_error_clear(hsmca_error *err)
{
	if (err) {
		err->msg[0] = '\0';
		err->code = 0;
	}
}
