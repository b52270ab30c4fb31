/* Tamper-evident audit log.
 *
 * One JSON object per line in <state>/audit.log, one line per key event.
 * Each line carries a 1-based `seq` and `prev`, the lower-case hex SHA-256
 * of the previous line's exact bytes (without its newline; 64 zeros for the
 * first line).  A sidecar <path>.head records the seq and hash of the last
 * line, so removing lines from the end is detected as well.  See
 * docs/audit.md for the format and for what the chain does not prove. */
#ifndef HSMCA_AUDIT_H
#define HSMCA_AUDIT_H

#include <stddef.h>

#include "common/error.h"

/* Longest line accepted, in bytes, not counting the newline. */
#define HSMCA_AUDIT_LINE_MAX 65536

typedef struct hsmca_audit hsmca_audit; /* one per state directory */

/* Open the log at `path` for appending, creating it with mode 0644 if it is
 * missing (the directory must exist).  The actor recorded on every line
 * (user name of the effective uid + "@" + host name) is taken here.
 * On success *out is a new handle, freed with hsmca_audit_close().
 * Errors: cannot create/open the file, not a regular file, out of memory. */
int hsmca_audit_open(const char *path, hsmca_audit **out, hsmca_error *err);

/* Close the log and free the handle.  NULL is accepted. */
void hsmca_audit_close(hsmca_audit *a);

/* Append one event:
 *   event   short verb, e.g. "sign", "generate", "rotate-stage" (non-empty)
 *   object  what it was about (PKCS#11 URI, CA name), NULL written as ""
 *   outcome "ok" or "failed"
 *   detail  NULL, or a NULL-terminated array of key, value pairs:
 *           (const char *const[]){"serial", "1f2e", "profile", "kubelet", NULL}
 * Strings must be valid UTF-8; keys must be unique; the line must fit in
 * HSMCA_AUDIT_LINE_MAX.  Never pass a PIN or key material.
 *
 * Before appending, the last line of the file is checked against the head
 * file; if they disagree (lines removed from the end, last line altered,
 * interrupted write) the append is refused so the evidence is not covered
 * over: run hsmca_audit_verify() and see docs/audit.md.
 *
 * The line is written with one O_APPEND write and fsynced; the head is then
 * replaced atomically.  Thread-safe (a mutex per handle) and process-safe
 * (flock held on the log across read-last-line, append and head update). */
int hsmca_audit_append(hsmca_audit *a, const char *event, const char *object,
		       const char *outcome, const char *const *detail, hsmca_error *err);

/* Verify the chain of the log at `path` against itself and its head file.
 * Memory is bounded: lines are streamed, never read whole.
 *
 * Returns 0 with *lines = number of lines when intact.  A missing or empty
 * log without a head file is intact with 0 lines.
 *
 * Returns -1 on a break: *bad_line = 1-based number of the first line where
 * the chain breaks, and err says why, e.g.
 *   "line 7: prev does not match the hash of line 6 (line 6 was altered or
 *    removed, or line 7's prev was edited)"
 *   "line 3: not valid JSON"
 *   "line 4: seq is 5, expected 4 (a line is missing before it, or lines were reordered)"
 *   "log ends at line 8 but the head records line 9 (the end of the log was removed)"
 * *bad_line is 0 when the failure concerns no particular line (I/O error,
 * unreadable head file).  Either out-pointer may be NULL.  Takes a shared
 * flock on the log, so a concurrent append is seen either whole or not at
 * all.  Thread-safe. */
int hsmca_audit_verify(const char *path, size_t *lines, size_t *bad_line, hsmca_error *err);

#endif
