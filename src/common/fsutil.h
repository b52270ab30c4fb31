/* File helpers: bounded reads, atomic public writes, exclusive secret files. */
#ifndef HSMCA_COMMON_FSUTIL_H
#define HSMCA_COMMON_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Read a whole file of at most `max` bytes into a fresh buffer (NUL-terminated
 * one past *len, so text parsers may use it as a string).  A larger file is an
 * error naming the limit.  Caller frees *out with free(). */
int hsmca_read_file(const char *path, size_t max, uint8_t **out, size_t *len, hsmca_error *err);

/* Write `data` to `path` atomically: a temporary file with a random name in
 * the same directory, created O_CREAT|O_EXCL|O_NOFOLLOW with its final
 * `mode` (exactly `mode`, whatever the umask), fsync, renameat over `path`,
 * fsync of the directory.  Readers see the old content or the new one, never
 * a mix.  A symbolic link at `path` is refused (except under /dev/), as is
 * anything but a regular file; a character device or FIFO (/dev/stdout,
 * /dev/null) is written in place.  Errors name the path.  The one writer
 * for every output hsmca makes (docs/security.md). */
int hsmca_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       hsmca_error *err);

/* Create a file that may hold a secret: O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600.
 * Refuses an existing path.  Written then fsynced. */
int hsmca_write_secret(const char *path, const void *data, size_t len, hsmca_error *err);

/* mkdir -p with the given mode for created directories. */
int hsmca_mkdir_p(const char *path, mode_t mode, hsmca_error *err);

/* fsync the directory containing `path` (or `path` itself if a directory). */
int hsmca_fsync_dir(const char *dir, hsmca_error *err);

/* Remove a directory tree (no shell, symlinks not followed). */
int hsmca_rmtree(const char *path, hsmca_error *err);

/* snprintf into a fixed buffer; returns -1 with an error if it would truncate. */
int hsmca_path_join(char *out, size_t outlen, hsmca_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
