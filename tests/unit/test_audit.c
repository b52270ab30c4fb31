/* Unit tests for the tamper-evident audit log (src/audit*.c), on temp files:
 * format, chain, head, tampering, synchronous and deferred appends, threads,
 * processes, crashes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "audit/audit.h"

struct fixture {
	char dir[1024];
	char log[PATH_MAX];
	char head[PATH_MAX];
};

/* ---- helpers ---------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/hsmca-audit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
	snprintf(f->head, sizeof(f->head), "%s/audit.log.head", f->dir);
	setenv("HSMCA_NOW", "2030-01-02T03:04:05Z", 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];

	/* Only paths this fixture created: the log, its head and stray temporaries. */
	unlink(f->log);
	unlink(f->head);
	snprintf(cmd, sizeof(cmd), "%s/audit.log.head.tmp.%ld", f->dir, (long)getpid());
	unlink(cmd);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void spit(const char *path, const char *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Offsets of the starts of lines; returns the count. */
static size_t line_starts(const char *buf, size_t len, size_t *starts, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (i == 0 || buf[i - 1] == '\n') {
			assert_true(n < max);
			starts[n++] = i;
		}
	}
	return n;
}

static void write_log(const struct fixture *f, size_t n)
{
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	char serial[32];
	size_t i;

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	for (i = 0; i < n; i++) {
		const char *const detail[] = {"serial", serial, "note", "caf\xc3\xa9 \"q\"", NULL};

		snprintf(serial, sizeof(serial), "%zx", 0x1000 + i);
		assert_int_equal(hsmca_audit_append(a, i == 0 ? "init" : "sign",
						    "pkcs11:token=root;object=talos-ca",
						    i % 3 == 2 ? "failed" : "ok", detail, &err),
				 0);
	}
	hsmca_audit_close(a);
}

static void sha256_hex_test(const char *data, size_t len, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t i;

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

/* Verify, expecting a break at `line`, with `needle` in the message. */
static void expect_break(const char *log, size_t line, const char *needle)
{
	hsmca_error err = {0};
	size_t lines = 12345, bad = 12345;

	assert_int_equal(hsmca_audit_verify(log, &lines, &bad, &err), -1);
	if (bad != line || !strstr(err.msg, needle))
		fail_msg("expected a break at line %zu with \"%s\", got line %zu: %s", line, needle,
			 bad, err.msg);
	assert_int_equal(lines, 12345); /* not written on failure */
}

static void expect_ok(const char *log, size_t want)
{
	hsmca_error err = {0};
	size_t lines = 0, bad = 0;

	if (hsmca_audit_verify(log, &lines, &bad, &err) != 0)
		fail_msg("verify failed at line %zu: %s", bad, err.msg);
	assert_int_equal(lines, want);
}

/* The seq the head file records; -1 if there is no head file. */
static long head_seq(const struct fixture *f)
{
	json_object *obj, *v;
	size_t len;
	char *buf;
	long seq;

	if (access(f->head, F_OK) != 0)
		return -1;
	buf = slurp(f->head, &len);
	obj = json_tokener_parse(buf);
	assert_non_null(obj);
	assert_true(json_object_object_get_ex(obj, "seq", &v));
	seq = (long)json_object_get_int64(v);
	json_object_put(obj);
	free(buf);
	return seq;
}

/* Remove line k (1-based) from the log. */
static void delete_line(const char *log, size_t k)
{
	size_t len, starts[64] = {0}, n;
	char *buf = slurp(log, &len);
	size_t from, to;

	n = line_starts(buf, len, starts, 64);
	assert_true(k >= 1 && k <= n);
	from = starts[k - 1];
	to = k < n ? starts[k] : len;
	memmove(buf + from, buf + to, len - to);
	spit(log, buf, len - (to - from));
	free(buf);
}

static void append_deferred_n(hsmca_audit *a, size_t n)
{
	hsmca_error err = {0};
	char serial[32];
	size_t i;

	for (i = 0; i < n; i++) {
		const char *const detail[] = {"serial", serial, "profile", "kubelet", NULL};

		snprintf(serial, sizeof(serial), "%zx", 0x100000 + i);
		if (hsmca_audit_append_deferred(a, "sign", "pkcs11:token=root;object=k8s-ca", "ok",
						detail, &err) != 0)
			fail_msg("deferred append %zu: %s", i, err.msg);
	}
}

/* In a forked child, where cmocka's asserts must not run: 0 or -1. */
static int child_append_deferred(hsmca_audit *a, size_t n)
{
	hsmca_error err = {0};
	size_t i;

	for (i = 0; i < n; i++)
		if (hsmca_audit_append_deferred(a, "sign", "pkcs11:object=k", "ok", NULL, &err) != 0)
			return -1;
	return 0;
}

static void expect_child_exit(pid_t pid, int code)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
		fail_msg("child: status 0x%x, expected exit %d", status, code);
}

/* The head records `seq` and the hash of line `seq` of the log. */
static void expect_head_at(const struct fixture *f, size_t seq)
{
	size_t len, hlen, i, k = 0, from = 0;
	char *buf = slurp(f->log, &len), *head = slurp(f->head, &hlen);
	char hash[65], want[128];

	memset(hash, '0', 64);
	hash[64] = '\0';
	for (i = 0; i < len && k < seq; i++) {
		if (buf[i] != '\n')
			continue;
		if (++k == seq)
			sha256_hex_test(buf + from, i - from, hash);
		from = i + 1;
	}
	assert_int_equal(k, seq);
	snprintf(want, sizeof(want), "{\"seq\":%zu,\"hash\":\"%s\"}\n", seq, hash);
	assert_string_equal(head, want);
	free(head);
	free(buf);
}

/* ---- tests ------------------------------------------------------------ */

static void test_empty_and_missing(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	struct stat st;
	mode_t old = umask(077);

	expect_ok(f->log, 0); /* no log, no head */
	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	umask(old);
	hsmca_audit_close(a);
	assert_int_equal(stat(f->log, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644); /* despite the umask */
	assert_int_equal(st.st_size, 0);
	expect_ok(f->log, 0);
	hsmca_audit_close(NULL);

	/* A log path that is a directory is refused. */
	assert_int_equal(hsmca_audit_open(f->dir, &a, &err), -1);
	assert_non_null(strstr(err.msg, f->dir));
}

static void test_format_and_chain(void **state)
{
	static const char *const order[] = {"seq",     "time",    "actor",  "event",
					    "object",  "outcome", "detail", "prev"};
	struct fixture *f = *state;
	char want_prev[65], hash[65], actor[600], host[256];
	size_t len, hlen, starts[16] = {0}, n, i;
	char *buf, *head;
	struct passwd *pw = getpwuid(geteuid());

	write_log(f, 5);
	expect_ok(f->log, 5);
	buf = slurp(f->log, &len);
	n = line_starts(buf, len, starts, 16);
	assert_int_equal(n, 5);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	snprintf(actor, sizeof(actor), "%s@%s", pw->pw_name, host);

	memset(want_prev, '0', 64);
	want_prev[64] = '\0';
	for (i = 0; i < n; i++) {
		size_t end = i + 1 < n ? starts[i + 1] - 1 : len - 1;
		json_object *obj, *v;
		size_t k = 0;

		assert_int_equal(buf[end], '\n');
		buf[end] = '\0';
		obj = json_tokener_parse(buf + starts[i]);
		assert_non_null(obj);
		json_object_object_foreach(obj, key, val)
		{
			(void)val;
			assert_true(k < 8);
			assert_string_equal(key, order[k]);
			k++;
		}
		assert_int_equal(k, 8);
		json_object_object_get_ex(obj, "seq", &v);
		assert_int_equal(json_object_get_int64(v), (int64_t)i + 1);
		json_object_object_get_ex(obj, "time", &v);
		assert_string_equal(json_object_get_string(v), "2030-01-02T03:04:05Z");
		json_object_object_get_ex(obj, "actor", &v);
		assert_string_equal(json_object_get_string(v), actor);
		json_object_object_get_ex(obj, "event", &v);
		assert_string_equal(json_object_get_string(v), i == 0 ? "init" : "sign");
		json_object_object_get_ex(obj, "outcome", &v);
		assert_string_equal(json_object_get_string(v), i % 3 == 2 ? "failed" : "ok");
		json_object_object_get_ex(obj, "prev", &v);
		assert_string_equal(json_object_get_string(v), want_prev);
		json_object_put(obj);
		/* No spaces: JSON_C_TO_STRING_PLAIN. */
		assert_null(strstr(buf + starts[i], "\": "));
		sha256_hex_test(buf + starts[i], end - starts[i], want_prev);
	}
	assert_non_null(strstr(buf, "\"object\":\"pkcs11:token=root;object=talos-ca\""));

	/* The head records the last line's seq and hash. */
	head = slurp(f->head, &hlen);
	snprintf(hash, sizeof(hash), "%s", want_prev);
	{
		char want[128];

		snprintf(want, sizeof(want), "{\"seq\":5,\"hash\":\"%s\"}\n", hash);
		assert_string_equal(head, want);
	}
	free(head);
	free(buf);
}

/* Every byte of every line, changed two ways: the break is named at that
 * line, or at the next one with a message blaming that line. */
static void test_any_byte_changed(void **state)
{
	static const unsigned char masks[] = {0x01, 0x20};
	struct fixture *f = *state;
	size_t len, starts[16] = {0}, n, k, pos, m;
	char *orig, *buf;
	unsigned long tried = 0;

	write_log(f, 6);
	orig = slurp(f->log, &len);
	n = line_starts(orig, len, starts, 16);
	assert_int_equal(n, 6);
	buf = malloc(len);
	assert_non_null(buf);
	for (k = 1; k <= n; k++) {
		size_t end = k < n ? starts[k] - 1 : len - 1; /* the newline */
		char blame[64];

		snprintf(blame, sizeof(blame), "(line %zu was altered", k);
		for (pos = starts[k - 1]; pos < end; pos++) {
			for (m = 0; m < sizeof(masks); m++) {
				hsmca_error err = {0};
				size_t bad = 0;

				memcpy(buf, orig, len);
				buf[pos] = (char)(buf[pos] ^ masks[m]);
				if (buf[pos] == '\n')
					continue;
				spit(f->log, buf, len);
				assert_int_equal(hsmca_audit_verify(f->log, NULL, &bad, &err), -1);
				if (bad == k)
					;
				else if (bad == k + 1 && strstr(err.msg, blame))
					;
				else
					fail_msg("byte %zu of line %zu ^0x%02x: break reported at line "
						 "%zu: %s",
						 pos - starts[k - 1], k, masks[m], bad, err.msg);
				tried++;
			}
		}
	}
	assert_true(tried > 1000);
	spit(f->log, orig, len);
	expect_ok(f->log, 6);
	free(buf);
	free(orig);
}

/* Change a string byte inside line 3: line 3 is still well formed, so the
 * chain breaks at line 4, and the message says line 3 was altered. */
static void test_messages_for_edits(void **state)
{
	struct fixture *f = *state;
	size_t len, starts[16] = {0};
	char *orig, *buf, *p;

	write_log(f, 6);
	orig = slurp(f->log, &len);
	line_starts(orig, len, starts, 16);
	buf = malloc(len);
	assert_non_null(buf);

	memcpy(buf, orig, len);
	p = strstr(buf + starts[2], "\"event\":\"sign\"");
	assert_non_null(p);
	memcpy(p, "\"event\":\"sigN\"", 14);
	spit(f->log, buf, len);
	expect_break(f->log, 4,
		     "line 4: prev does not match the hash of line 3 (line 3 was altered or "
		     "removed");

	memcpy(buf, orig, len);
	buf[starts[2]] = '[';
	spit(f->log, buf, len);
	expect_break(f->log, 3, "line 3: not valid JSON");

	memcpy(buf, orig, len);
	p = strstr(buf + starts[2], "\"seq\":3,");
	assert_ptr_equal(p, buf + starts[2] + 1);
	p[6] = '7';
	spit(f->log, buf, len);
	expect_break(f->log, 3, "line 3: seq is 7, expected 3");

	/* The last line: the chain cannot see it, the head can. */
	memcpy(buf, orig, len);
	p = strstr(buf + starts[5], "\"event\":\"sign\"");
	assert_non_null(p);
	memcpy(p, "\"event\":\"SIGN\"", 14);
	spit(f->log, buf, len);
	expect_break(f->log, 6, "line 6: hash does not match the head file (the last line");

	free(buf);
	free(orig);
}

static void test_line_deleted(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *orig;

	write_log(f, 8);
	orig = slurp(f->log, &len);

	delete_line(f->log, 4);
	expect_break(f->log, 4, "line 4: seq is 5, expected 4 (a line is missing");
	spit(f->log, orig, len);

	delete_line(f->log, 1);
	expect_break(f->log, 1, "line 1: seq is 2, expected 1");
	spit(f->log, orig, len);

	/* Put back, it verifies again. */
	expect_ok(f->log, 8);
	free(orig);
}

static void test_lines_swapped(void **state)
{
	struct fixture *f = *state;
	size_t len, starts[16] = {0}, n;
	char *orig, *buf;

	write_log(f, 8);
	orig = slurp(f->log, &len);
	n = line_starts(orig, len, starts, 16);
	buf = malloc(len);
	assert_non_null(buf);

	/* Swap lines 3 and 4. */
	{
		size_t l3 = starts[3] - starts[2], l4 = starts[4] - starts[3];

		memcpy(buf, orig, len);
		memcpy(buf + starts[2], orig + starts[3], l4);
		memcpy(buf + starts[2] + l4, orig + starts[2], l3);
		spit(f->log, buf, len);
		expect_break(f->log, 3, "line 3: seq is 4, expected 3");
	}
	/* Swap the last two. */
	{
		size_t l7 = starts[7] - starts[6], l8 = len - starts[7];

		memcpy(buf, orig, len);
		memcpy(buf + starts[6], orig + starts[7], l8);
		memcpy(buf + starts[6] + l8, orig + starts[6], l7);
		spit(f->log, buf, len);
		expect_break(f->log, 7, "line 7: seq is 8, expected 7");
	}
	assert_int_equal(n, 8);
	free(buf);
	free(orig);
}

static void test_end_removed(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	size_t len, len2, starts[16] = {0};
	char *orig, *after;

	write_log(f, 8);
	orig = slurp(f->log, &len);
	line_starts(orig, len, starts, 16);

	delete_line(f->log, 8);
	expect_break(f->log, 8, "log ends at line 7 but the head records line 8");

	/* Appending now would hide the removal: refused, file untouched. */
	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to append"));
	hsmca_audit_close(a);
	after = slurp(f->log, &len2);
	assert_int_equal(len2, starts[7]);
	free(after);

	/* Cut in the middle of the last line. */
	spit(f->log, orig, len - 10);
	expect_break(f->log, 8, "line 8: incomplete, no newline");
	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "does not end with a newline"));
	hsmca_audit_close(a);

	/* Emptied, then removed altogether: the head still remembers. */
	spit(f->log, orig, 0);
	expect_break(f->log, 1, "log ends at line 0 but the head records line 8");
	assert_int_equal(unlink(f->log), 0);
	expect_break(f->log, 1, "log ends at line 0 but the head records line 8");

	spit(f->log, orig, len);
	expect_ok(f->log, 8);
	free(orig);
}

static void expect_append_refused(const struct fixture *f)
{
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	size_t before, after;
	char *buf;

	free(slurp(f->log, &before));
	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to append (run hsmca audit verify)"));
	hsmca_audit_close(a);
	buf = slurp(f->log, &after);
	assert_int_equal(after, before);
	free(buf);
}

static void test_head_states(void **state)
{
	struct fixture *f = *state;
	hsmca_error err = {0};
	size_t hlen, bad = 99;
	char *head6, wrong[128];

	write_log(f, 6);
	head6 = slurp(f->head, &hlen);
	write_log(f, 1);
	expect_ok(f->log, 7);

	/* Crash between the log fsync and the head rename: a head one behind is
	 * accepted, and the next append brings it up to date. */
	spit(f->head, head6, hlen);
	expect_ok(f->log, 7);
	write_log(f, 1);
	expect_ok(f->log, 8);
	assert_int_equal(head_seq(f), 8);

	/* Two behind: what a crash in a batch of deferred appends leaves (or a
	 * head rolled back: the two look alike).  Lines 7 and 8 are still
	 * chain-checked, appending is allowed, and the flush moves the head on. */
	spit(f->head, head6, hlen);
	expect_ok(f->log, 8);
	write_log(f, 1);
	expect_ok(f->log, 9);
	assert_int_equal(head_seq(f), 9);

	/* The head names a line that is there, with another hash: at the end... */
	snprintf(wrong, sizeof(wrong), "{\"seq\":9,\"hash\":\"%064d\"}\n", 1);
	spit(f->head, wrong, strlen(wrong));
	expect_break(f->log, 9, "line 9: hash does not match the head file (the last line");
	expect_append_refused(f);
	/* ...or before it. */
	snprintf(wrong, sizeof(wrong), "{\"seq\":6,\"hash\":\"%064d\"}\n", 1);
	spit(f->head, wrong, strlen(wrong));
	expect_break(f->log, 6, "line 6: hash does not match the head file (the head file was");
	expect_append_refused(f);
	/* Line 0 with a hash that is not zeros. */
	snprintf(wrong, sizeof(wrong), "{\"seq\":0,\"hash\":\"%064d\"}\n", 1);
	spit(f->head, wrong, strlen(wrong));
	expect_break(f->log, 0, "records line 0 with a non-zero hash");
	expect_append_refused(f);

	/* Unreadable head: an error about no particular line. */
	spit(f->head, "garbage", 7);
	assert_int_equal(hsmca_audit_verify(f->log, NULL, &bad, &err), -1);
	assert_int_equal(bad, 0);
	assert_non_null(strstr(err.msg, "is not valid JSON"));
	expect_append_refused(f);

	/* Head deleted. */
	assert_int_equal(unlink(f->head), 0);
	expect_break(f->log, 1, "log has 9 lines but its head file");
	expect_append_refused(f);
	free(head6);

	/* The first line's crash window in logs written before the head was
	 * created up front: one line, no head yet.  The next append repairs it. */
	assert_int_equal(unlink(f->log), 0);
	write_log(f, 1);
	assert_int_equal(unlink(f->head), 0);
	expect_ok(f->log, 1);
	write_log(f, 1);
	expect_ok(f->log, 2);
	assert_int_equal(head_seq(f), 2);
}

struct worker {
	hsmca_audit *a;
	int id;
	int failures;
	char first_error[HSMCA_ERROR_MAX];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char idx[16], id[16];
	int i;

	snprintf(id, sizeof(id), "%d", w->id);
	for (i = 0; i < 200; i++) {
		const char *const detail[] = {"thread", id, "i", idx, NULL};
		hsmca_error err = {0};

		int rc;

		snprintf(idx, sizeof(idx), "%d", i);
		/* Odd threads defer, flushing every 50 lines; even ones do not. */
		if (w->id % 2) {
			rc = hsmca_audit_append_deferred(w->a, "sign", "pkcs11:object=k", "ok",
							 detail, &err);
			if (rc == 0 && i % 50 == 49)
				rc = hsmca_audit_flush(w->a, &err);
		} else {
			rc = hsmca_audit_append(w->a, "sign", "pkcs11:object=k", "ok", detail, &err);
		}
		if (rc != 0 && w->failures++ == 0)
			snprintf(w->first_error, sizeof(w->first_error), "%s", err.msg);
	}
	return NULL;
}

/* 4 threads x 200 appends, deferred in two of them.  Threads 0-1 share one
 * handle (the mutex), threads 2-3 share another (flock between open file
 * descriptions).  Whoever writes the last line flushes it, so the head ends
 * on line 800. */
static void test_concurrent_threads(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a[2] = {NULL, NULL};
	hsmca_error err = {0};
	struct worker w[4];
	pthread_t t[4];
	size_t len, i, seen[4] = {0};
	char *buf, *p;

	assert_int_equal(hsmca_audit_open(f->log, &a[0], &err), 0);
	assert_int_equal(hsmca_audit_open(f->log, &a[1], &err), 0);
	for (i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].a = a[i / 2];
		w[i].id = (int)i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (w[i].failures)
			fail_msg("thread %zu: %d failed appends, first: %s", i, w[i].failures,
				 w[i].first_error);
	}
	hsmca_audit_close(a[0]);
	hsmca_audit_close(a[1]);
	expect_ok(f->log, 800);
	expect_head_at(f, 800);

	buf = slurp(f->log, &len);
	for (p = buf; (p = strstr(p, "\"thread\":\"")); p++)
		seen[p[10] - '0']++;
	for (i = 0; i < 4; i++)
		assert_int_equal(seen[i], 200);
	free(buf);
}

/* Processes with their own handles: only flock keeps them apart.  The
 * second one defers and flushes every 25 lines; each waits for the lock,
 * none fails for it. */
static void test_concurrent_processes(void **state)
{
	struct fixture *f = *state;
	pid_t pid[3];
	int i, status;

	for (i = 0; i < 3; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			hsmca_audit *a = NULL;
			hsmca_error err = {0};
			int j, rc = 0;

			if (hsmca_audit_open(f->log, &a, &err) != 0)
				_exit(2);
			for (j = 0; j < 100; j++) {
				if (i == 1 && (hsmca_audit_append_deferred(a, "sign", "p", "ok", NULL,
									   &err) != 0 ||
					       (j % 25 == 24 && hsmca_audit_flush(a, &err) != 0)))
					rc = 1;
				if (i != 1 && hsmca_audit_append(a, "sign", "p", "ok", NULL, &err) != 0)
					rc = 1;
			}
			hsmca_audit_close(a);
			_exit(rc);
		}
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	expect_ok(f->log, 300);
	expect_head_at(f, 300);
}

/* ---- deferred appends and flush -------------------------------------- */

/* 10,000 deferred appends: the head is not touched until the flush, the
 * chain verifies all along, and the flush puts the head on the last line. */
static void test_deferred_batch(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	append_deferred_n(a, 10000);
	/* Created before the first line, then left alone. */
	expect_head_at(f, 0);
	expect_ok(f->log, 10000);
	assert_int_equal(hsmca_audit_flush(a, &err), 0);
	expect_head_at(f, 10000);
	expect_ok(f->log, 10000);

	/* Nothing pending: neither flush nor close rewrites the head. */
	assert_int_equal(unlink(f->head), 0);
	assert_int_equal(hsmca_audit_flush(a, &err), 0);
	hsmca_audit_close(a);
	assert_int_equal(head_seq(f), -1);
}

/* With the head still on line 0, a new writer walks the whole unflushed
 * log back to line 1: the first lines removed are found there. */
static void test_unflushed_start_removed(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL, *c = NULL;
	hsmca_error err = {0};

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	append_deferred_n(a, 5);
	delete_line(f->log, 1);
	expect_break(f->log, 1, "line 1: seq is 2, expected 1");
	assert_int_equal(hsmca_audit_open(f->log, &c, &err), 0);
	assert_int_equal(hsmca_audit_append_deferred(c, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "does not start with line 1"));
	hsmca_audit_close(c);
	/* a's flush is refused too: the file is shorter than a left it. */
	assert_int_equal(hsmca_audit_flush(a, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to update the head"));
	hsmca_audit_close(a);
	expect_head_at(f, 0);
}

/* close() flushes; a synchronous append flushes the deferred lines before
 * it as well. */
static void test_deferred_flushed_by_close_and_append(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};

	write_log(f, 2);
	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	append_deferred_n(a, 5);
	expect_head_at(f, 2);
	hsmca_audit_close(a);
	expect_head_at(f, 7);

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	append_deferred_n(a, 5);
	assert_int_equal(hsmca_audit_append(a, "rotate-stage", "k8s-ca", "ok", NULL, &err), 0);
	expect_head_at(f, 13);
	hsmca_audit_close(a);
	expect_ok(f->log, 13);
}

/* A writer that dies mid-batch, without flushing: every complete line
 * verifies, the head stays where it was, and the next writer carries on. */
static void test_crash_mid_batch(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *whole;
	pid_t pid;

	write_log(f, 3);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hsmca_audit *a = NULL;
		hsmca_error err = {0};

		if (hsmca_audit_open(f->log, &a, &err) != 0 || child_append_deferred(a, 500) != 0)
			_exit(1);
		_exit(0); /* no close, no flush: a crash */
	}
	expect_child_exit(pid, 0);
	expect_ok(f->log, 503);
	expect_head_at(f, 3);

	/* What the head cannot show (docs/audit.md): the lines after the last
	 * flush, removed, leave a log that verifies. */
	whole = slurp(f->log, &len);
	{
		size_t i, k = 0;

		for (i = 0; k < 3; i++)
			k += whole[i] == '\n';
		spit(f->log, whole, i);
		expect_ok(f->log, 3);
		spit(f->log, whole, len);
	}
	free(whole);

	/* A new writer walks back over the 500 unflushed lines to the head. */
	write_log(f, 1);
	expect_ok(f->log, 504);
	expect_head_at(f, 504);
}

/* A crash in the middle of a write(): the torn line is found by verify and
 * stops every writer, as before. */
static void test_torn_line_after_batch(void **state)
{
	static const char half[] = "{\"seq\":53,\"time\":\"2030-01-02T03:04:05Z\",\"actor\":\"x@y\","
				   "\"event\":\"si";
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	size_t before, after;
	pid_t pid;

	write_log(f, 2);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		if (hsmca_audit_open(f->log, &a, &err) != 0 || child_append_deferred(a, 50) != 0)
			_exit(1);
		fd = open(f->log, O_WRONLY | O_APPEND);
		if (fd < 0 || write(fd, half, strlen(half)) != (ssize_t)strlen(half))
			_exit(2);
		_exit(0);
	}
	expect_child_exit(pid, 0);
	expect_break(f->log, 53, "line 53: incomplete, no newline at the end of the file");

	free(slurp(f->log, &before));
	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to append (run hsmca audit verify)"));
	assert_non_null(strstr(err.msg, "does not end with a newline"));
	assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "does not end with a newline"));
	hsmca_audit_close(a);
	free(slurp(f->log, &after));
	assert_int_equal(after, before);
	expect_head_at(f, 2);
}

/* A write cut short (here by RLIMIT_FSIZE) is cut off again by the writer
 * before it lets go of the lock: the log stays whole. */
static void test_short_write_cut_off(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	pid_t pid;

	write_log(f, 2);
	assert_int_equal(stat(f->log, &st), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hsmca_audit *a = NULL;
		hsmca_error err = {0};
		struct rlimit rl, low;
		struct stat cst;

		signal(SIGXFSZ, SIG_IGN);
		if (hsmca_audit_open(f->log, &a, &err) != 0 || getrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(1);
		low = rl;
		low.rlim_cur = (rlim_t)st.st_size + 40;
		if (setrlimit(RLIMIT_FSIZE, &low) != 0)
			_exit(2);
		if (hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err) != -1)
			_exit(3);
		if (!strstr(err.msg, "cannot append to"))
			_exit(4);
		if (stat(f->log, &cst) != 0 || cst.st_size != st.st_size)
			_exit(5);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(6);
		if (hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err) != 0 ||
		    hsmca_audit_flush(a, &err) != 0)
			_exit(7);
		hsmca_audit_close(a);
		_exit(0);
	}
	expect_child_exit(pid, 0);
	expect_ok(f->log, 3);
	expect_head_at(f, 3);
}

/* Two handles on one log take turns: each notices the other's lines by the
 * file size, and refuses when the file changed in a way no writer would. */
static void test_deferred_two_handles(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL, *b = NULL;
	hsmca_error err = {0};
	char line[512], prev8[65];
	size_t len;
	char *buf;
	FILE *fp;

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_open(f->log, &b, &err), 0);
	append_deferred_n(a, 3);
	append_deferred_n(b, 2);
	append_deferred_n(a, 1);
	expect_ok(f->log, 6);
	assert_int_equal(hsmca_audit_flush(a, &err), 0);
	expect_head_at(f, 6);

	/* b's deferred line 7 is flushed by a's synchronous append... */
	append_deferred_n(b, 1);
	assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", NULL, &err), 0);
	expect_head_at(f, 8);
	/* ...and b's flush, behind a's line 8, still puts the head on line 8. */
	assert_int_equal(hsmca_audit_flush(b, &err), 0);
	expect_head_at(f, 8);
	expect_ok(f->log, 8);

	/* Lines b wrote went missing: b refuses, it knows the file was longer. */
	buf = slurp(f->log, &len);
	append_deferred_n(b, 1);
	spit(f->log, buf, len);
	assert_int_equal(hsmca_audit_append_deferred(b, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "shorter than when this process last saw it"));

	/* A line that does not chain on, written behind the writers' backs. */
	memset(prev8, 'e', 64);
	prev8[64] = '\0';
	snprintf(line, sizeof(line),
		 "{\"seq\":9,\"time\":\"t\",\"actor\":\"a\",\"event\":\"e\",\"object\":\"o\","
		 "\"outcome\":\"ok\",\"prev\":\"%s\"}\n",
		 prev8);
	fp = fopen(f->log, "ab");
	assert_non_null(fp);
	assert_int_equal(fputs(line, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to append"));
	assert_non_null(strstr(err.msg, "line 8 does not hash to the prev of line 9"));
	spit(f->log, buf, len);

	append_deferred_n(a, 1);
	hsmca_audit_close(a);
	hsmca_audit_close(b); /* its pending line is gone: the flush is refused */
	expect_ok(f->log, 9);
	expect_head_at(f, 9);
	free(buf);
}

/* Changes between two appends of one handle that no writer makes: each
 * stops the next append. */
static void test_tamper_between_appends(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL, *b = NULL;
	hsmca_error err = {0};
	char moved[PATH_MAX + 8], wrong[128];
	size_t len, hlen;
	char *buf, *head;
	FILE *fp;

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_open(f->log, &b, &err), 0);
	append_deferred_n(a, 3);
	append_deferred_n(b, 3);
	assert_int_equal(hsmca_audit_flush(b, &err), 0);

	/* The head altered on a line that a walks past (b's line 6). */
	head = slurp(f->head, &hlen);
	snprintf(wrong, sizeof(wrong), "{\"seq\":6,\"hash\":\"%064d\"}\n", 1);
	spit(f->head, wrong, strlen(wrong));
	assert_int_equal(hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "line 6 does not match its head file"));
	spit(f->head, head, hlen);
	free(head);
	append_deferred_n(a, 1);

	/* a's last line copied to the end: the right hash in the wrong place. */
	buf = slurp(f->log, &len);
	fp = fopen(f->log, "ab");
	assert_non_null(fp);
	{
		const char *last = buf + len - 1;

		while (last > buf && last[-1] != '\n')
			last--;
		assert_int_equal(fwrite(last, 1, (size_t)(buf + len - last), fp),
				 (size_t)(buf + len - last));
	}
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "line 7 is not where this process wrote it"));
	spit(f->log, buf, len);

	/* The log moved aside, then a copy put in its place: appending to the
	 * old file would write into the evidence. */
	snprintf(moved, sizeof(moved), "%s.moved", f->log);
	assert_int_equal(rename(f->log, moved), 0);
	assert_int_equal(hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "moved, removed or replaced"));
	spit(f->log, buf, len);
	assert_int_equal(hsmca_audit_append_deferred(a, "sign", "x", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "moved, removed or replaced"));
	assert_int_equal(rename(moved, f->log), 0);

	append_deferred_n(a, 1);
	hsmca_audit_close(a);
	hsmca_audit_close(b);
	expect_ok(f->log, 8);
	expect_head_at(f, 8);
	free(buf);
}

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* For the record, not asserted (timings vary): what a synchronous append
 * costs against a deferred one, flush included, in the same run. */
static void test_deferred_cost(void **state)
{
	const size_t nsync = 100, ndeferred = 5000;
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	double t0, t1, t2, t3, sync_us, deferred_us;
	size_t i;

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	t0 = seconds_now();
	for (i = 0; i < nsync; i++)
		assert_int_equal(hsmca_audit_append(a, "sign", "pkcs11:object=k", "ok", NULL, &err),
				 0);
	t1 = seconds_now();
	t2 = seconds_now();
	append_deferred_n(a, ndeferred);
	assert_int_equal(hsmca_audit_flush(a, &err), 0);
	t3 = seconds_now();
	hsmca_audit_close(a);
	expect_ok(f->log, nsync + ndeferred);
	sync_us = (t1 - t0) / (double)nsync * 1e6;
	deferred_us = (t3 - t2) / (double)ndeferred * 1e6;
	print_message("audit append in %s: synchronous %.1f us/line (%zu lines), deferred %.2f "
		      "us/line (%zu lines, one flush): deferred is %.0fx cheaper\n",
		      f->dir, sync_us, nsync, deferred_us, ndeferred, sync_us / deferred_us);
}

static void test_detail_round_trip(void **state)
{
	static const char *const detail[] = {
		"quote", "say \"hi\" \\ back\\slash",
		"newline", "two\nlines\r\n\ttabbed",
		"unicode", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x94\x91",
		"control", "bell\x07 esc\x1b",
		"path", "/var/lib/hsmca/ca.pem",
		"empty", "",
		NULL};
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	json_object *obj, *det, *v;
	size_t len, i, newlines = 0;
	char *buf;

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_append(a, "generate", "pkcs11:object=k8s \"root\"", "ok",
					    detail, &err),
			 0);
	assert_int_equal(hsmca_audit_append(a, "destroy", NULL, "failed", NULL, &err), 0);
	hsmca_audit_close(a);
	expect_ok(f->log, 2);

	buf = slurp(f->log, &len);
	for (i = 0; i < len; i++)
		newlines += buf[i] == '\n';
	assert_int_equal(newlines, 2); /* the embedded newline is escaped */
	assert_non_null(strstr(buf, "\"path\":\"/var/lib/hsmca/ca.pem\"")); /* no \/ */
	assert_non_null(strstr(buf, "\"object\":\"\",")); /* NULL object */
	assert_null(strstr(buf + strcspn(buf, "\n") + 1, "detail")); /* omitted when NULL */
	*strchr(buf, '\n') = '\0';
	obj = json_tokener_parse(buf);
	assert_non_null(obj);
	assert_true(json_object_object_get_ex(obj, "detail", &det));
	for (i = 0; detail[i]; i += 2) {
		assert_true(json_object_object_get_ex(det, detail[i], &v));
		assert_string_equal(json_object_get_string(v), detail[i + 1]);
	}
	assert_true(json_object_object_get_ex(obj, "object", &v));
	assert_string_equal(json_object_get_string(v), "pkcs11:object=k8s \"root\"");
	json_object_put(obj);
	free(buf);
}

static void test_bad_input(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	char *big;

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", NULL, &err), 0);

	assert_int_equal(hsmca_audit_append(a, "sign", "x", "success", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "outcome"));
	assert_int_equal(hsmca_audit_append(a, "", "x", "ok", NULL, &err), -1);
	assert_int_equal(hsmca_audit_append(a, "sign", "caf\xe9", "ok", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "object is not valid UTF-8"));
	{
		const char *const d[] = {"k", "\xed\xa0\x80", NULL}; /* a surrogate */

		assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", d, &err), -1);
		assert_non_null(strstr(err.msg, "detail \"k\": value is not valid UTF-8"));
	}
	{
		const char *const d[] = {"k", "1", "k", "2", NULL};

		assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", d, &err), -1);
		assert_non_null(strstr(err.msg, "given twice"));
	}
	{
		const char *const d[] = {"k", NULL};

		assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", d, &err), -1);
		assert_non_null(strstr(err.msg, "has no value"));
	}
	big = malloc(70000);
	assert_non_null(big);
	memset(big, 'a', 69999);
	big[69999] = '\0';
	{
		const char *const d[] = {"blob", big, NULL};

		assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", d, &err), -1);
		assert_non_null(strstr(err.msg, "over the 65536-byte limit"));
	}
	free(big);
	hsmca_audit_close(a);
	expect_ok(f->log, 1); /* nothing half-written by the refusals */
}

/* A line of exactly HSMCA_AUDIT_LINE_MAX bytes is written and verified;
 * one byte more is refused. */
static void test_line_limit_boundary(void **state)
{
	struct fixture *f = *state;
	hsmca_audit *a = NULL;
	hsmca_error err = {0};
	size_t len, base;
	char *buf, *val;

	assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
	{
		const char *const d[] = {"blob", "", NULL};

		assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", d, &err), 0);
	}
	buf = slurp(f->log, &len);
	base = len - 1; /* seq 1 and seq 2 have the same number of digits */
	free(buf);
	val = malloc(HSMCA_AUDIT_LINE_MAX + 2);
	assert_non_null(val);
	memset(val, 'v', HSMCA_AUDIT_LINE_MAX + 1);
	val[HSMCA_AUDIT_LINE_MAX - base + 1] = '\0';
	{
		const char *const d[] = {"blob", val, NULL};

		assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", d, &err), -1);
		val[HSMCA_AUDIT_LINE_MAX - base] = '\0';
		if (hsmca_audit_append(a, "sign", "x", "ok", d, &err) != 0)
			fail_msg("%s", err.msg);
	}
	buf = slurp(f->log, &len);
	assert_int_equal(len, base + 1 + HSMCA_AUDIT_LINE_MAX + 1);
	free(buf);
	free(val);
	hsmca_audit_close(a);
	expect_ok(f->log, 2);
}

/* A 1 MB line costs no more than the line limit and is named. */
static void test_huge_line(void **state)
{
	struct fixture *f = *state;
	size_t len, big = 1 << 20;
	char *orig, *buf;

	write_log(f, 3);
	orig = slurp(f->log, &len);
	buf = malloc(len + big + 1);
	assert_non_null(buf);
	memcpy(buf, orig, len);
	memset(buf + len, '{', big);
	buf[len + big] = '\n';
	spit(f->log, buf, len + big + 1);
	expect_break(f->log, 4, "line 4: longer than the 65536-byte limit");

	/* Without a newline at all, first in the file. */
	spit(f->log, buf + len, big);
	expect_break(f->log, 1, "line 1: longer than the 65536-byte limit");

	/* An over-long last line also stops an append. */
	spit(f->log, buf, len + big + 1);
	{
		hsmca_audit *a = NULL;
		hsmca_error err = {0};

		assert_int_equal(hsmca_audit_open(f->log, &a, &err), 0);
		assert_int_equal(hsmca_audit_append(a, "sign", "x", "ok", NULL, &err), -1);
		assert_non_null(strstr(err.msg, "longer than 65536 bytes"));
		hsmca_audit_close(a);
	}
	free(buf);
	free(orig);
}

/* Lines that parse as JSON but are not audit records. */
static void test_malformed_records(void **state)
{
	struct fixture *f = *state;
	char zeros[65];
	char line[512];

	memset(zeros, '0', 64);
	zeros[64] = '\0';
	spit(f->log, "\n", 1);
	expect_break(f->log, 1, "line 1: empty line");
	spit(f->log, "[1,2]\n", 6);
	expect_break(f->log, 1, "line 1: not a JSON object");
	snprintf(line, sizeof(line), "{\"seq\":1,\"time\":\"t\",\"actor\":\"a\",\"event\":\"e\","
				     "\"object\":\"o\",\"outcome\":\"ok\",\"prev\":\"%s\"} x\n",
		 zeros);
	spit(f->log, line, strlen(line));
	expect_break(f->log, 1, "line 1: not valid JSON");
	snprintf(line, sizeof(line), "{\"seq\":1,\"time\":\"t\",\"actor\":\"a\",\"event\":\"e\","
				     "\"object\":\"o\",\"outcome\":\"ok\",\"prev\":\"%s\","
				     "\"extra\":\"1\"}\n",
		 zeros);
	spit(f->log, line, strlen(line));
	expect_break(f->log, 1, "line 1: unexpected field \"extra\"");
	snprintf(line, sizeof(line), "{\"seq\":1,\"time\":\"t\",\"actor\":\"a\",\"event\":\"e\","
				     "\"object\":\"o\",\"outcome\":\"ok\",\"prev\":\"%s\"}\n",
		 zeros);
	line[strlen(line) - 4] = '1';
	spit(f->log, line, strlen(line));
	expect_break(f->log, 1, "line 1: prev is not 64 zeros");
	snprintf(line, sizeof(line), "{\"seq\":1,\"time\":\"t\",\"actor\":\"a\",\"event\":\"e\","
				     "\"object\":\"o\",\"outcome\":\"ok\",\"detail\":{\"n\":1},"
				     "\"prev\":\"%s\"}\n",
		 zeros);
	spit(f->log, line, strlen(line));
	expect_break(f->log, 1, "line 1: detail \"n\" is not a string");
	snprintf(line, sizeof(line), "{\"seq\":1,\"time\":\"t\",\"actor\":\"a\","
				     "\"object\":\"o\",\"outcome\":\"ok\",\"prev\":\"%s\"}\n",
		 zeros);
	spit(f->log, line, strlen(line));
	expect_break(f->log, 1, "line 1: missing field \"event\"");
	/* Well formed, and no head yet: a single first line is accepted. */
	snprintf(line, sizeof(line), "{\"seq\":1,\"time\":\"t\",\"actor\":\"a\",\"event\":\"e\","
				     "\"object\":\"o\",\"outcome\":\"ok\",\"prev\":\"%s\"}\n",
		 zeros);
	spit(f->log, line, strlen(line));
	expect_ok(f->log, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_and_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_byte_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages_for_edits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_swapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detail_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_limit_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unflushed_start_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_flushed_by_close_and_append, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_crash_mid_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_line_after_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_write_cut_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_between_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_cost, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
