/* Error reporting shared by every library module.
 *
 * The library never prints and never exits: a failing call fills an
 * hsmca_error and returns -1.  The CLI is the only reader.  Messages follow
 * STYLE.md: "<what was being done>: <why> (<backend> <code name>)"; callers
 * add context on the way out with hsmca_error_prefix().
 *
 * An hsmca_error is owned by one thread at a time; give each worker its own. */
#ifndef HSMCA_COMMON_ERROR_H
#define HSMCA_COMMON_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define HSMCA_ERROR_MAX 1024

typedef struct hsmca_error {
	char msg[HSMCA_ERROR_MAX];
	unsigned long code; /* backend code (CK_RV, errno, HTTP, gRPC), 0 if none */
} hsmca_error;

/* Replace the message. Always returns -1 so callers can `return hsmca_error_set(...)`. */
int hsmca_error_set(hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int hsmca_error_vset(hsmca_error *err, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Prepend "<context>: " to the current message. Returns -1. */
int hsmca_error_prefix(hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set the message from errno: "<fmt>: <strerror(errno)>". Returns -1. */
int hsmca_error_errno(hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set the message and append the first queued OpenSSL error (and clear the queue). */
int hsmca_error_openssl(hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void hsmca_error_clear(hsmca_error *err);

#endif
