/* hsmca_audit_verify(): walk the chain, then check the line the head records. */
#include "audit/audit.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_line.h"

/* State of a walk along the chain in hsmca_audit_verify(). */
struct chain {
	json_tokener *tok;
	struct hsmca_audit_head head;
	size_t n;				       /* lines accepted so far */
	char hash[HSMCA_AUDIT_HASH_HEX + 1];	       /* hash of line n (zeros for n == 0) */
	char head_line_hash[HSMCA_AUDIT_HASH_HEX + 1]; /* hash of line head.seq */
};

/* Check line n + 1, which arrives without its newline. */
static int chain_line(struct chain *c, const char *line, size_t len, hsmca_error *err)
{
	size_t k = c->n + 1;
	struct hsmca_audit_rec rec;

	if (hsmca_audit_line_parse(c->tok, line, len, &rec, err) != 0)
		return hsmca_error_prefix(err, "line %zu", k);
	/* Checked before prev: a removed or moved line shows here first, and
	 * the seq says more about what happened than a hash mismatch does. */
	if (rec.seq != (int64_t)k)
		return hsmca_error_set(err, "line %zu: seq is %" PRId64 ", expected %zu (%s)", k,
				       rec.seq, k,
				       rec.seq > (int64_t)k
					       ? "a line is missing before it, or lines were reordered"
					       : "a line was duplicated, or lines were reordered");
	if (strcmp(rec.prev, c->hash) != 0) {
		if (k == 1)
			return hsmca_error_set(err, "line 1: prev is not 64 zeros (line 1 was edited, "
						    "or the log does not start at its first line)");
		return hsmca_error_set(err, "line %zu: prev does not match the hash of line %zu "
					    "(line %zu was altered or removed, or line %zu's prev "
					    "was edited)",
				       k, k - 1, k - 1, k);
	}
	if (hsmca_audit_sha256_hex(line, len, c->hash, err) != 0)
		return -1;
	c->n = k;
	if (k == c->head.seq)
		memcpy(c->head_line_hash, c->hash, sizeof(c->hash));
	return 0;
}

/* Stream the file through a buffer that holds one maximal line, so a huge
 * or hostile file costs at most HSMCA_AUDIT_LINE_MAX bytes of memory. */
static int chain_walk(int fd, const char *path, struct chain *c, size_t *bad, hsmca_error *err)
{
	const size_t cap = HSMCA_AUDIT_LINE_MAX + 1;
	char *buf = NULL, *nl;
	size_t start = 0, have = 0;
	bool eof = false;
	int ret = -1;

	*bad = 0;
	buf = malloc(cap);
	if (!buf) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n;

		nl = memchr(buf + start, '\n', have - start);
		if (nl) {
			if (chain_line(c, buf + start, (size_t)(nl - (buf + start)), err) != 0) {
				*bad = c->n + 1;
				goto out;
			}
			start = (size_t)(nl - buf) + 1;
			continue;
		}
		if (start > 0) {
			memmove(buf, buf + start, have - start);
			have -= start;
			start = 0;
		}
		if (have == cap) {
			*bad = c->n + 1;
			hsmca_error_set(err, "line %zu: longer than the %d-byte limit", c->n + 1,
					HSMCA_AUDIT_LINE_MAX);
			goto out;
		}
		if (eof) {
			if (have > 0) {
				*bad = c->n + 1;
				hsmca_error_set(err, "line %zu: incomplete, no newline at the end of "
						     "the file (the file was truncated or a write "
						     "was interrupted)",
						c->n + 1);
				goto out;
			}
			break;
		}
		n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hsmca_error_errno(err, "cannot read %s", path);
			goto out;
		}
		if (n == 0)
			eof = true;
		have += (size_t)n;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

/* Compare an intact chain with the head file.  The head says that line M
 * existed with hash H when it was written: the log must still have line M,
 * with that hash.  Lines after M are deferred appends not yet flushed (or
 * flushed by a process that crashed before its head update); the walk has
 * chain-checked them already, and nothing more can be said of them. */
static int chain_head(const struct chain *c, const char *head_path, size_t *bad,
		      hsmca_error *err)
{
	size_t m = c->head.seq, n = c->n;

	*bad = 0;
	if (!c->head.present) {
		/* The writer creates the head before the first line, except in
		 * logs written before it did: there a crash during the first
		 * append left one line and no head. */
		if (n <= 1)
			return 0;
		*bad = 1;
		return hsmca_error_set(err, "log has %zu lines but its head file %s is missing "
					    "(it was deleted, or the log was not written by hsmca)",
				       n, head_path);
	}
	if (m > n) {
		*bad = n + 1;
		return hsmca_error_set(err, "log ends at line %zu but the head records line %zu "
					    "(the end of the log was removed or the file was "
					    "truncated)",
				       n, m);
	}
	if (m == 0) {
		if (strcmp(c->head.hash, hsmca_audit_zero_hash) != 0)
			return hsmca_error_set(err, "head file %s records line 0 with a non-zero "
						    "hash",
					       head_path);
		return 0;
	}
	if (strcmp(c->head_line_hash, c->head.hash) != 0) {
		*bad = m;
		if (m == n)
			return hsmca_error_set(err, "line %zu: hash does not match the head file "
						    "(the last line was altered)",
					       m);
		/* Had line m alone been altered, line m + 1's prev would have
		 * broken the walk already. */
		return hsmca_error_set(err, "line %zu: hash does not match the head file (the "
					    "head file was altered, or line %zu and every line "
					    "after it were rewritten)",
				       m, m);
	}
	return 0;
}

int hsmca_audit_verify(const char *path, size_t *lines, size_t *bad_line, hsmca_error *err)
{
	struct chain c;
	char *head_path = NULL;
	struct stat st;
	size_t bad = 0;
	int fd = -1;
	int ret = -1;

	assert(path);
	memset(&c, 0, sizeof(c));
	memcpy(c.hash, hsmca_audit_zero_hash, sizeof(c.hash));
	if (asprintf(&head_path, "%s.head", path) < 0) {
		head_path = NULL;
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		hsmca_error_errno(err, "cannot open audit log %s", path);
		goto out;
	}
	if (fd >= 0) {
		if (fstat(fd, &st) != 0) {
			hsmca_error_errno(err, "cannot stat audit log %s", path);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			hsmca_error_set(err, "audit log %s is not a regular file", path);
			goto out;
		}
		/* Shared with readers, exclusive of an append and its head update. */
		if (hsmca_audit_lock(fd, LOCK_SH, path, err) != 0)
			goto out;
	}
	if (hsmca_audit_head_read(head_path, &c.head, err) != 0)
		goto out;
	if (fd >= 0) {
		c.tok = hsmca_audit_tokener_new(err);
		if (!c.tok)
			goto out;
		if (chain_walk(fd, path, &c, &bad, err) != 0)
			goto out;
	}
	if (chain_head(&c, head_path, &bad, err) != 0)
		goto out;
	if (lines)
		*lines = c.n;
	ret = 0;
out:
	if (ret != 0 && bad_line)
		*bad_line = bad;
	if (c.tok)
		json_tokener_free(c.tok);
	if (fd >= 0)
		close(fd);
	free(head_path);
	return ret;
}
