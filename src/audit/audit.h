/* Tamper-evident audit log.
 *
 * One JSON object per line in <state>/audit.log, one line per key event.
 * Each line carries a 1-based `seq` and `prev`, the lower-case hex SHA-256
 * of the previous line's exact bytes (without its newline; 64 zeros for the
 * first line).  A sidecar <path>.head records the seq and hash of the last
 * line flushed, so removing flushed lines from the end is detected as well.
 * See docs/audit.md for the format and for what the chain does not prove. */
#ifndef HSMCA_AUDIT_H
#define HSMCA_AUDIT_H

#include <stddef.h>

#include "common/error.h"

/* Longest line accepted, in bytes, not counting the newline. */
#define HSMCA_AUDIT_LINE_MAX 65536

typedef struct hsmca_audit hsmca_audit; /* one per state directory */

/* Open the log at `path` for appending, creating it with mode 0644 if it is
 * missing (the directory must exist).  The actor recorded on every line
 * (user name of the effective uid + "@" + host name) is taken here.  The
 * file is not read until the first append.
 * On success *out is a new handle, freed with hsmca_audit_close().
 * Errors: cannot create/open the file, not a regular file, out of memory. */
int hsmca_audit_open(const char *path, hsmca_audit **out, hsmca_error *err);

/* Flush deferred lines (hsmca_audit_flush()), close the log and free the
 * handle.  A failed flush is not reported here: call hsmca_audit_flush()
 * first to learn of it.  NULL is accepted.  Not to be called while another
 * thread still uses the handle. */
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
 * Before appending, the end of the file is checked: on the handle's first
 * append, the lines from the one the head records to the last; later, only
 * lines another process appended since this handle's last one (the handle
 * keeps the seq, hash and file size of the end of the chain, and reads the
 * file again only when its size changed).  If the log is damaged there
 * (lines removed from the end, a line altered, an interrupted write, the head
 * missing or disagreeing) the append is refused so the evidence is not
 * covered over: run hsmca_audit_verify() and see docs/audit.md.
 *
 * The line is written with one O_APPEND write and fsynced; the head is then
 * replaced atomically (this is hsmca_audit_append_deferred() followed by
 * hsmca_audit_flush() under one lock, so it also flushes lines deferred
 * earlier).  On "line written but not flushed" the line is in the log and a
 * later flush retries.  Thread-safe (a mutex per handle) and process-safe (an
 * exclusive flock on the log across check, append and head update). */
int hsmca_audit_append(hsmca_audit *a, const char *event, const char *object,
		       const char *outcome, const char *const *detail, hsmca_error *err);

/* As hsmca_audit_append(), same line format, chain and checks, but neither
 * fsync nor head update: one flock, one fstat and stat, one write() per line.
 * For batches (issuance signs thousands of certificates a second).  The line
 * reaches the disk and the head at the next hsmca_audit_flush(), synchronous
 * append or hsmca_audit_close() of this handle.  Until then a crash may lose
 * it, and anyone who can write the log can remove it without verify noticing
 * (docs/audit.md): flush at the end of every batch, and at a bounded interval
 * (lines or seconds) inside long ones.  The flock is held only for the
 * duration of each call, so appends from other processes interleave; they
 * wait for it, never fail for it.  Thread-safe. */
int hsmca_audit_append_deferred(hsmca_audit *a, const char *event, const char *object,
				const char *outcome, const char *const *detail,
				hsmca_error *err);

/* One event for hsmca_audit_append_batch(); the fields mean what the
 * arguments of hsmca_audit_append() mean (object NULL is written as ""). */
struct hsmca_audit_event {
	const char *event;
	const char *object;
	const char *outcome;
	const char *const *detail;
};

/* As hsmca_audit_append_deferred() for each of the n events in order, with
 * the same line format, chain and checks, under one flock and one check of
 * the end of the log, the lines written with one write() (more only when
 * they pass 64 KiB together).  All or none: every event is checked before
 * anything is written, and a failed write is cut off again.  The lines share
 * one `time`.  Not durable until hsmca_audit_flush(), as for deferred
 * appends.  n == 0 does nothing.  Thread-safe. */
int hsmca_audit_append_batch(hsmca_audit *a, const struct hsmca_audit_event *ev, size_t n,
			     hsmca_error *err);

/* Make every line in the log durable (fsync) and record its last line in
 * the head (atomic replace), under the exclusive flock.  If another process
 * appended after this handle, the head records its lines too, so the head
 * never moves back.  Does nothing (no I/O) if this handle wrote no line since
 * its last flush.  Refused, head untouched, if the lines appended since this
 * handle last looked do not chain on (the log was damaged meanwhile).
 * Thread-safe. */
int hsmca_audit_flush(hsmca_audit *a, hsmca_error *err);

/* Verify the chain of the log at `path` against itself and its head file.
 * Memory is bounded: lines are streamed, never read whole.
 *
 * Returns 0 with *lines = number of lines when intact: every line chains
 * onto the one before it, and the head (seq M, hash H) names a line that is
 * there, line M hashing to H.  Lines after M (deferred appends not yet
 * flushed, e.g. after a crash mid-batch) are chain-checked like the others,
 * and counted.  A missing or empty log without a head file is intact with 0
 * lines; a log of one line without a head too (a crash during its first
 * append).
 *
 * Returns -1 on a break: *bad_line = 1-based number of the first line where
 * the chain breaks, and err says why, e.g.
 *   "line 7: prev does not match the hash of line 6 (line 6 was altered or
 *    removed, or line 7's prev was edited)"
 *   "line 3: not valid JSON"
 *   "line 4: seq is 5, expected 4 (a line is missing before it, or lines were reordered)"
 *   "log ends at line 8 but the head records line 9 (the end of the log was removed ...)"
 *   "line 5: hash does not match the head file (...)"
 * *bad_line is 0 when the failure concerns no particular line (I/O error,
 * unreadable head file).  Either out-pointer may be NULL.  Takes a shared
 * flock on the log, so a concurrent append is seen either whole or not at
 * all.  Thread-safe. */
int hsmca_audit_verify(const char *path, size_t *lines, size_t *bad_line, hsmca_error *err);

#endif
