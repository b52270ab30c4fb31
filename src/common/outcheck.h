/* Output paths checked before anything is signed or recorded.
 *
 * Issuing a certificate is not undoable: it is recorded and audit-logged
 * the moment it is signed.  A command that would then fail to write its
 * output (a missing directory, a directory where the file should be, a
 * read-only target) must find that out first. */
#ifndef HSMCA_COMMON_OUTCHECK_H
#define HSMCA_COMMON_OUTCHECK_H

#include <stdbool.h>

#include "common/error.h"

/* Whether `path` can be written atomically (fsutil.h): its directory
 * exists, is a directory and is writable; the target is absent, or (when
 * `may_replace`) a regular file — not a symlink, directory, FIFO or
 * device — that we may write.  Nothing is created.  Thread-safe. */
int hsmca_outcheck_file(const char *path, bool may_replace, hsmca_error *err);

/* Whether `dir` is a writable directory, or absent with a writable parent
 * (it will be created). */
int hsmca_outcheck_dir(const char *dir, hsmca_error *err);

#endif
