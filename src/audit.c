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
#include <openssl/evp.h>

#include "common/fsutil.h"
#include "common/util.h"

#define HASH_HEX_LEN 64
#define HEAD_MAX 4096
/* A tail read holds the last line, its newline and the byte before it. */
#define TAIL_MAX (HSMCA_AUDIT_LINE_MAX + 2)

static const char zero_hash[HASH_HEX_LEN + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

struct hsmca_audit {
	pthread_mutex_t mu;
	int fd;
	char *path;
	char *head_path;
	char actor[512];
	char *buf; /* TAIL_MAX bytes: tail reads, then the outgoing line */
};

/* What a line says about its place in the chain. */
struct audit_rec {
	int64_t seq;
	char prev[HASH_HEX_LEN + 1];
};

/* The head file: seq and hash of the last line; {0, zeros} when absent. */
struct audit_head {
	bool present;
	size_t seq;
	char hash[HASH_HEX_LEN + 1];
};

static int sha256_hex(const void *data, size_t len, char out[static HASH_HEX_LEN + 1],
		      hsmca_error *err)
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md))
		return hsmca_error_openssl(err, "cannot hash audit line");
	hsmca_hex(md, sizeof(md), out);
	return 0;
}

static bool is_hash_hex(const char *s)
{
	size_t i;

	for (i = 0; i < HASH_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[HASH_HEX_LEN] == '\0';
}

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

static int lock_fd(int fd, int op, const char *path, hsmca_error *err)
{
	while (flock(fd, op) != 0) {
		if (errno != EINTR)
			return hsmca_error_errno(err, "cannot lock %s", path);
	}
	return 0;
}

static int get_string(json_object *obj, const char *key, const char **out, hsmca_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return hsmca_error_set(err, "missing field \"%s\"", key);
	if (!json_object_is_type(v, json_type_string))
		return hsmca_error_set(err, "field \"%s\" is not a string", key);
	*out = json_object_get_string(v);
	return 0;
}

/* Parse one line (no newline) and check its shape; the chain itself is the
 * caller's business.  Messages carry no line number: the caller adds it. */
static int line_parse(json_tokener *tok, const char *line, size_t len, struct audit_rec *rec,
		      hsmca_error *err)
{
	static const char *const strings[] = {"time", "actor", "event", "object", "outcome"};
	static const char *const known[] = {"seq",     "time",	 "actor", "event",
					    "object",  "outcome", "detail", "prev"};
	json_object *obj = NULL, *v;
	enum json_tokener_error jerr;
	const char *s;
	size_t i;
	int ret = -1;

	if (len == 0)
		return hsmca_error_set(err, "empty line");
	if (memchr(line, '\0', len))
		return hsmca_error_set(err, "not valid JSON (contains a NUL byte)");
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!obj || jerr != json_tokener_success) {
		hsmca_error_set(err, "not valid JSON (%s)",
				jerr == json_tokener_continue ? "unexpected end of line"
							      : json_tokener_error_desc(jerr));
		goto out;
	}
	if (json_tokener_get_parse_end(tok) != len) {
		hsmca_error_set(err, "not valid JSON (trailing bytes after the object)");
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		hsmca_error_set(err, "not a JSON object");
		goto out;
	}
	json_object_object_foreach(obj, key, val)
	{
		bool ok = false;

		(void)val;
		for (i = 0; i < HSMCA_ARRAY_LEN(known); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			hsmca_error_set(err, "unexpected field \"%.64s\"", key);
			goto out;
		}
	}
	if (!json_object_object_get_ex(obj, "seq", &v)) {
		hsmca_error_set(err, "missing field \"seq\"");
		goto out;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1) {
		hsmca_error_set(err, "seq is not a positive integer");
		goto out;
	}
	rec->seq = json_object_get_int64(v);
	for (i = 0; i < HSMCA_ARRAY_LEN(strings); i++) {
		if (get_string(obj, strings[i], &s, err) != 0)
			goto out;
	}
	if (strcmp(s, "ok") != 0 && strcmp(s, "failed") != 0) {
		hsmca_error_set(err, "outcome is \"%.32s\", expected \"ok\" or \"failed\"", s);
		goto out;
	}
	if (json_object_object_get_ex(obj, "detail", &v)) {
		if (!json_object_is_type(v, json_type_object)) {
			hsmca_error_set(err, "field \"detail\" is not an object");
			goto out;
		}
		json_object_object_foreach(v, dkey, dval)
		{
			if (!json_object_is_type(dval, json_type_string)) {
				hsmca_error_set(err, "detail \"%.64s\" is not a string", dkey);
				goto out;
			}
		}
	}
	if (get_string(obj, "prev", &s, err) != 0)
		goto out;
	if (!is_hash_hex(s)) {
		hsmca_error_set(err, "prev is not a 64-digit lower-case hex SHA-256");
		goto out;
	}
	memcpy(rec->prev, s, sizeof(rec->prev));
	ret = 0;
out:
	json_object_put(obj);
	return ret;
}

static json_tokener *tokener_new(hsmca_error *err)
{
	json_tokener *tok = json_tokener_new();

	if (!tok) {
		hsmca_error_set(err, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

static int head_read(const char *head_path, struct audit_head *head, hsmca_error *err)
{
	uint8_t *data = NULL;
	size_t len = 0;
	json_object *obj = NULL, *v;
	int ret = -1;

	head->present = false;
	head->seq = 0;
	memcpy(head->hash, zero_hash, sizeof(head->hash));
	if (access(head_path, F_OK) != 0 && errno == ENOENT)
		return 0;
	head->present = true;
	if (hsmca_read_file(head_path, HEAD_MAX, &data, &len, err) != 0)
		goto out;
	obj = json_tokener_parse((const char *)data);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		hsmca_error_set(err, "head file %s is not valid JSON", head_path);
		goto out;
	}
	if (!json_object_object_get_ex(obj, "seq", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		hsmca_error_set(err, "head file %s: seq is missing or not an integer", head_path);
		goto out;
	}
	head->seq = (size_t)json_object_get_int64(v);
	if (!json_object_object_get_ex(obj, "hash", &v) ||
	    !json_object_is_type(v, json_type_string) || !is_hash_hex(json_object_get_string(v))) {
		hsmca_error_set(err, "head file %s: hash is missing or not a hex SHA-256", head_path);
		goto out;
	}
	memcpy(head->hash, json_object_get_string(v), sizeof(head->hash));
	ret = 0;
out:
	json_object_put(obj);
	free(data);
	return ret;
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
static int tail_check(hsmca_audit *a, off_t size, struct audit_head *last, hsmca_error *err)
{
	struct audit_head head;
	struct audit_rec rec;
	json_tokener *tok = NULL;
	size_t want, start;
	off_t off;
	int ret = -1;

	if (head_read(a->head_path, &head, err) != 0)
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
	tok = tokener_new(err);
	if (!tok)
		goto out;
	if (line_parse(tok, a->buf + start, want - 1 - start, &rec, err) != 0) {
		hsmca_error_prefix(err, "last line of %s", a->path);
		goto out;
	}
	if (sha256_hex(a->buf + start, want - 1 - start, last->hash, err) != 0)
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
	struct audit_head last;
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
	if (lock_fd(a->fd, LOCK_EX, a->path, err) != 0)
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
	if (sha256_hex(a->buf, len, last.hash, err) != 0 ||
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

/* State of a walk along the chain in hsmca_audit_verify(). */
struct chain {
	json_tokener *tok;
	struct audit_head head;
	size_t n;			       /* lines accepted so far */
	char hash[HASH_HEX_LEN + 1];	       /* hash of line n (zeros for n == 0) */
	char head_line_hash[HASH_HEX_LEN + 1]; /* hash of line head.seq */
};

/* Check line n + 1, which arrives without its newline. */
static int chain_line(struct chain *c, const char *line, size_t len, hsmca_error *err)
{
	size_t k = c->n + 1;
	struct audit_rec rec;

	if (line_parse(c->tok, line, len, &rec, err) != 0)
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
	if (sha256_hex(line, len, c->hash, err) != 0)
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

/* Compare the end of an intact chain with the head file. */
static int chain_head(const struct chain *c, const char *head_path, size_t *bad,
		      hsmca_error *err)
{
	size_t m = c->head.seq, n = c->n;

	*bad = 0;
	if (!c->head.present) {
		/* A head one behind is a crash between the log fsync and the head
		 * rename; for the very first line that means no head at all. */
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
	if (strcmp(m == 0 ? zero_hash : c->head_line_hash, c->head.hash) != 0) {
		if (m == 0)
			return hsmca_error_set(err, "head file %s records line 0 with a non-zero "
						    "hash",
					       head_path);
		*bad = m;
		if (m == n)
			return hsmca_error_set(err, "line %zu: hash does not match the head file "
						    "(the last line was altered)",
					       m);
		return hsmca_error_set(err, "line %zu: hash does not match the head file (the "
					    "head file is stale or was altered)",
				       m);
	}
	if (m + 1 < n) {
		*bad = m + 1;
		return hsmca_error_set(err, "log ends at line %zu but the head records line %zu "
					    "(lines were added after line %zu without updating the "
					    "head, or the head was rolled back)",
				       n, m, m);
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
	memcpy(c.hash, zero_hash, sizeof(c.hash));
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
		if (lock_fd(fd, LOCK_SH, path, err) != 0)
			goto out;
	}
	if (head_read(head_path, &c.head, err) != 0)
		goto out;
	if (fd >= 0) {
		c.tok = tokener_new(err);
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
