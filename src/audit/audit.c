/* The audit log writer: open, append (synchronous or deferred), flush,
 * close.  Format in audit_line.c, verification in audit_verify.c, the whole
 * story in docs/audit.md. */
#include "audit/audit.h"

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

#include "audit/audit_line.h"
#include "common/fsutil.h"
#include "common/util.h"

/* A window of the backward walk holds a whole line and the newline before
 * it; the outgoing line and its newline fit too. */
#define TAIL_MAX (HSMCA_AUDIT_LINE_MAX + 2)

struct hsmca_audit {
	pthread_mutex_t mu; /* guards everything below */
	int fd;
	char *path;
	char *head_path;
	char actor[512];
	char *buf; /* TAIL_MAX bytes: the backward walk's window, then the outgoing line */

	/* Where the chain ends, as this handle last saw it under the flock.  While
	 * the file keeps the size recorded here nobody else has appended, and the
	 * next line follows on without reading the file again. */
	bool known;
	off_t size; /* file size just after line `seq` */
	size_t seq; /* 0 for an empty log */
	char hash[HSMCA_AUDIT_HASH_HEX + 1];
	size_t pending; /* lines written through this handle since its last flush */
};

/* A line whose hash is known: where a backward walk stops. */
struct anchor {
	size_t seq;
	const char *hash;
	off_t end; /* offset just after its newline, or -1 when not known */
};

/* a->buf holds the file's bytes [off, off + len). */
struct window {
	off_t off;
	size_t len;
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

static int head_write(const char *head_path, size_t seq, const char *hash, hsmca_error *err)
{
	char buf[128];
	int n;

	n = snprintf(buf, sizeof(buf), "{\"seq\":%zu,\"hash\":\"%s\"}\n", seq, hash);
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

/* Find the line whose newline is at offset nl: it starts at *start and its
 * nl - *start bytes are at a->buf + (*start - w->off).  A refill reads the
 * longest line allowed and the newline before it, so one refill per line at
 * worst, and usually one for many lines. */
static int line_before(hsmca_audit *a, struct window *w, off_t nl, off_t *start,
		       hsmca_error *err)
{
	const off_t reach = HSMCA_AUDIT_LINE_MAX + 1;
	bool fresh = false;

	for (;;) {
		if (w->off <= nl && nl <= w->off + (off_t)w->len) {
			size_t i = (size_t)(nl - w->off);

			while (i > 0 && a->buf[i - 1] != '\n')
				i--;
			if (i > 0 || w->off == 0) {
				*start = w->off + (off_t)i;
				if (nl - *start <= HSMCA_AUDIT_LINE_MAX)
					return 0;
				break;
			}
			if (fresh)
				break;
		}
		w->off = nl > reach ? nl - reach : 0;
		w->len = (size_t)(nl - w->off);
		if (pread_all(a->fd, a->buf, w->len, w->off) != 0) {
			w->len = 0;
			return hsmca_error_errno(err, "cannot read %s", a->path);
		}
		fresh = true;
	}
	return hsmca_error_set(err, "a line of %s is longer than %d bytes", a->path,
			       HSMCA_AUDIT_LINE_MAX);
}

/* Check one line met by walk_back(), the last line of the file first.  `next`
 * is what the line after it says of it (seq and prev); NULL for the last. */
static int walk_line(const hsmca_audit *a, const struct hsmca_audit_rec *rec, const char *hash,
		     const struct hsmca_audit_rec *next, const struct hsmca_audit_head *head,
		     const struct anchor *from, hsmca_error *err)
{
	size_t seq = (size_t)rec->seq;

	if (!next) {
		if (!head->present && seq > 1)
			return hsmca_error_set(err, "%s has %zu lines but its head file is missing",
					       a->path, seq);
		if (head->seq > seq || from->seq > seq)
			return hsmca_error_set(err, "%s ends at seq %zu but its head records line "
						    "%zu (the end of the log was removed)",
					       a->path, seq,
					       head->seq > from->seq ? head->seq : from->seq);
	} else {
		if (rec->seq != next->seq - 1)
			return hsmca_error_set(err, "%s: seq %" PRId64 " is followed by seq %" PRId64
						    " (lines were removed, duplicated or reordered)",
					       a->path, rec->seq, next->seq);
		if (strcmp(hash, next->prev) != 0)
			return hsmca_error_set(err, "%s: line %zu does not hash to the prev of line "
						    "%zu (line %zu was altered)",
					       a->path, seq, seq + 1, seq);
	}
	if (head->present && seq == head->seq && strcmp(hash, head->hash) != 0)
		return hsmca_error_set(err, "%s: line %zu does not match its head file (the line or "
					    "the head was altered)",
				       a->path, seq);
	if (seq == from->seq && strcmp(hash, from->hash) != 0)
		return hsmca_error_set(err, "%s: line %zu is not the line this process wrote there "
					    "(the log was altered)",
				       a->path, seq);
	return 0;
}

/* Walk back from the end of the log to the line `from`, checking each line
 * on the way (walk_line()).  Lines before `from` are not read: that is
 * hsmca_audit_verify()'s work.  On success the handle knows where the chain
 * ends.  Called with the flock held. */
static int walk_back(hsmca_audit *a, off_t size, const struct hsmca_audit_head *head,
		     const struct anchor *from, hsmca_error *err)
{
	struct window w = {size, 0};
	struct hsmca_audit_rec rec, next = {0};
	json_tokener *tok = NULL;
	char hash[HSMCA_AUDIT_HASH_HEX + 1], last_hash[HSMCA_AUDIT_HASH_HEX + 1];
	size_t last_seq = 0;
	bool first = true;
	off_t nl = size - 1, start = 0;
	char c;
	int ret = -1;

	if (head->present && head->seq == 0 && strcmp(head->hash, hsmca_audit_zero_hash) != 0) {
		hsmca_error_set(err, "head file %s records line 0 with a non-zero hash",
				a->head_path);
		goto out;
	}
	memcpy(last_hash, hsmca_audit_zero_hash, sizeof(last_hash));
	if (size > 0) {
		if (pread_all(a->fd, &c, 1, size - 1) != 0) {
			hsmca_error_errno(err, "cannot read %s", a->path);
			goto out;
		}
		if (c != '\n') {
			hsmca_error_set(err, "%s does not end with a newline (interrupted write or "
					     "tampering)",
					a->path);
			goto out;
		}
		tok = hsmca_audit_tokener_new(err);
		if (!tok)
			goto out;
	} else if (from->seq != 0 || head->seq != 0) {
		hsmca_error_set(err, "%s is empty but its head records line %zu", a->path,
				head->seq > from->seq ? head->seq : from->seq);
		goto out;
	}
	while (size > 0) {
		const char *line;
		size_t len;

		if (line_before(a, &w, nl, &start, err) != 0)
			goto out;
		line = a->buf + (start - w.off);
		len = (size_t)(nl - start);
		if (hsmca_audit_line_parse(tok, line, len, &rec, err) != 0) {
			if (first)
				hsmca_error_prefix(err, "last line of %s", a->path);
			else
				hsmca_error_prefix(err, "%s, the line before seq %" PRId64, a->path,
						   next.seq);
			goto out;
		}
		if (hsmca_audit_sha256_hex(line, len, hash, err) != 0 ||
		    walk_line(a, &rec, hash, first ? NULL : &next, head, from, err) != 0)
			goto out;
		if (first) {
			last_seq = (size_t)rec.seq;
			memcpy(last_hash, hash, sizeof(hash));
			first = false;
		}
		if ((size_t)rec.seq == from->seq) {
			if (from->end >= 0 && nl + 1 != from->end) {
				hsmca_error_set(err, "%s: line %zu is not where this process wrote it "
						     "(the log was altered)",
						a->path, from->seq);
				goto out;
			}
			break;
		}
		if (start == 0) {
			/* Reached only with from->seq == 0: any other seq on the
			 * way down to 1 stopped the walk. */
			if (rec.seq != 1 || strcmp(rec.prev, hsmca_audit_zero_hash) != 0) {
				hsmca_error_set(err, "%s does not start with line 1", a->path);
				goto out;
			}
			break;
		}
		next = rec;
		nl = start - 1;
	}
	a->seq = last_seq;
	memcpy(a->hash, last_hash, sizeof(a->hash));
	a->size = size;
	a->known = true;
	ret = 0;
out:
	if (tok)
		json_tokener_free(tok);
	return ret;
}

/* Bring the handle's view of the end of the chain up to date, reading only
 * what another process may have appended since this handle last looked:
 * nothing if the file has kept its size; the new lines, back to the last
 * line this handle knows, if it grew; back to the line the head records
 * otherwise (first use, or the file shrank — which is refused if this
 * handle had seen it longer).  Called with the mutex and the flock held. */
static int catch_up(hsmca_audit *a, hsmca_error *err)
{
	struct hsmca_audit_head head;
	struct anchor from;
	struct stat st, pst;

	if (fstat(a->fd, &st) != 0)
		return hsmca_error_errno(err, "cannot stat %s", a->path);
	/* Appending to a file that was moved aside would write into the evidence. */
	if (stat(a->path, &pst) != 0 || pst.st_dev != st.st_dev || pst.st_ino != st.st_ino)
		return hsmca_error_set(err, "%s was moved, removed or replaced since it was opened",
				       a->path);
	if (a->known && st.st_size == a->size)
		return 0;
	if (a->known && st.st_size < a->size)
		return hsmca_error_set(err, "%s is shorter than when this process last saw it "
					    "(lines were removed)",
				       a->path);
	if (hsmca_audit_head_read(a->head_path, &head, err) != 0)
		return -1;
	/* from.hash may be a->hash: walk_back() writes it only once done reading. */
	if (a->known)
		from = (struct anchor){a->seq, a->hash, a->size};
	else
		from = (struct anchor){head.seq, head.hash, -1};
	a->known = false;
	if (walk_back(a, st.st_size, &head, &from, err) != 0)
		return -1;
	if (!head.present) {
		/* A new log, or the first line's crash window: give the chain a head
		 * before extending it, so that a crash in the coming batch leaves a
		 * head behind the log rather than none. */
		int rc = 0;

		if (a->seq > 0 && fsync(a->fd) != 0)
			rc = hsmca_error_errno(err, "cannot fsync %s", a->path);
		else
			rc = head_write(a->head_path, a->seq, a->hash, err);
		if (rc != 0) {
			a->known = false; /* so that the next call tries again */
			return -1;
		}
	}
	return 0;
}

static int check_text(const char *what, const char *s, hsmca_error *err)
{
	if (!utf8_valid(s))
		return hsmca_error_set(err, "%s is not valid UTF-8", what);
	return 0;
}

/* A line formatted into a buffer of `cap` bytes.  Once it would not fit,
 * `over` is set and `len` goes on counting, so the refusal can say how long
 * the line would have been. */
struct line {
	char *p;
	size_t len, cap;
	bool over;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (!l->over && n <= l->cap - l->len)
		memcpy(l->p + l->len, s, n);
	else
		l->over = true;
	l->len += n;
}

/* A JSON string escaped exactly as json-c escapes it with
 * JSON_C_TO_STRING_NOSLASHESCAPE (the writer used json-c before): lines
 * keep their bytes, and the chain's hashes their meaning. */
static void put_str(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	put(l, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 0, 0, 0, 0, 0 };
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(l, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
		}
		put(l, esc, n);
	}
	put(l, run, (size_t)(s - run));
	put(l, "\"", 1);
}

/* The record, keys in the documented order, no spaces. */
static void line_format(const hsmca_audit *a, struct line *l, size_t seq, const char *prev,
			const char *now, const struct hsmca_audit_event *ev)
{
	char num[32];
	size_t i;

	put(l, num, (size_t)snprintf(num, sizeof(num), "{\"seq\":%zu,\"time\":", seq));
	put_str(l, now);
	put(l, ",\"actor\":", 9);
	put_str(l, a->actor);
	put(l, ",\"event\":", 9);
	put_str(l, ev->event);
	put(l, ",\"object\":", 10);
	put_str(l, ev->object ? ev->object : "");
	put(l, ",\"outcome\":", 11);
	put_str(l, ev->outcome);
	if (ev->detail && ev->detail[0]) {
		put(l, ",\"detail\":{", 11);
		for (i = 0; ev->detail[i]; i += 2) {
			if (i)
				put(l, ",", 1);
			put_str(l, ev->detail[i]);
			put(l, ":", 1);
			put_str(l, ev->detail[i + 1]);
		}
		put(l, "}", 1);
	}
	put(l, ",\"prev\":\"", 9);
	put(l, prev, HSMCA_AUDIT_HASH_HEX);
	put(l, "\"}", 2);
}

/* The arguments every append checks before it takes any lock. */
static int check_args(const struct hsmca_audit_event *ev, hsmca_error *err)
{
	const char *const *d = ev->detail;
	size_t i, j;

	if (!ev->event || !ev->outcome || !ev->event[0] ||
	    (strcmp(ev->outcome, "ok") != 0 && strcmp(ev->outcome, "failed") != 0))
		return hsmca_error_set(err, "audit %s: event must be non-empty and outcome \"ok\" "
					    "or \"failed\"",
				       ev->event ? ev->event : "");
	if (check_text("event", ev->event, err) != 0 ||
	    check_text("object", ev->object ? ev->object : "", err) != 0)
		return hsmca_error_prefix(err, "audit %.64s", ev->event);
	for (i = 0; d && d[i]; i += 2) {
		if (!d[i + 1]) {
			hsmca_error_set(err, "detail \"%.64s\" has no value", d[i]);
			goto bad;
		}
		if (!d[i][0]) {
			hsmca_error_set(err, "detail key is empty");
			goto bad;
		}
		if (check_text("a detail key", d[i], err) != 0)
			goto bad;
		if (check_text("value", d[i + 1], err) != 0) {
			hsmca_error_prefix(err, "detail \"%.64s\"", d[i]);
			goto bad;
		}
		for (j = 0; j < i; j += 2) {
			if (strcmp(d[j], d[i]) == 0) {
				hsmca_error_set(err, "detail \"%.64s\" given twice", d[i]);
				goto bad;
			}
		}
	}
	return 0;
bad:
	return hsmca_error_prefix(err, "audit %.64s", ev->event);
}

/* Append the n lines with as few O_APPEND writes as a->buf allows (one for
 * a batch of a few hundred lines); no fsync, no head.  All or none: a
 * failed write is cut off again, which is safe because we hold the flock.
 * Called with the mutex and the flock held. */
static int append_locked(hsmca_audit *a, const struct hsmca_audit_event *ev, size_t n,
			 hsmca_error *err)
{
	char hash[HSMCA_AUDIT_HASH_HEX + 1], now[21];
	size_t used = 0, total = 0, i;
	bool written = false;
	off_t start;
	int ret = -1;

	if (catch_up(a, err) != 0) {
		hsmca_error_prefix(err, "audit %.64s: refusing to append (run hsmca audit verify)",
				   ev[0].event);
		return -1;
	}
	start = a->size;
	if (a->seq > (size_t)INT64_MAX - n) {
		hsmca_error_set(err, "audit %.64s: %s is at seq %zu, the last there can be",
				ev[0].event, a->path, a->seq);
		goto out;
	}
	hsmca_format_time(hsmca_now(), now);
	for (i = 0; i < n; i++) {
		struct line l = { a->buf + used, 0, TAIL_MAX - used, false };

		line_format(a, &l, a->seq + 1 + i, i ? hash : a->hash, now, &ev[i]);
		if (l.len > HSMCA_AUDIT_LINE_MAX) {
			hsmca_error_set(err, "audit %.64s: record is %zu bytes, over the %d-byte limit",
					ev[i].event, l.len, HSMCA_AUDIT_LINE_MAX);
			goto out;
		}
		if (l.len + 1 > TAIL_MAX - used) {
			/* a->buf is full: write what it holds, then this line again at
			 * its start (it fits: TAIL_MAX holds the longest line). */
			written = true;
			if (write_all(a->fd, a->buf, used) != 0) {
				hsmca_error_errno(err, "audit %.64s: cannot append to %s", ev[i].event,
						  a->path);
				goto out;
			}
			used = 0;
			l = (struct line){ a->buf, 0, TAIL_MAX, false };
			line_format(a, &l, a->seq + 1 + i, i ? hash : a->hash, now, &ev[i]);
		}
		if (hsmca_audit_sha256_hex(a->buf + used, l.len, hash, err) != 0)
			goto out;
		a->buf[used + l.len] = '\n';
		used += l.len + 1;
		total += l.len + 1;
	}
	written = true;
	if (write_all(a->fd, a->buf, used) != 0) {
		hsmca_error_errno(err, "audit %.64s: cannot append to %s", ev[n - 1].event, a->path);
		goto out;
	}
	written = false;
	a->size = start + (off_t)total;
	a->seq += n;
	memcpy(a->hash, hash, sizeof(a->hash));
	a->pending += n;
	ret = 0;
out:
	/* A failed write may have left lines or part of one: cut them off. */
	if (written && ftruncate(a->fd, start) != 0) {
		a->known = false;
		hsmca_error_prefix(err, "and cannot cut the partial line off %s", a->path);
	}
	return ret;
}

/* Make the lines written so far durable, then record the last line of the
 * log in the head.  Called with the mutex and the flock held. */
static int flush_locked(hsmca_audit *a, hsmca_error *err)
{
	if (a->pending == 0)
		return 0;
	/* Another process may have appended since: the head records the true
	 * end of the log, never moves back, and never covers over damage. */
	if (catch_up(a, err) != 0)
		return hsmca_error_prefix(err, "audit flush: refusing to update the head (run hsmca "
					       "audit verify)");
	if (fsync(a->fd) != 0)
		return hsmca_error_errno(err, "audit flush: cannot fsync %s", a->path);
	if (head_write(a->head_path, a->seq, a->hash, err) != 0)
		return hsmca_error_prefix(err, "audit flush");
	a->pending = 0;
	return 0;
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
	hsmca_error ignored = {0};

	if (!a)
		return;
	if (a->fd >= 0) {
		if (a->pending > 0 && hsmca_audit_lock(a->fd, LOCK_EX, a->path, &ignored) == 0) {
			(void)flush_locked(a, &ignored);
			flock(a->fd, LOCK_UN);
		}
		close(a->fd);
	}
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a->head_path);
	free(a->buf);
	free(a);
}

int hsmca_audit_append(hsmca_audit *a, const char *event, const char *object,
		       const char *outcome, const char *const *detail, hsmca_error *err)
{
	const struct hsmca_audit_event ev = { event, object ? object : "", outcome, detail };
	int ret = -1;

	assert(a && event && outcome);
	if (check_args(&ev, err) != 0)
		return -1;
	pthread_mutex_lock(&a->mu);
	if (hsmca_audit_lock(a->fd, LOCK_EX, a->path, err) != 0)
		goto out;
	if (append_locked(a, &ev, 1, err) == 0) {
		ret = flush_locked(a, err);
		/* The line is written: a later flush, or the next append, retries. */
		if (ret != 0)
			hsmca_error_prefix(err, "audit %.64s: line written but not flushed", event);
	}
	flock(a->fd, LOCK_UN);
out:
	pthread_mutex_unlock(&a->mu);
	return ret;
}

int hsmca_audit_append_deferred(hsmca_audit *a, const char *event, const char *object,
				const char *outcome, const char *const *detail, hsmca_error *err)
{
	const struct hsmca_audit_event ev = { event, object ? object : "", outcome, detail };

	assert(a && event && outcome);
	return hsmca_audit_append_batch(a, &ev, 1, err);
}

int hsmca_audit_append_batch(hsmca_audit *a, const struct hsmca_audit_event *ev, size_t n,
			     hsmca_error *err)
{
	size_t i;
	int ret = -1;

	assert(a && (ev || n == 0));
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (check_args(&ev[i], err) != 0)
			return -1;
	pthread_mutex_lock(&a->mu);
	if (hsmca_audit_lock(a->fd, LOCK_EX, a->path, err) != 0)
		goto out;
	ret = append_locked(a, ev, n, err);
	flock(a->fd, LOCK_UN);
out:
	pthread_mutex_unlock(&a->mu);
	return ret;
}

int hsmca_audit_flush(hsmca_audit *a, hsmca_error *err)
{
	int ret = -1;

	assert(a);
	pthread_mutex_lock(&a->mu);
	if (a->pending == 0) {
		ret = 0;
		goto out;
	}
	if (hsmca_audit_lock(a->fd, LOCK_EX, a->path, err) != 0)
		goto out;
	ret = flush_locked(a, err);
	flock(a->fd, LOCK_UN);
out:
	pthread_mutex_unlock(&a->mu);
	return ret;
}
