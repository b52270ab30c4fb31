/* Unit tests for the tamper-evident audit log (src/audit.c), on temp files. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "audit.h"

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

	/* Two behind is not a crash: rolled back, or lines added behind its back. */
	spit(f->head, head6, hlen);
	expect_break(f->log, 7, "log ends at line 8 but the head records line 6");
	expect_append_refused(f);

	/* Right seq, wrong hash. */
	snprintf(wrong, sizeof(wrong), "{\"seq\":8,\"hash\":\"%064d\"}\n", 1);
	spit(f->head, wrong, strlen(wrong));
	expect_break(f->log, 8, "line 8: hash does not match the head file");
	expect_append_refused(f);

	/* Unreadable head: an error about no particular line. */
	spit(f->head, "garbage", 7);
	assert_int_equal(hsmca_audit_verify(f->log, NULL, &bad, &err), -1);
	assert_int_equal(bad, 0);
	assert_non_null(strstr(err.msg, "is not valid JSON"));

	/* Head deleted. */
	assert_int_equal(unlink(f->head), 0);
	expect_break(f->log, 1, "log has 8 lines but its head file");
	expect_append_refused(f);
	free(head6);

	/* The first line's crash window: one line, no head yet. */
	assert_int_equal(unlink(f->log), 0);
	write_log(f, 1);
	assert_int_equal(unlink(f->head), 0);
	expect_ok(f->log, 1);
	write_log(f, 1);
	expect_ok(f->log, 2);
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

		snprintf(idx, sizeof(idx), "%d", i);
		if (hsmca_audit_append(w->a, "sign", "pkcs11:object=k", "ok", detail, &err) != 0 &&
		    w->failures++ == 0)
			snprintf(w->first_error, sizeof(w->first_error), "%s", err.msg);
	}
	return NULL;
}

/* 4 threads x 200 appends.  Threads 0-1 share one handle (the mutex),
 * threads 2-3 share another (flock between open file descriptions). */
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

	buf = slurp(f->log, &len);
	for (p = buf; (p = strstr(p, "\"thread\":\"")); p++)
		seen[p[10] - '0']++;
	for (i = 0; i < 4; i++)
		assert_int_equal(seen[i], 200);
	free(buf);
}

/* Processes with their own handles: only flock keeps them apart. */
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
			for (j = 0; j < 100; j++)
				if (hsmca_audit_append(a, "sign", "p", "ok", NULL, &err) != 0)
					rc = 1;
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
