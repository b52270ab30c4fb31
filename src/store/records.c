/* Issuance records and revocations: JSON lines, append-only, crash-safe.
 *
 * issued.jsonl, one object per line (every field always present):
 *   {"serial":"4a1f…","subject":"CN=…","profile":"client",
 *    "not_before":"2025-01-01T00:00:00Z","not_after":"…","issued_at":"…",
 *    "csr_key_sha256":"<64 hex>","cert_sha256":"<64 hex>"}
 * revoked.jsonl:
 *   {"serial":"4a1f…","revoked_at":"…","reason":"keyCompromise","reason_code":1}
 *
 * Serials are lower-case hex of the INTEGER's magnitude; comparisons ignore
 * leading zero bytes, so "00c3…" and "c3…" are the same certificate.
 * Unknown fields are ignored (a newer hsmca may add some); missing or
 * malformed ones are errors naming the file and line.
 *
 * Locking between processes: appends hold a shared flock for the one
 * write(), the torn-tail repair and a revocation's check-then-append hold it
 * exclusively, so a repair never cuts a line another process is writing. */
#include "store/records.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fsutil.h"
#include "common/util.h"

/* Longest line a reader accepts; a record is well under 4 KiB even with every
 * subject character escaped. */
#define LINE_MAX_BYTES 16384
#define SERIAL_MAX 20
/* The serial set keeps a keyed 62-bit fingerprint per serial, not the
 * serial: 8 bytes an entry keeps 100,000 certificates in about 800 KB.  A
 * fingerprint collision can only make a fresh serial look used (it is
 * redrawn), never let a used one through.  Slot value: fingerprint | 1
 * (occupied) | ENT_RECORDED. */
#define ENT_RECORDED 0x2u
#define SLOT_BUSY 0x1u

/* The set is a sorted array of fingerprints (8 bytes each, no empty slots:
 * ~800 KB at 100,000) plus a small hash table of recent inserts, merged into
 * the array when it holds DELTA_MAX.  The array is its own mapping, grown
 * with mremap(): a growth moves page tables, never copies, so there is no
 * moment with two copies of the set resident. */
#define DELTA_SLOTS 2048 /* power of two */
#define DELTA_MAX 1024

struct serial_set {
	uint64_t *sorted; /* by value with the flag bits cleared */
	size_t n, map_bytes;
	uint64_t delta[DELTA_SLOTS]; /* 0 = empty */
	size_t n_delta;
	uint64_t seed;
};

/* Appended lines wait here for one write() at the next sync (or when they
 * pass this size): a batch writes once per group commit, not per record. */
#define WBUF_FLUSH (64 * 1024)

struct hsmca_records {
	pthread_mutex_t mu;
	int fd;
	bool failed; /* a write went wrong: no further appends on this handle */
	char path[PATH_MAX];
	struct serial_set set;
	char *wbuf; /* complete lines not yet written */
	size_t wlen, wcap;
};

static const char *const reason_names[] = {
	"unspecified",	 "keyCompromise", "cACompromise",    "affiliationChanged",
	"superseded",	 "cessationOfOperation", "certificateHold", NULL /* 7 unused */,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

/* ---- small helpers ---------------------------------------------------- */

static void serial_strip(const uint8_t **s, size_t *len)
{
	while (*len > 1 && (*s)[0] == 0) {
		(*s)++;
		(*len)--;
	}
}

static int lock_fd(int fd, int op, const char *path, hsmca_error *err)
{
	while (flock(fd, op) != 0) {
		if (errno != EINTR)
			return hsmca_error_errno(err, "cannot lock %s", path);
	}
	return 0;
}

/* One write() of the whole line; a short write leaves a torn tail that the
 * next open repairs. */
static int write_line(int fd, const char *line, size_t len, const char *path, hsmca_error *err)
{
	ssize_t w;

	do
		w = write(fd, line, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return hsmca_error_errno(err, "cannot append to %s", path);
	if ((size_t)w != len)
		return hsmca_error_set(err, "cannot append to %s: short write (%zd of %zu bytes; "
					    "disk full?)", path, w, len);
	return 0;
}

/* Cut a last line that lacks its newline (the writer died mid-line).
 * Called with the exclusive flock held. */
static int repair_tail(int fd, const char *path, hsmca_error *err)
{
	struct stat st;
	uint8_t buf[4096];
	off_t end, keep = 0;
	ssize_t r;

	if (fstat(fd, &st) != 0)
		return hsmca_error_errno(err, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return hsmca_error_set(err, "%s is not a regular file", path);
	end = st.st_size;
	if (end == 0)
		return 0;
	if (pread(fd, buf, 1, end - 1) != 1)
		return hsmca_error_errno(err, "cannot read %s", path);
	if (buf[0] == '\n')
		return 0;
	while (end > 0) {
		size_t chunk = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;
		size_t i;

		r = pread(fd, buf, chunk, end - (off_t)chunk);
		if (r != (ssize_t)chunk)
			return hsmca_error_errno(err, "cannot read %s", path);
		end -= (off_t)chunk;
		for (i = chunk; i > 0; i--) {
			if (buf[i - 1] == '\n') {
				keep = end + (off_t)i;
				goto found;
			}
		}
	}
found:
	if (ftruncate(fd, keep) != 0 || fsync(fd) != 0)
		return hsmca_error_errno(err, "cannot cut the torn last line of %s", path);
	return 0;
}

/* Open (creating if needed) an append-only log; fsyncs the directory when
 * the file is new so the file itself survives a crash. */
static int open_log(const char *dir, const char *path, int *out, hsmca_error *err)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd >= 0) {
		if (hsmca_fsync_dir(dir, err) != 0) {
			close(fd);
			return -1;
		}
	} else if (errno == EEXIST) {
		fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return hsmca_error_errno(err, "cannot open %s", path);
	*out = fd;
	return 0;
}

/* Call `cb` for every complete line of `path` (a missing file has none),
 * reading in bounded chunks: memory stays flat however long the file, and a
 * line over LINE_MAX_BYTES is an error rather than an allocation.  The last
 * line is ignored when it has no newline (torn tail). */
static int lines_foreach(const char *path, int (*cb)(char *line, size_t len, size_t lineno, void *arg),
			 void *arg, hsmca_error *err)
{
	const size_t cap = 4 * LINE_MAX_BYTES;
	char *buf = NULL;
	size_t start = 0, end = 0, lineno = 0;
	int fd, ret = -1, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return hsmca_error_errno(err, "cannot open %s", path);
	}
	buf = malloc(cap + 1);
	if (!buf) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (;;) {
		char *nl = memchr(buf + start, '\n', end - start);
		ssize_t r;

		if (nl) {
			size_t len = (size_t)(nl - (buf + start));

			lineno++;
			if (len > LINE_MAX_BYTES) {
				hsmca_error_set(err, "%s line %zu: longer than %d bytes", path, lineno,
						LINE_MAX_BYTES);
				goto out;
			}
			*nl = '\0';
			rc = cb(buf + start, len, lineno, arg);
			if (rc < 0) {
				hsmca_error_prefix(err, "%s line %zu", path, lineno);
				goto out;
			}
			if (rc > 0)
				break;
			start += len + 1;
			continue;
		}
		if (end - start > LINE_MAX_BYTES) {
			hsmca_error_set(err, "%s line %zu: longer than %d bytes", path, lineno + 1,
					LINE_MAX_BYTES);
			goto out;
		}
		memmove(buf, buf + start, end - start);
		end -= start;
		start = 0;
		do
			r = read(fd, buf + end, cap - end);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			hsmca_error_errno(err, "cannot read %s", path);
			goto out;
		}
		if (r == 0)
			break; /* whatever is left has no newline: a torn tail */
		end += (size_t)r;
	}
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

/* ---- JSON fields ------------------------------------------------------ */

static json_object *parse_object(json_tokener *tok, const char *line, size_t len, hsmca_error *err)
{
	json_object *obj;
	enum json_tokener_error jerr;

	if (memchr(line, '\0', len)) {
		hsmca_error_set(err, "not valid JSON (contains a NUL byte)");
		return NULL;
	}
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!obj || jerr != json_tokener_success || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		hsmca_error_set(err, "not a valid JSON object");
		return NULL;
	}
	return obj;
}

static int get_str(json_object *o, const char *key, const char **out, hsmca_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return hsmca_error_set(err, "field \"%s\" is missing or not a string", key);
	*out = json_object_get_string(v);
	return 0;
}

static int get_copy(json_object *o, const char *key, char *out, size_t outlen, hsmca_error *err)
{
	const char *s;

	if (get_str(o, key, &s, err) != 0)
		return -1;
	if (strlen(s) >= outlen)
		return hsmca_error_set(err, "field \"%s\" is longer than %zu bytes", key, outlen - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int get_time(json_object *o, const char *key, time_t *out, hsmca_error *err)
{
	const char *s;

	if (get_str(o, key, &s, err) != 0)
		return -1;
	return hsmca_parse_time(s, key, out, err);
}

static int get_hash(json_object *o, const char *key, uint8_t out[32], hsmca_error *err)
{
	const char *s;

	if (get_str(o, key, &s, err) != 0)
		return -1;
	if (strlen(s) != 64 || strchr(s, ':') || hsmca_unhex(s, out, 32) != 32)
		return hsmca_error_set(err, "field \"%s\" is not 64 hex digits", key);
	return 0;
}

static int get_serial(json_object *o, uint8_t out[SERIAL_MAX], size_t *len, hsmca_error *err)
{
	const char *s;

	if (get_str(o, "serial", &s, err) != 0)
		return -1;
	return hsmca_records_parse_serial(s, out, len, err);
}

static void add_str(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val));
}

static void add_time(json_object *o, const char *key, time_t t)
{
	char buf[21];

	hsmca_format_time(t, buf);
	add_str(o, key, buf);
}

static void add_hex(json_object *o, const char *key, const uint8_t *p, size_t n)
{
	char buf[2 * 32 + 1];

	hsmca_hex(p, n, buf);
	add_str(o, key, buf);
}

/* Serialise `o` plus a newline into a fresh buffer. */
static char *json_line(json_object *o, size_t *len)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n;
	char *line;

	if (!s)
		return NULL;
	n = strlen(s);
	line = malloc(n + 2);
	if (!line)
		return NULL;
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

/* Append s as a JSON string, escaped as json-c escapes it with
 * JSON_C_TO_STRING_NOSLASHESCAPE (the lines read the same as when json-c
 * wrote them).  `out` has room for 6 bytes per input byte plus the quotes. */
static size_t put_json_str(char *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	out[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		switch (c) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '\b': out[o++] = 'b'; break;
		case '\n': out[o++] = 'n'; break;
		case '\r': out[o++] = 'r'; break;
		case '\t': out[o++] = 't'; break;
		case '\f': out[o++] = 'f'; break;
		default:
			memcpy(out + o, "u00", 3);
			out[o + 3] = hex[c >> 4];
			out[o + 4] = hex[c & 0xf];
			o += 5;
		}
	}
	out[o++] = '"';
	return o;
}

static size_t put_lit(char *out, const char *s)
{
	size_t n = strlen(s);

	memcpy(out, s, n);
	return n;
}

static size_t put_time(char *out, time_t t)
{
	char buf[21];

	hsmca_format_time(t, buf);
	out[0] = '"';
	memcpy(out + 1, buf, 20);
	out[21] = '"';
	return 22;
}

static size_t put_hex(char *out, const uint8_t *p, size_t n)
{
	out[0] = '"';
	hsmca_hex(p, n, out + 1);
	out[2 * n + 1] = '"';
	return 2 * n + 2;
}

/* Longest line record_line() writes: every string byte escaped to 6. */
#define RECORD_LINE_MAX \
	(256 + 6 * (sizeof(((struct hsmca_record *)0)->subject) + \
		    sizeof(((struct hsmca_record *)0)->profile)))

/* One issued.jsonl line with its newline, the same bytes json-c wrote for
 * a json-c object with these keys in this order: no spaces, the same
 * escaping.  Returns its length. */
static size_t record_line(const struct hsmca_record *rec, char *out)
{
	size_t o = 0;

	o += put_lit(out + o, "{\"serial\":");
	o += put_hex(out + o, rec->serial, rec->serial_len);
	o += put_lit(out + o, ",\"subject\":");
	o += put_json_str(out + o, rec->subject);
	o += put_lit(out + o, ",\"profile\":");
	o += put_json_str(out + o, rec->profile);
	o += put_lit(out + o, ",\"not_before\":");
	o += put_time(out + o, rec->not_before);
	o += put_lit(out + o, ",\"not_after\":");
	o += put_time(out + o, rec->not_after);
	o += put_lit(out + o, ",\"issued_at\":");
	o += put_time(out + o, rec->issued_at);
	o += put_lit(out + o, ",\"csr_key_sha256\":");
	o += put_hex(out + o, rec->csr_key_sha256, 32);
	o += put_lit(out + o, ",\"cert_sha256\":");
	o += put_hex(out + o, rec->cert_sha256, 32);
	o += put_lit(out + o, "}\n");
	return o;
}

/* Write the buffered lines with one write() under a shared flock.  A failed
 * or short write leaves a torn tail for the next open to cut, and the handle
 * refuses further appends.  Called with the mutex held. */
static int wbuf_write(hsmca_records *r, hsmca_error *err)
{
	int rc;

	if (r->wlen == 0)
		return 0;
	if (lock_fd(r->fd, LOCK_SH, r->path, err) != 0) {
		r->failed = true;
		r->wlen = 0;
		return -1;
	}
	rc = write_line(r->fd, r->wbuf, r->wlen, r->path, err);
	flock(r->fd, LOCK_UN);
	r->wlen = 0;
	if (rc != 0)
		r->failed = true;
	return rc;
}

/* ---- the serial set: open addressing, linear probing ------------------ */

static uint64_t set_hash(const struct serial_set *s, const uint8_t *p, size_t n)
{
	uint64_t h = s->seed ^ 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	/* splitmix64 finaliser: FNV alone clusters in the low bits. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static uint64_t set_key(const struct serial_set *s, const uint8_t *p, size_t n)
{
	return (set_hash(s, p, n) & ~(uint64_t)3) | SLOT_BUSY;
}

#define KEY_OF(v) ((v) & ~(uint64_t)ENT_RECORDED)

/* The delta slot holding `key`, or the empty slot where it would go. */
static size_t delta_find(const struct serial_set *s, uint64_t key)
{
	size_t i = (size_t)(key >> 2) & (DELTA_SLOTS - 1);

	for (;;) {
		uint64_t v = s->delta[i];

		if (v == 0 || KEY_OF(v) == key)
			return i;
		i = (i + 1) & (DELTA_SLOTS - 1);
	}
}

/* The entry of the sorted array holding `key`, or NULL. */
static uint64_t *sorted_find(const struct serial_set *s, uint64_t key)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t v = KEY_OF(s->sorted[mid]);

		if (v == key)
			return &s->sorted[mid];
		if (v < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int u64_cmp(const void *pa, const void *pb)
{
	uint64_t a = KEY_OF(*(const uint64_t *)pa), b = KEY_OF(*(const uint64_t *)pb);

	return a < b ? -1 : a > b;
}

/* Move the delta into the sorted array: sort it, grow the array's mapping,
 * merge from the back in place. */
static int set_merge(struct serial_set *s)
{
	uint64_t d[DELTA_MAX];
	size_t nd = 0, added, i, need, k;

	for (i = 0; i < DELTA_SLOTS; i++)
		if (s->delta[i])
			d[nd++] = s->delta[i];
	added = nd;
	qsort(d, nd, sizeof(d[0]), u64_cmp);
	need = (s->n + nd) * sizeof(uint64_t);
	if (need > s->map_bytes) {
		size_t bytes = (need + 65535) & ~(size_t)65535;
		void *m = s->sorted ? mremap(s->sorted, s->map_bytes, bytes, MREMAP_MAYMOVE)
				    : mmap(NULL, bytes, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return -1;
		s->sorted = m;
		s->map_bytes = bytes;
	}
	i = s->n;
	k = s->n + nd;
	while (nd > 0) {
		if (i > 0 && KEY_OF(s->sorted[i - 1]) > KEY_OF(d[nd - 1]))
			s->sorted[--k] = s->sorted[--i];
		else
			s->sorted[--k] = d[--nd];
	}
	s->n += added;
	memset(s->delta, 0, sizeof(s->delta));
	s->n_delta = 0;
	return 0;
}

/* Insert (or mark) a serial.  Returns 0 when inserted, 1 when present
 * (*flags receives its flags), -1 when out of memory. */
static int set_insert(struct serial_set *s, const uint8_t *p, size_t n, uint8_t flag,
		      uint8_t *flags)
{
	uint64_t key, *hit;
	size_t slot;

	serial_strip(&p, &n);
	key = set_key(s, p, n);
	slot = delta_find(s, key);
	hit = s->delta[slot] ? &s->delta[slot] : sorted_find(s, key);
	if (hit) {
		if (flags)
			*flags = (uint8_t)(*hit & ENT_RECORDED);
		*hit |= flag;
		return 1;
	}
	s->delta[slot] = key | flag;
	s->n_delta++;
	if (s->n_delta == DELTA_MAX && set_merge(s) != 0) {
		/* Keep the set whole: take the serial back out of the full delta. */
		s->delta[slot] = 0;
		s->n_delta--;
		return -1;
	}
	return 0;
}

static bool set_has(struct serial_set *s, const uint8_t *p, size_t n)
{
	uint64_t key;

	serial_strip(&p, &n);
	key = set_key(s, p, n);
	return s->delta[delta_find(s, key)] != 0 || sorted_find(s, key) != NULL;
}

static size_t set_bytes(const struct serial_set *s)
{
	return s->map_bytes + sizeof(s->delta);
}

static void set_free(struct serial_set *s)
{
	if (s->sorted)
		munmap(s->sorted, s->map_bytes);
	s->sorted = NULL;
}

/* ---- records ---------------------------------------------------------- */

int hsmca_records_parse_serial(const char *text, uint8_t out[static 20], size_t *len,
			       hsmca_error *err)
{
	char hex[2 * SERIAL_MAX + 2];
	size_t n = 0;
	const char *p;
	uint8_t buf[SERIAL_MAX];
	int got;

	for (p = text; *p; p++) {
		if (*p == ':')
			continue;
		if (n + 1 >= sizeof(hex) - 1)
			return hsmca_error_set(err, "serial '%.80s' is longer than %d bytes", text,
					       SERIAL_MAX);
		hex[n++] = *p;
	}
	hex[n] = '\0';
	if (n == 0)
		return hsmca_error_set(err, "serial '%s' is empty", text);
	if (n % 2) {
		memmove(hex + 1, hex, n + 1);
		hex[0] = '0';
	}
	got = hsmca_unhex(hex, buf, sizeof(buf));
	if (got <= 0)
		return hsmca_error_set(err, "serial '%.80s' is not hexadecimal", text);
	memcpy(out, buf, (size_t)got);
	*len = (size_t)got;
	return 0;
}

static int load_serial_cb(char *line, size_t len, size_t lineno, void *arg)
{
	void **a = arg;
	hsmca_records *r = a[0];
	json_tokener *tok = a[1];
	hsmca_error *err = a[2];
	static const char prefix[] = "{\"serial\":\"";
	uint8_t serial[SERIAL_MAX];
	size_t slen;
	json_object *o;
	int rc;

	(void)lineno;
	/* Fast path for the lines hsmca writes (serial first, plain hex): only
	 * the serial matters here, and a full JSON parse of 100,000 lines
	 * would triple the time every 'hsmca sign' spends opening the records.
	 * Anything else takes the full parse (and its errors);
	 * hsmca_records_foreach() always parses fully. */
	if (len > sizeof(prefix) + 2 && memcmp(line, prefix, sizeof(prefix) - 1) == 0 &&
	    line[len - 1] == '}') {
		const char *hex = line + sizeof(prefix) - 1;
		size_t n = strspn(hex, "0123456789abcdef");
		char buf[2 * SERIAL_MAX + 1];

		if (n >= 2 && n % 2 == 0 && n <= 2 * SERIAL_MAX && hex[n] == '"') {
			memcpy(buf, hex, n);
			buf[n] = '\0';
			slen = (size_t)hsmca_unhex(buf, serial, sizeof(serial));
			goto insert;
		}
	}
	o = parse_object(tok, line, len, err);
	if (!o)
		return -1;
	rc = get_serial(o, serial, &slen, err);
	json_object_put(o);
	if (rc != 0)
		return -1;
insert:
	/* A serial recorded twice is tolerated on load: refusing would block
	 * issuance over an old mistake, and either line names the same number. */
	if (set_insert(&r->set, serial, slen, ENT_RECORDED, NULL) < 0)
		return hsmca_error_set(err, "out of memory");
	return 0;
}

int hsmca_records_open(const char *ca_dir, hsmca_records **out, hsmca_error *err)
{
	hsmca_records *r = calloc(1, sizeof(*r));
	json_tokener *tok = NULL;
	int ret = -1;

	if (!r)
		return hsmca_error_set(err, "out of memory");
	r->fd = -1;
	pthread_mutex_init(&r->mu, NULL);
	if (getrandom(&r->set.seed, sizeof(r->set.seed), 0) != sizeof(r->set.seed))
		r->set.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	if (hsmca_path_join(r->path, sizeof(r->path), err, "%s/issued.jsonl", ca_dir) != 0 ||
	    open_log(ca_dir, r->path, &r->fd, err) != 0 ||
	    lock_fd(r->fd, LOCK_EX, r->path, err) != 0)
		goto out;
	/* Closing the descriptor on an error path releases the lock. */
	if (repair_tail(r->fd, r->path, err) != 0)
		goto out;
	tok = json_tokener_new();
	if (!tok) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	{
		void *a[3] = { r, tok, err };

		if (lines_foreach(r->path, load_serial_cb, a, err) != 0)
			goto out;
	}
	flock(r->fd, LOCK_UN);
	*out = r;
	r = NULL;
	ret = 0;
out:
	json_tokener_free(tok);
	if (ret != 0)
		hsmca_error_prefix(err, "cannot open the issuance records of %s", ca_dir);
	hsmca_records_close(r);
	return ret;
}

void hsmca_records_close(hsmca_records *r)
{
	if (!r)
		return;
	if (r->fd >= 0) {
		hsmca_error ignored = { "", 0 };

		if (!r->failed)
			(void)wbuf_write(r, &ignored);
		fsync(r->fd);
		close(r->fd);
	}
	pthread_mutex_destroy(&r->mu);
	free(r->wbuf);
	set_free(&r->set);
	free(r);
}

bool hsmca_records_has_serial(hsmca_records *r, const uint8_t *serial, size_t len)
{
	bool has;

	pthread_mutex_lock(&r->mu);
	has = set_has(&r->set, serial, len);
	pthread_mutex_unlock(&r->mu);
	return has;
}

int hsmca_records_reserve_serial(hsmca_records *r, const uint8_t *serial, size_t len,
				 hsmca_error *err)
{
	int rc;

	if (len == 0 || len > SERIAL_MAX)
		return hsmca_error_set(err, "serial length %zu outside 1..%d bytes", len, SERIAL_MAX);
	pthread_mutex_lock(&r->mu);
	rc = set_insert(&r->set, serial, len, 0, NULL);
	pthread_mutex_unlock(&r->mu);
	if (rc < 0)
		return hsmca_error_set(err, "reserve serial: out of memory");
	return rc;
}

size_t hsmca_records_memory(hsmca_records *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = sizeof(*r) + set_bytes(&r->set);
	pthread_mutex_unlock(&r->mu);
	return n;
}

static bool bounded_string(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int hsmca_records_append(hsmca_records *r, const struct hsmca_record *rec, hsmca_error *err)
{
	char hex[2 * SERIAL_MAX + 1];
	uint8_t flags = 0;
	int ret = -1, rc;

	if (rec->serial_len == 0 || rec->serial_len > SERIAL_MAX ||
	    !bounded_string(rec->subject, sizeof(rec->subject)) ||
	    !bounded_string(rec->profile, sizeof(rec->profile)))
		return hsmca_error_set(err, "record: serial length or string field out of bounds");
	hsmca_hex(rec->serial, rec->serial_len, hex);
	pthread_mutex_lock(&r->mu);
	if (r->failed) {
		hsmca_error_set(err, "record serial %s: an earlier write to %s failed; reopen the "
				     "records (the next open repairs the file)", hex, r->path);
		goto unlock;
	}
	if (r->wcap - r->wlen < RECORD_LINE_MAX) {
		size_t cap = r->wlen + RECORD_LINE_MAX + WBUF_FLUSH;
		char *n = realloc(r->wbuf, cap);

		if (!n) {
			hsmca_error_set(err, "record serial %s: out of memory", hex);
			goto unlock;
		}
		r->wbuf = n;
		r->wcap = cap;
	}
	rc = set_insert(&r->set, rec->serial, rec->serial_len, ENT_RECORDED, &flags);
	if (rc < 0) {
		hsmca_error_set(err, "record serial %s: out of memory", hex);
		goto unlock;
	}
	if (rc == 1 && (flags & ENT_RECORDED)) {
		hsmca_error_set(err, "record serial %s: this serial is already recorded in %s", hex,
				r->path);
		goto unlock;
	}
	r->wlen += record_line(rec, r->wbuf + r->wlen);
	if (r->wlen >= WBUF_FLUSH && wbuf_write(r, err) != 0)
		goto unlock;
	ret = 0;
unlock:
	pthread_mutex_unlock(&r->mu);
	return ret;
}

int hsmca_records_sync(hsmca_records *r, hsmca_error *err)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = wbuf_write(r, err);
	pthread_mutex_unlock(&r->mu);
	if (rc != 0)
		return -1;
	/* Outside the mutex: appends go on while the disk flushes. */
	if (fsync(r->fd) != 0)
		return hsmca_error_errno(err, "cannot fsync %s", r->path);
	return 0;
}

static int parse_record(json_tokener *tok, const char *line, size_t len, struct hsmca_record *rec,
			hsmca_error *err)
{
	json_object *o = parse_object(tok, line, len, err);
	int ret = -1;

	if (!o)
		return -1;
	memset(rec, 0, sizeof(*rec));
	if (get_serial(o, rec->serial, &rec->serial_len, err) != 0 ||
	    get_copy(o, "subject", rec->subject, sizeof(rec->subject), err) != 0 ||
	    get_copy(o, "profile", rec->profile, sizeof(rec->profile), err) != 0 ||
	    get_time(o, "not_before", &rec->not_before, err) != 0 ||
	    get_time(o, "not_after", &rec->not_after, err) != 0 ||
	    get_time(o, "issued_at", &rec->issued_at, err) != 0 ||
	    get_hash(o, "csr_key_sha256", rec->csr_key_sha256, err) != 0 ||
	    get_hash(o, "cert_sha256", rec->cert_sha256, err) != 0)
		goto out;
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

struct foreach_ctx {
	json_tokener *tok;
	int (*cb)(const struct hsmca_record *rec, void *arg);
	void *arg;
	hsmca_error *err;
	struct hsmca_record rec;
};

static int foreach_cb(char *line, size_t len, size_t lineno, void *arg)
{
	struct foreach_ctx *c = arg;

	(void)lineno;
	if (parse_record(c->tok, line, len, &c->rec, c->err) != 0)
		return -1;
	return c->cb(&c->rec, c->arg) ? 1 : 0;
}

int hsmca_records_foreach(const char *ca_dir,
			  int (*cb)(const struct hsmca_record *rec, void *arg), void *arg,
			  hsmca_error *err)
{
	struct foreach_ctx c = { .cb = cb, .arg = arg, .err = err };
	char path[PATH_MAX];
	int ret;

	if (hsmca_path_join(path, sizeof(path), err, "%s/issued.jsonl", ca_dir) != 0)
		return -1;
	c.tok = json_tokener_new();
	if (!c.tok)
		return hsmca_error_set(err, "out of memory");
	ret = lines_foreach(path, foreach_cb, &c, err);
	json_tokener_free(c.tok);
	return ret;
}

/* ---- revocations ------------------------------------------------------ */

const char *hsmca_revocation_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= HSMCA_ARRAY_LEN(reason_names))
		return NULL;
	return reason_names[reason];
}

/* Lower-case with '-' and '_' dropped: "key-compromise" == "keyCompromise". */
static void reason_fold(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *in && n + 1 < outlen; in++) {
		if (*in == '-' || *in == '_')
			continue;
		out[n++] = (char)(*in >= 'A' && *in <= 'Z' ? *in - 'A' + 'a' : *in);
	}
	out[n] = '\0';
}

int hsmca_revocation_parse_reason(const char *name, int *reason, hsmca_error *err)
{
	char want[48], have[48];
	size_t i;

	if (!name || strlen(name) >= sizeof(want))
		goto unknown;
	reason_fold(name, want, sizeof(want));
	for (i = 0; i < HSMCA_ARRAY_LEN(reason_names); i++) {
		if (!reason_names[i])
			continue;
		reason_fold(reason_names[i], have, sizeof(have));
		if (strcmp(want, have) != 0)
			continue;
		if (i == 8)
			return hsmca_error_set(err, "revocation reason removeFromCRL is only for delta "
						    "CRLs, which hsmca does not issue");
		*reason = (int)i;
		return 0;
	}
unknown:
	return hsmca_error_set(err, "unknown revocation reason '%.64s': use unspecified, "
				    "keyCompromise, cACompromise, affiliationChanged, superseded, "
				    "cessationOfOperation, certificateHold, privilegeWithdrawn or "
				    "aACompromise (kebab-case such as key-compromise is fine too)",
			       name ? name : "");
}

static int parse_revocation(json_tokener *tok, const char *line, size_t len,
			    struct hsmca_revocation *rv, hsmca_error *err)
{
	json_object *o = parse_object(tok, line, len, err), *v;
	int ret = -1;

	if (!o)
		return -1;
	memset(rv, 0, sizeof(*rv));
	if (get_serial(o, rv->serial, &rv->serial_len, err) != 0 ||
	    get_time(o, "revoked_at", &rv->revoked_at, err) != 0)
		goto out;
	if (!json_object_object_get_ex(o, "reason_code", &v) || !json_object_is_type(v, json_type_int)) {
		hsmca_error_set(err, "field \"reason_code\" is missing or not an integer");
		goto out;
	}
	rv->reason = (int)json_object_get_int64(v);
	if (json_object_get_int64(v) != rv->reason || !hsmca_revocation_reason_name(rv->reason) ||
	    rv->reason == 8) {
		hsmca_error_set(err, "field \"reason_code\" is not a CRL reason hsmca uses");
		goto out;
	}
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

struct rev_list {
	json_tokener *tok;
	hsmca_error *err;
	struct hsmca_revocation *v;
	size_t n, cap;
};

static int rev_list_cb(char *line, size_t len, size_t lineno, void *arg)
{
	struct rev_list *l = arg;

	(void)lineno;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *nv = realloc(l->v, cap * sizeof(*l->v));

		if (!nv)
			return hsmca_error_set(l->err, "out of memory");
		l->v = nv;
		l->cap = cap;
	}
	if (parse_revocation(l->tok, line, len, &l->v[l->n], l->err) != 0)
		return -1;
	l->n++;
	return 0;
}

static int read_revocations(const char *path, struct rev_list *l, hsmca_error *err)
{
	int ret;

	memset(l, 0, sizeof(*l));
	l->err = err;
	l->tok = json_tokener_new();
	if (!l->tok)
		return hsmca_error_set(err, "out of memory");
	ret = lines_foreach(path, rev_list_cb, l, err);
	json_tokener_free(l->tok);
	l->tok = NULL;
	if (ret != 0) {
		free(l->v);
		l->v = NULL;
		l->n = 0;
	}
	return ret;
}

int hsmca_revocations(const char *ca_dir, struct hsmca_revocation **out, size_t *n,
		      hsmca_error *err)
{
	char path[PATH_MAX];
	struct rev_list l;

	if (hsmca_path_join(path, sizeof(path), err, "%s/revoked.jsonl", ca_dir) != 0 ||
	    read_revocations(path, &l, err) != 0)
		return -1;
	*out = l.v;
	*n = l.n;
	return 0;
}

/* Order by value: shorter (after stripping zeros) first, then bytes. */
static int serial_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	serial_strip(&a, &alen);
	serial_strip(&b, &blen);
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

static int revocation_cmp(const void *pa, const void *pb)
{
	const struct hsmca_revocation *a = pa, *b = pb;

	return serial_cmp(a->serial, a->serial_len, b->serial, b->serial_len);
}

void hsmca_revocations_sort(struct hsmca_revocation *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), revocation_cmp);
}

const struct hsmca_revocation *hsmca_revocations_find(const struct hsmca_revocation *v, size_t n,
						      const uint8_t *serial, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = serial_cmp(v[mid].serial, v[mid].serial_len, serial, len);

		if (c == 0)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct find_ctx {
	const uint8_t *serial;
	size_t len;
	bool found;
};

static int find_cb(const struct hsmca_record *rec, void *arg)
{
	struct find_ctx *f = arg;

	if (serial_cmp(rec->serial, rec->serial_len, f->serial, f->len) == 0) {
		f->found = true;
		return 1;
	}
	return 0;
}

int hsmca_revoke(const char *ca_dir, const uint8_t *serial, size_t len, int reason, time_t when,
		 hsmca_error *err)
{
	struct find_ctx f = { serial, len, false };
	struct rev_list l = { 0 };
	char path[PATH_MAX], hex[2 * SERIAL_MAX + 1], at[21];
	json_object *o = NULL;
	char *line = NULL;
	size_t i, line_len = 0;
	int fd = -1, ret = -1;

	if (len == 0 || len > SERIAL_MAX)
		return hsmca_error_set(err, "revoke: serial length %zu outside 1..%d bytes", len,
				       SERIAL_MAX);
	hsmca_hex(serial, len, hex);
	if (!hsmca_revocation_reason_name(reason) || reason == 8)
		return hsmca_error_set(err, "revoke %s: reason code %d is not one hsmca uses", hex,
				       reason);
	/* From here on every message is prefixed with "revoke <serial>". */
	if (hsmca_path_join(path, sizeof(path), err, "%s/revoked.jsonl", ca_dir) != 0 ||
	    open_log(ca_dir, path, &fd, err) != 0)
		goto out;
	/* Exclusive for the whole check-then-append: two revocations of one
	 * serial racing each other end as one line and one error. */
	if (lock_fd(fd, LOCK_EX, path, err) != 0 || repair_tail(fd, path, err) != 0)
		goto out;
	if (hsmca_records_foreach(ca_dir, find_cb, &f, err) != 0)
		goto out;
	if (!f.found) {
		hsmca_error_set(err, "no certificate with this serial was issued by this CA (not in "
				     "%s/issued.jsonl; see 'hsmca certs list')", ca_dir);
		goto out;
	}
	if (read_revocations(path, &l, err) != 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		if (serial_cmp(l.v[i].serial, l.v[i].serial_len, serial, len) == 0) {
			hsmca_format_time(l.v[i].revoked_at, at);
			hsmca_error_set(err, "already revoked since %s (reason %s)", at,
					hsmca_revocation_reason_name(l.v[i].reason));
			goto out;
		}
	}
	o = json_object_new_object();
	if (o) {
		add_hex(o, "serial", serial, len);
		add_time(o, "revoked_at", when);
		add_str(o, "reason", hsmca_revocation_reason_name(reason));
		json_object_object_add(o, "reason_code", json_object_new_int(reason));
		line = json_line(o, &line_len);
	}
	if (!line) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (write_line(fd, line, line_len, path, err) != 0)
		goto out;
	if (fsync(fd) != 0) {
		hsmca_error_errno(err, "cannot fsync %s", path);
		goto out;
	}
	ret = 0;
out:
	if (ret != 0)
		hsmca_error_prefix(err, "revoke %s", hex);
	free(line);
	json_object_put(o);
	free(l.v);
	if (fd >= 0)
		close(fd); /* releases the flock */
	return ret;
}
