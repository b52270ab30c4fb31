/* Ownership and mode checks for what hsmca trusts, the OpenSSH StrictModes
 * way (secure_filename() in OpenSSH misc.c).  See docs/security.md. */
#ifndef HSMCA_COMMON_SECURE_PATH_H
#define HSMCA_COMMON_SECURE_PATH_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

/* Check `path` and every directory above it up to "/" (after resolving
 * symbolic links): each must be owned by the effective user or root and not
 * group- or world-writable.  One exception for the directories ABOVE `path`:
 * a sticky directory owned by root (/tmp) is accepted, because nobody but the
 * owner of an entry in it may rename or remove that entry.  `path` itself
 * must be a regular file or directory as `want_dir` says.
 * Errors name the offending path and the fix ("chmod go-w PATH").
 * Thread-safe; writes *err only on failure. */
int hsmca_secure_path(const char *path, bool want_dir, hsmca_error *err);

/* hsmca_secure_path() for the directories above `path` only (for a path that
 * is about to be created, or whose own mode has its own rule). */
int hsmca_secure_parents(const char *path, hsmca_error *err);

/* A whole state directory: hsmca_secure_path(home) and then every entry
 * below it (lstat, symbolic links not followed: a link must itself be owned
 * by the user or root).  Refuses the first offender by name. */
int hsmca_secure_tree(const char *home, hsmca_error *err);

/* A file that holds a secret (a PIN): a regular file owned by the effective
 * user, no permission bits for group or others (0600 or 0400), in
 * directories that pass hsmca_secure_parents().  `fd` is the open file
 * (checked with fstat, so the check and the read concern the same file);
 * pipes and terminals (process substitution, /dev/stdin) are accepted. */
int hsmca_secure_secret_fd(int fd, const char *path, hsmca_error *err);

#endif
