/* The audit log writer: open, append, close.  Format in audit_line.c,
 * verification in audit_verify.c, the whole story in docs/audit.md. */
#include "audit.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit_line.h"
#include "common/fsutil.h"
#include "common/util.h"

/* A tail read holds the last line, its newline and the byte before it. */
#define TAIL_MAX (HSMCA_AUDIT_LINE_MAX + 2)

struct hsmca_audit {
	pthread_mutex_t mu;
	int fd;
	char *path;
	char *head_path;
	char actor[512];
	char *buf; /* TAIL_MAX bytes: tail reads, then the outgoing line */
};

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		unsigned char c = *s;
		size_t n, i;
		uint32_t cp;

		if (c < 0x80) {
			s++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

static void actor_init(char *out, size_t outlen)
{
	char pwbuf[16384];
	char host[256];
	struct passwd pw, *res = NULL;
	char user[64];

	if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res && res->pw_name)
		snprintf(user, sizeof(user), "%s", res->pw_name);
	else
		snprintf(user, sizeof(user), "uid%lu", (unsigned long)geteuid());
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, outlen, "%s@%s", user, host);
}

static int head_write(const char *head_path, int64_t seq, const char *hash, hsmca_error *err)
{
	char buf[128];
	int n;

	n = snprintf(buf, sizeof(buf), "{\"seq\":%" PRId64 ",\"hash\":\"%s\"}\n", seq, hash);
	assert(n > 0 && (size_t)n < sizeof(buf));
	return hsmca_write_atomic(head_path, buf, (size_t)n, 0644, err);
}

static int pread_all(int fd, char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Find where the chain ends: seq and hash of the last line ({0, zeros} for an
 * empty log), after checking that the file ends cleanly and agrees with the
 * head.  Called with the flock held. */
static int tail_check(hsmca_audit *a, off_t size, struct hsmca_audit_head *last, hsmca_error *err)
{
	struct hsmca_audit_head head;
	struct hsmca_audit_rec rec;
	json_tokener *tok = NULL;
	size_t want, start;
	off_t off;
	int ret = -1;

	if (hsmca_audit_head_read(a->head_path, &head, err) != 0)
		goto out;
	if (size == 0) {
		if (head.seq != 0) {
			hsmca_error_set(err, "%s is empty but its head records line %zu", a->path,
					head.seq);
			goto out;
		}
		*last = head;
		ret = 0;
		goto out;
	}
	want = (size_t)size < TAIL_MAX ? (size_t)size : TAIL_MAX;
	off = size - (off_t)want;
	if (pread_all(a->fd, a->buf, want, off) != 0) {
		hsmca_error_errno(err, "cannot read %s", a->path);
		goto out;
	}
	if (a->buf[want - 1] != '\n') {
		hsmca_error_set(err, "%s does not end with a newline (interrupted write or tampering)",
				a->path);
		goto out;
	}
	for (start = want - 1; start > 0 && a->buf[start - 1] != '\n'; start--)
		;
	if (start == 0 && off > 0) {
		hsmca_error_set(err, "last line of %s is longer than %d bytes", a->path,
				HSMCA_AUDIT_LINE_MAX);
		goto out;
	}
	tok = hsmca_audit_tokener_new(err);
	if (!tok)
		goto out;
	if (hsmca_audit_line_parse(tok, a->buf + start, want - 1 - start, &rec, err) != 0) {
		hsmca_error_prefix(err, "last line of %s", a->path);
		goto out;
	}
	if (hsmca_audit_sha256_hex(a->buf + start, want - 1 - start, last->hash, err) != 0)
		goto out;
	last->seq = (size_t)rec.seq;
	/* The head may lag by one line: a crash between the fsync of the log and
	 * the rename of the head.  The line then chains onto the head's hash. */
	if (!(head.seq == last->seq && strcmp(head.hash, last->hash) == 0) &&
	    !(head.seq + 1 == last->seq && strcmp(head.hash, rec.prev) == 0)) {
		hsmca_error_set(err, "%s does not match its head file (log ends at seq %zu, head "
				     "records line %zu)",
				a->path, last->seq, head.seq);
		goto out;
	}
	ret = 0;
out:
	if (tok)
		json_tokener_free(tok);
	return ret;
}

static int check_text(const char *what, const char *s, hsmca_error *err)
{
	if (!utf8_valid(s))
		return hsmca_error_set(err, "%s is not valid UTF-8", what);
	return 0;
}

/* json_object_object_add() accepts a NULL value (a JSON null), so a failed
 * allocation has to be caught before it. */
static int add_field(json_object *obj, const char *key, json_object *val)
{
	if (!val)
		return -1;
	if (json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

/* Build the record as a json-c object, keys in the documented order. */
static int record_build(const hsmca_audit *a, int64_t seq, const char *prev, const char *event,
			const char *object, const char *outcome, const char *const *detail,
			json_object **out, hsmca_error *err)
{
	json_object *rec = NULL, *det = NULL;
	char now[21];
	size_t i;
	int added, ret = -1;

	hsmca_format_time(hsmca_now(), now);
	rec = json_object_new_object();
	if (!rec)
		goto oom;
	if (add_field(rec, "seq", json_object_new_int64(seq)) != 0 ||
	    add_field(rec, "time", json_object_new_string(now)) != 0 ||
	    add_field(rec, "actor", json_object_new_string(a->actor)) != 0 ||
	    add_field(rec, "event", json_object_new_string(event)) != 0 ||
	    add_field(rec, "object", json_object_new_string(object)) != 0 ||
	    add_field(rec, "outcome", json_object_new_string(outcome)) != 0)
		goto oom;
	if (detail && detail[0]) {
		det = json_object_new_object();
		if (!det)
			goto oom;
		for (i = 0; detail[i]; i += 2) {
			if (!detail[i + 1]) {
				hsmca_error_set(err, "detail \"%.64s\" has no value", detail[i]);
				goto out;
			}
			if (!detail[i][0]) {
				hsmca_error_set(err, "detail key is empty");
				goto out;
			}
			if (check_text("a detail key", detail[i], err) != 0)
				goto out;
			if (check_text("value", detail[i + 1], err) != 0) {
				hsmca_error_prefix(err, "detail \"%.64s\"", detail[i]);
				goto out;
			}
			if (json_object_object_get_ex(det, detail[i], NULL)) {
				hsmca_error_set(err, "detail \"%.64s\" given twice", detail[i]);
				goto out;
			}
			if (add_field(det, detail[i], json_object_new_string(detail[i + 1])) != 0)
				goto oom;
		}
		/* add_field() takes det, or releases it on failure. */
		added = add_field(rec, "detail", det);
		det = NULL;
		if (added != 0)
			goto oom;
	}
	if (add_field(rec, "prev", json_object_new_string(prev)) != 0)
		goto oom;
	*out = rec;
	rec = NULL;
	ret = 0;
	goto out;
oom:
	hsmca_error_set(err, "out of memory");
out:
	json_object_put(det);
	json_object_put(rec);
	return ret;
}

int hsmca_audit_open(const char *path, hsmca_audit **out, hsmca_error *err)
{
	hsmca_audit *a = NULL;
	struct stat st;
	bool created = false;
	int ret = -1;

	assert(path && out);
	a = calloc(1, sizeof(*a));
	if (!a) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	a->fd = -1;
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		hsmca_error_set(err, "cannot create audit mutex");
		free(a);
		a = NULL;
		goto out;
	}
	a->path = strdup(path);
	a->buf = malloc(TAIL_MAX);
	if (!a->path || !a->buf || asprintf(&a->head_path, "%s.head", path) < 0) {
		a->head_path = NULL;
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (a->fd >= 0)
		created = true;
	else if (errno == EEXIST)
		a->fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (a->fd < 0) {
		hsmca_error_errno(err, "cannot open audit log %s", path);
		goto out;
	}
	if (fstat(a->fd, &st) != 0) {
		hsmca_error_errno(err, "cannot stat audit log %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		hsmca_error_set(err, "audit log %s is not a regular file", path);
		goto out;
	}
	/* The umask must not narrow a log that auditors are meant to read. */
	if (created && fchmod(a->fd, 0644) != 0) {
		hsmca_error_errno(err, "cannot set the mode of audit log %s", path);
		goto out;
	}
	actor_init(a->actor, sizeof(a->actor));
	*out = a;
	a = NULL;
	ret = 0;
out:
	hsmca_audit_close(a);
	return ret;
}

void hsmca_audit_close(hsmca_audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a->head_path);
	free(a->buf);
	free(a);
}

int hsmca_audit_append(hsmca_audit *a, const char *event, const char *object,
		       const char *outcome, const char *const *detail, hsmca_error *err)
{
	struct hsmca_audit_head last;
	struct stat st;
	json_object *rec = NULL;
	const char *line;
	size_t len;
	bool locked = false, written = false;
	int ret = -1;

	assert(a && event && outcome);
	if (!object)
		object = "";
	if (!event[0] || (strcmp(outcome, "ok") != 0 && strcmp(outcome, "failed") != 0)) {
		hsmca_error_set(err, "audit %s: event must be non-empty and outcome \"ok\" or "
				     "\"failed\"",
				event);
		return -1;
	}
	if (check_text("event", event, err) != 0 || check_text("object", object, err) != 0) {
		hsmca_error_prefix(err, "audit %.64s", event);
		return -1;
	}

	pthread_mutex_lock(&a->mu);
	if (hsmca_audit_lock(a->fd, LOCK_EX, a->path, err) != 0)
		goto out;
	locked = true;
	if (fstat(a->fd, &st) != 0) {
		hsmca_error_errno(err, "cannot stat %s", a->path);
		goto out;
	}
	if (tail_check(a, st.st_size, &last, err) != 0) {
		hsmca_error_prefix(err, "audit %.64s: refusing to append (run hsmca audit verify)",
				   event);
		goto out;
	}
	if (record_build(a, (int64_t)last.seq + 1, last.hash, event, object, outcome, detail, &rec,
			 err) != 0) {
		hsmca_error_prefix(err, "audit %.64s", event);
		goto out;
	}
	line = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!line) {
		hsmca_error_set(err, "audit %.64s: out of memory", event);
		goto out;
	}
	len = strlen(line);
	if (len > HSMCA_AUDIT_LINE_MAX) {
		hsmca_error_set(err, "audit %.64s: record is %zu bytes, over the %d-byte limit",
				event, len, HSMCA_AUDIT_LINE_MAX);
		goto out;
	}
	/* One write of line + newline, so O_APPEND places it whole. */
	memcpy(a->buf, line, len);
	a->buf[len] = '\n';
	written = true;
	if (write_all(a->fd, a->buf, len + 1) != 0 || fsync(a->fd) != 0) {
		hsmca_error_errno(err, "cannot append to %s", a->path);
		goto out;
	}
	if (hsmca_audit_sha256_hex(a->buf, len, last.hash, err) != 0 ||
	    head_write(a->head_path, (int64_t)last.seq + 1, last.hash, err) != 0) {
		/* The line is durable; the next append accepts a head one behind. */
		written = false;
		hsmca_error_prefix(err, "audit %.64s: line written but head not updated", event);
		goto out;
	}
	written = false;
	ret = 0;
out:
	/* A failed write may have left part of a line: cut it off, we hold the lock. */
	if (written && ftruncate(a->fd, st.st_size) != 0)
		hsmca_error_prefix(err, "and cannot cut the partial line off %s", a->path);
	if (locked)
		flock(a->fd, LOCK_UN);
	pthread_mutex_unlock(&a->mu);
	json_object_put(rec);
	return ret;
}
