/* Unit tests for the issuance records and revocations (src/store/records.c), on
 * temporary CA directories. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "common/util.h"
#include "store/records.h"
#include "testutil.h"

#define HASH64 "0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
	char *dir;
	char issued[PATH_MAX];
	char revoked[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = hsmca_test_tmpdir();
	assert_non_null(f->dir);
	snprintf(f->issued, sizeof(f->issued), "%s/issued.jsonl", f->dir);
	snprintf(f->revoked, sizeof(f->revoked), "%s/revoked.jsonl", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hsmca_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* A record with a random 16-byte serial (top bit clear, as issued). */
static void make_record(struct hsmca_record *r, unsigned i)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(RAND_bytes(r->serial, 16), 1);
	r->serial[0] = (uint8_t)((r->serial[0] & 0x7f) | 0x40);
	r->serial_len = 16;
	snprintf(r->subject, sizeof(r->subject), "CN=node-%u,O=system:nodes \"q\" \\ ü", i);
	snprintf(r->profile, sizeof(r->profile), "client");
	r->not_before = 1893456000 + (time_t)i; /* 2030-01-01 */
	r->not_after = r->not_before + 86400 * 365;
	r->issued_at = r->not_before;
	memset(r->csr_key_sha256, (int)(i & 0xff), 32);
	memset(r->cert_sha256, 0xab, 32);
}

static size_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static void append_raw(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

struct collect {
	struct hsmca_record *v;
	size_t n, cap;
};

static int collect_cb(const struct hsmca_record *rec, void *arg)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n++] = *rec;
	return 0;
}

static size_t count_records(const char *dir)
{
	struct collect c = { 0 };
	hsmca_error err = { "", 0 };

	assert_int_equal(hsmca_records_foreach(dir, collect_cb, &c, &err), 0);
	free(c.v);
	return c.n;
}

/* ---- append, reopen, read back --------------------------------------- */

static void test_append_reopen(void **state)
{
	struct fixture *f = *state;
	struct hsmca_record recs[3];
	struct collect c = { 0 };
	hsmca_records *r = NULL;
	hsmca_error err = { "", 0 };
	uint8_t other[16] = { 0x41 };
	size_t i;

	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	assert_int_equal(file_size(f->issued), 0);
	for (i = 0; i < 3; i++) {
		make_record(&recs[i], (unsigned)i);
		assert_int_equal(hsmca_records_append(r, &recs[i], &err), 0);
	}
	assert_int_equal(hsmca_records_sync(r, &err), 0);
	/* The same serial cannot be recorded twice. */
	assert_int_equal(hsmca_records_append(r, &recs[1], &err), -1);
	assert_non_null(strstr(err.msg, "already recorded"));
	hsmca_records_close(r);
	r = NULL;

	assert_int_equal(hsmca_records_foreach(f->dir, collect_cb, &c, &err), 0);
	assert_int_equal(c.n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(c.v[i].serial_len, 16);
		assert_memory_equal(c.v[i].serial, recs[i].serial, 16);
		assert_string_equal(c.v[i].subject, recs[i].subject);
		assert_string_equal(c.v[i].profile, "client");
		assert_int_equal(c.v[i].not_before, recs[i].not_before);
		assert_int_equal(c.v[i].not_after, recs[i].not_after);
		assert_int_equal(c.v[i].issued_at, recs[i].issued_at);
		assert_memory_equal(c.v[i].csr_key_sha256, recs[i].csr_key_sha256, 32);
		assert_memory_equal(c.v[i].cert_sha256, recs[i].cert_sha256, 32);
	}
	free(c.v);

	/* One JSON object a line, serial as lower-case hex, times RFC 3339. */
	{
		uint8_t buf[4096] = { 0 };
		char hex[33];
		FILE *fp = fopen(f->issued, "r");

		assert_non_null(fp);
		assert_non_null(fgets((char *)buf, sizeof(buf), fp));
		fclose(fp);
		hsmca_hex(recs[0].serial, 16, hex);
		assert_non_null(strstr((char *)buf, hex));
		assert_non_null(strstr((char *)buf, "\"not_after\":\"2031-01-01T00:00:00Z\""));
		assert_non_null(strstr((char *)buf, "\"cert_sha256\":\"abababab"));
	}

	/* Reopen: the serial set is loaded from the file. */
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	for (i = 0; i < 3; i++) {
		assert_true(hsmca_records_has_serial(r, recs[i].serial, 16));
		assert_int_equal(hsmca_records_reserve_serial(r, recs[i].serial, 16, &err), 1);
	}
	assert_false(hsmca_records_has_serial(r, other, sizeof(other)));
	/* Reserve, then record: fine once; a second reservation is refused. */
	assert_int_equal(hsmca_records_reserve_serial(r, other, sizeof(other), &err), 0);
	assert_true(hsmca_records_has_serial(r, other, sizeof(other)));
	assert_int_equal(hsmca_records_reserve_serial(r, other, sizeof(other), &err), 1);
	{
		struct hsmca_record x;

		make_record(&x, 9);
		memcpy(x.serial, other, sizeof(other));
		assert_int_equal(hsmca_records_append(r, &x, &err), 0);
		assert_int_equal(hsmca_records_append(r, &x, &err), -1);
	}
	/* Leading zero bytes do not make a different serial. */
	{
		uint8_t padded[17] = { 0 };

		memcpy(padded + 1, recs[0].serial, 16);
		assert_true(hsmca_records_has_serial(r, padded, sizeof(padded)));
		assert_int_equal(hsmca_records_reserve_serial(r, padded, sizeof(padded), &err), 1);
	}
	assert_int_equal(hsmca_records_reserve_serial(r, other, 0, &err), -1);
	hsmca_records_close(r);
	assert_int_equal(count_records(f->dir), 4);
}

/* ---- crash safety ------------------------------------------------------ */

static void test_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct hsmca_record rec, late;
	hsmca_records *r = NULL;
	hsmca_error err = { "", 0 };
	size_t good;
	int i;

	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	for (i = 0; i < 2; i++) {
		make_record(&rec, (unsigned)i);
		assert_int_equal(hsmca_records_append(r, &rec, &err), 0);
	}
	hsmca_records_close(r);
	good = file_size(f->issued);

	/* The process died mid-write: half a line without its newline. */
	append_raw(f->issued, "{\"serial\":\"4142\",\"subject\":\"CN=to");
	assert_int_equal(count_records(f->dir), 2); /* readers skip it */

	/* The next open cuts it, and appends after it are whole lines. */
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	assert_int_equal(file_size(f->issued), good);
	make_record(&late, 7);
	assert_int_equal(hsmca_records_append(r, &late, &err), 0);
	hsmca_records_close(r);
	assert_int_equal(count_records(f->dir), 3);

	/* Lines in another key order or with upper-case hex (not hsmca's own
	 * shape) are loaded through the full JSON parse. */
	append_raw(f->issued, "{\"subject\":\"CN=x\",\"serial\":\"0A0B0C\",\"profile\":\"p\","
			      "\"not_before\":\"2030-01-01T00:00:00Z\",\"not_after\":\"2031-01-01T00:00:00Z\","
			      "\"issued_at\":\"2030-01-01T00:00:00Z\",\"csr_key_sha256\":\"" HASH64 "\","
			      "\"cert_sha256\":\"" HASH64 "\"}\n");
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	{
		static const uint8_t abc[] = { 0x0a, 0x0b, 0x0c };

		assert_true(hsmca_records_has_serial(r, abc, sizeof(abc)));
		assert_true(hsmca_records_has_serial(r, late.serial, 16));
	}
	hsmca_records_close(r);
	assert_int_equal(count_records(f->dir), 4);

	/* A file that is nothing but a torn line is cut to empty. */
	assert_int_equal(unlink(f->issued), 0);
	append_raw(f->issued, "{\"serial\":");
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	assert_int_equal(file_size(f->issued), 0);
	hsmca_records_close(r);
}

static void test_corrupt_line(void **state)
{
	struct fixture *f = *state;
	struct hsmca_record rec;
	hsmca_records *r = NULL;
	hsmca_error err = { "", 0 };

	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	make_record(&rec, 1);
	assert_int_equal(hsmca_records_append(r, &rec, &err), 0);
	hsmca_records_close(r);
	append_raw(f->issued, "{\"serial\":\"zz\"}\n");
	{
		struct collect c = { 0 };

		assert_int_equal(hsmca_records_foreach(f->dir, collect_cb, &c, &err), -1);
		free(c.v);
	}
	assert_non_null(strstr(err.msg, "issued.jsonl line 2"));
	assert_non_null(strstr(err.msg, "not hexadecimal"));
	/* Issuance must not go on when the serial set cannot be trusted. */
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), -1);
	assert_non_null(strstr(err.msg, "line 2"));

	assert_int_equal(unlink(f->issued), 0);
	append_raw(f->issued, "not json\n");
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), -1);
	assert_non_null(strstr(err.msg, "line 1: not a valid JSON object"));

	/* A complete line missing a field names the field. */
	assert_int_equal(unlink(f->issued), 0);
	append_raw(f->issued, "{\"serial\":\"4142\",\"subject\":\"CN=x\"}\n");
	{
		struct collect c = { 0 };

		assert_int_equal(hsmca_records_foreach(f->dir, collect_cb, &c, &err), -1);
		free(c.v);
	}
	assert_non_null(strstr(err.msg, "\"profile\""));

	/* An over-long line is refused, not swallowed. */
	{
		char *big = malloc(40000);

		assert_non_null(big);
		memset(big, 'x', 39998);
		big[39998] = '\n';
		big[39999] = '\0';
		assert_int_equal(unlink(f->issued), 0);
		append_raw(f->issued, big);
		free(big);
	}
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), -1);
	assert_non_null(strstr(err.msg, "longer than"));
}

/* ---- the serial set at scale ----------------------------------------- */

static long rss_kb(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

#define MANY 100000

static void test_serial_set_100k(void **state)
{
	struct fixture *f = *state;
	hsmca_records *r = NULL;
	hsmca_error err = { "", 0 };
	uint8_t *serials = malloc((size_t)MANY * 20);
	uint8_t probe[20];
	long before, after;
	size_t i, mem;

	assert_non_null(serials);
	assert_int_equal(RAND_bytes(serials, MANY * 20), 1);
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	before = rss_kb();
	for (i = 0; i < MANY; i++) {
		/* Lengths 16..20 as the issuers use; keep them positive. */
		size_t len = 16 + i % 5;

		serials[i * 20] &= 0x7f;
		serials[i * 20] |= 0x01;
		assert_int_equal(hsmca_records_reserve_serial(r, serials + i * 20, len, &err), 0);
	}
	after = rss_kb();
	mem = hsmca_records_memory(r);
	print_message("serial set: %zu bytes by count, RSS +%ld kB for %d serials\n", mem,
		      after - before, MANY);
	assert_true(mem < 5u * 1024 * 1024);
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer's redzones and shadow memory inflate RSS; the count
	 * above still holds there. */
	assert_true(after - before < 6 * 1024);
#endif
	for (i = 0; i < MANY; i++) {
		size_t len = 16 + i % 5;

		assert_true(hsmca_records_has_serial(r, serials + i * 20, len));
		assert_int_equal(hsmca_records_reserve_serial(r, serials + i * 20, len, &err), 1);
	}
	/* Absent serials stay absent, including prefixes of present ones. */
	for (i = 0; i < 1000; i++) {
		assert_int_equal(RAND_bytes(probe, sizeof(probe)), 1);
		probe[0] |= 0x80; /* never generated above (top bit cleared there) */
		assert_false(hsmca_records_has_serial(r, probe, 16 + i % 5));
		assert_false(hsmca_records_has_serial(r, serials + i * 20, 15));
	}
	hsmca_records_close(r);
	free(serials);
}

/* 100,000 records on disk: the reopen loads them all into the set and
 * stays within the same bound; appends are timed for the record. */
static void test_reopen_100k(void **state)
{
	struct fixture *f = *state;
	hsmca_records *r = NULL;
	hsmca_error err = { "", 0 };
	struct hsmca_record rec;
	struct timespec t0, t1, t2;
	uint8_t first[16];
	size_t i;

	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < MANY; i++) {
		make_record(&rec, (unsigned)i);
		if (i == 0)
			memcpy(first, rec.serial, 16);
		assert_int_equal(hsmca_records_append(r, &rec, &err), 0);
		if (i % 1000 == 999)
			assert_int_equal(hsmca_records_sync(r, &err), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	hsmca_records_close(r);
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	print_message("append: %.0f records/s (sync every 1000); reopen of %d: %.2f s, %zu bytes\n",
		      MANY / ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9), MANY,
		      (double)(t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9,
		      hsmca_records_memory(r));
	assert_true(hsmca_records_memory(r) < 5u * 1024 * 1024);
	assert_true(hsmca_records_has_serial(r, first, 16));
	assert_true(hsmca_records_has_serial(r, rec.serial, 16));
	assert_int_equal(hsmca_records_reserve_serial(r, rec.serial, 16, &err), 1);
	hsmca_records_close(r);
	assert_int_equal(count_records(f->dir), MANY);
}

/* ---- threads ----------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 2000

struct worker {
	hsmca_records *r;
	unsigned id;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	hsmca_error err = { "", 0 };
	struct hsmca_record rec;
	unsigned i;

	for (i = 0; i < PER_THREAD; i++) {
		make_record(&rec, w->id * PER_THREAD + i);
		if (hsmca_records_reserve_serial(w->r, rec.serial, rec.serial_len, &err) != 0 ||
		    hsmca_records_append(w->r, &rec, &err) != 0)
			w->failures++;
		if (i % 250 == 0 && hsmca_records_sync(w->r, &err) != 0)
			w->failures++;
	}
	return NULL;
}

static int distinct_cb(const struct hsmca_record *rec, void *arg)
{
	hsmca_records *seen = arg;
	hsmca_error err = { "", 0 };

	/* A reopened set already holds every serial once; a fresh one catches dups. */
	assert_int_equal(hsmca_records_reserve_serial(seen, rec->serial, rec->serial_len, &err), 0);
	return 0;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	hsmca_records *r = NULL, *seen = NULL;
	hsmca_error err = { "", 0 };
	char *other = hsmca_test_tmpdir();
	unsigned i;

	assert_non_null(other);
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ r, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	hsmca_records_close(r);
	/* Every line whole and parseable, every serial once. */
	assert_int_equal(hsmca_records_open(other, &seen, &err), 0);
	assert_int_equal(hsmca_records_foreach(f->dir, distinct_cb, seen, &err), 0);
	assert_int_equal(count_records(f->dir), THREADS * PER_THREAD);
	hsmca_records_close(seen);
	hsmca_test_rmtree(other);
	free(other);
}

/* ---- revocations ------------------------------------------------------ */

static void test_revoke(void **state)
{
	struct fixture *f = *state;
	struct hsmca_record rec[2];
	struct hsmca_revocation *rv = NULL;
	hsmca_records *r = NULL;
	hsmca_error err = { "", 0 };
	uint8_t unknown[16], padded[17] = { 0 };
	char hex[41];
	size_t n = 99;
	int i;

	/* No revocations yet, and no file: an empty list. */
	assert_int_equal(hsmca_revocations(f->dir, &rv, &n, &err), 0);
	assert_int_equal(n, 0);
	free(rv);

	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	for (i = 0; i < 2; i++) {
		make_record(&rec[i], (unsigned)i);
		assert_int_equal(hsmca_records_append(r, &rec[i], &err), 0);
	}
	hsmca_records_close(r);

	/* Unknown serial: an error naming it; nothing written. */
	memset(unknown, 0x42, sizeof(unknown));
	assert_int_equal(hsmca_revoke(f->dir, unknown, sizeof(unknown), 1, 1900000000, &err), -1);
	assert_non_null(strstr(err.msg, "42424242424242424242424242424242"));
	assert_non_null(strstr(err.msg, "no certificate with this serial was issued by this CA"));
	assert_int_equal(file_size(f->revoked), 0);

	assert_int_equal(hsmca_revoke(f->dir, rec[0].serial, 16, 1, 1900000000, &err), 0);
	/* Twice: the error says when it was first revoked; still one line. */
	assert_int_equal(hsmca_revoke(f->dir, rec[0].serial, 16, 4, 1900000100, &err), -1);
	hsmca_hex(rec[0].serial, 16, hex);
	assert_non_null(strstr(err.msg, hex));
	assert_non_null(strstr(err.msg, "already revoked since 2030-03-17T17:46:40Z"));
	assert_non_null(strstr(err.msg, "keyCompromise"));
	/* The same serial with a leading zero byte is the same certificate. */
	memcpy(padded + 1, rec[0].serial, 16);
	assert_int_equal(hsmca_revoke(f->dir, padded, sizeof(padded), 4, 1900000100, &err), -1);
	assert_non_null(strstr(err.msg, "already revoked"));
	/* removeFromCRL and unused codes are refused. */
	assert_int_equal(hsmca_revoke(f->dir, rec[1].serial, 16, 8, 1900000000, &err), -1);
	assert_int_equal(hsmca_revoke(f->dir, rec[1].serial, 16, 7, 1900000000, &err), -1);
	assert_int_equal(hsmca_revoke(f->dir, rec[1].serial, 16, 11, 1900000000, &err), -1);
	assert_int_equal(hsmca_revoke(f->dir, rec[1].serial, 16, 0, 1900000200, &err), 0);

	assert_int_equal(hsmca_revocations(f->dir, &rv, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(rv[0].serial, rec[0].serial, 16);
	assert_int_equal(rv[0].revoked_at, 1900000000);
	assert_int_equal(rv[0].reason, 1);
	assert_memory_equal(rv[1].serial, rec[1].serial, 16);
	assert_int_equal(rv[1].reason, 0);
	assert_int_equal(rv[1].revoked_at, 1900000200);
	free(rv);

	/* A torn revocation line is ignored and then repaired. */
	append_raw(f->revoked, "{\"serial\":\"41");
	assert_int_equal(hsmca_revocations(f->dir, &rv, &n, &err), 0);
	assert_int_equal(n, 2);
	free(rv);
	make_record(&rec[0], 5);
	assert_int_equal(hsmca_records_open(f->dir, &r, &err), 0);
	assert_int_equal(hsmca_records_append(r, &rec[0], &err), 0);
	hsmca_records_close(r);
	assert_int_equal(hsmca_revoke(f->dir, rec[0].serial, 16, 10, 1900000300, &err), 0);
	assert_int_equal(hsmca_revocations(f->dir, &rv, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rv[2].reason, 10);
	free(rv);

	/* A corrupt revocation line blocks further revocations with its line. */
	append_raw(f->revoked, "{\"serial\":\"41\",\"revoked_at\":\"2030-01-01T00:00:00Z\","
			       "\"reason_code\":7}\n");
	assert_int_equal(hsmca_revocations(f->dir, &rv, &n, &err), -1);
	assert_non_null(strstr(err.msg, "revoked.jsonl line 4"));
}

static void test_reasons(void **state)
{
	static const struct {
		const char *in;
		int code;
	} ok[] = {
		{ "unspecified", 0 },	       { "keyCompromise", 1 },	      { "key-compromise", 1 },
		{ "KEYCOMPROMISE", 1 },	       { "key_compromise", 1 },	      { "cACompromise", 2 },
		{ "ca-compromise", 2 },	       { "affiliationChanged", 3 },    { "affiliation-changed", 3 },
		{ "superseded", 4 },	       { "Superseded", 4 },	      { "cessationOfOperation", 5 },
		{ "cessation-of-operation", 5 }, { "certificateHold", 6 },    { "certificate-hold", 6 },
		{ "privilegeWithdrawn", 9 },   { "privilege-withdrawn", 9 },  { "aACompromise", 10 },
		{ "aa-compromise", 10 },
	};
	static const char *const bad[] = { "", "bogus", "key", "keyCompromised", "7", "1", "hold" };
	hsmca_error err = { "", 0 };
	size_t i;
	int code;

	(void)state;
	for (i = 0; i < HSMCA_ARRAY_LEN(ok); i++) {
		code = -1;
		assert_int_equal(hsmca_revocation_parse_reason(ok[i].in, &code, &err), 0);
		assert_int_equal(code, ok[i].code);
	}
	for (i = 0; i < HSMCA_ARRAY_LEN(bad); i++) {
		assert_int_equal(hsmca_revocation_parse_reason(bad[i], &code, &err), -1);
		assert_non_null(strstr(err.msg, "unknown revocation reason"));
		assert_non_null(strstr(err.msg, "keyCompromise"));
	}
	assert_int_equal(hsmca_revocation_parse_reason("removeFromCRL", &code, &err), -1);
	assert_non_null(strstr(err.msg, "delta"));
	assert_int_equal(hsmca_revocation_parse_reason("remove-from-crl", &code, &err), -1);
	assert_non_null(strstr(err.msg, "delta"));
	/* Names round-trip; 7 is unused by RFC 5280. */
	for (code = 0; code <= 10; code++) {
		const char *name = hsmca_revocation_reason_name(code);
		int back = -1;

		if (code == 7) {
			assert_null(name);
			continue;
		}
		assert_non_null(name);
		if (code == 8)
			continue;
		assert_int_equal(hsmca_revocation_parse_reason(name, &back, &err), 0);
		assert_int_equal(back, code);
	}
	assert_null(hsmca_revocation_reason_name(-1));
	assert_null(hsmca_revocation_reason_name(11));
	assert_string_equal(hsmca_revocation_reason_name(1), "keyCompromise");
}

static void test_revocations_find(void **state)
{
	struct hsmca_revocation v[200];
	uint8_t probe[21] = { 0 };
	size_t i;

	(void)state;
	memset(v, 0, sizeof(v));
	for (i = 0; i < HSMCA_ARRAY_LEN(v); i++) {
		/* Mixed lengths, some with a leading zero byte; every value distinct
		 * (1-byte values are i + 1; longer ones random with a non-zero top
		 * and i in the last byte, so two random values never collide). */
		v[i].serial_len = 1 + i % 20;
		assert_int_equal(RAND_bytes(v[i].serial, v[i].serial_len), 1);
		if (v[i].serial_len == 1) {
			v[i].serial[0] = (uint8_t)(i + 1);
		} else if (i % 3 == 0 && v[i].serial_len >= 3) {
			v[i].serial[0] = 0;
			v[i].serial[1] |= 0x80;
		} else {
			v[i].serial[0] |= 0x01;
		}
		if (v[i].serial_len >= 2)
			v[i].serial[v[i].serial_len - 1] = (uint8_t)i;
		v[i].reason = (int)i;
	}
	hsmca_revocations_sort(v, HSMCA_ARRAY_LEN(v));
	for (i = 0; i < HSMCA_ARRAY_LEN(v); i++) {
		const struct hsmca_revocation *r =
			hsmca_revocations_find(v, HSMCA_ARRAY_LEN(v), v[i].serial, v[i].serial_len);

		assert_non_null(r);
		assert_int_equal(r->reason, v[i].reason);
		/* The same value with one more leading zero byte is found too. */
		memcpy(probe + 1, v[i].serial, v[i].serial_len);
		probe[0] = 0;
		assert_ptr_equal(hsmca_revocations_find(v, HSMCA_ARRAY_LEN(v), probe,
							v[i].serial_len + 1), r);
	}
	memset(probe, 0xff, sizeof(probe));
	assert_null(hsmca_revocations_find(v, HSMCA_ARRAY_LEN(v), probe, 20));
	assert_null(hsmca_revocations_find(v, 0, probe, 20));
}

static void test_parse_serial(void **state)
{
	hsmca_error err = { "", 0 };
	uint8_t s[20];
	size_t len = 0;

	(void)state;
	assert_int_equal(hsmca_records_parse_serial("4a:1F", s, &len, &err), 0);
	assert_int_equal(len, 2);
	assert_int_equal(s[0], 0x4a);
	assert_int_equal(s[1], 0x1f);
	assert_int_equal(hsmca_records_parse_serial("A1F", s, &len, &err), 0);
	assert_int_equal(len, 2);
	assert_int_equal(s[0], 0x0a);
	assert_int_equal(s[1], 0x1f);
	assert_int_equal(hsmca_records_parse_serial(
				 "0102030405060708090a0b0c0d0e0f1011121314", s, &len, &err), 0);
	assert_int_equal(len, 20);
	assert_int_equal(hsmca_records_parse_serial(
				 "0102030405060708090a0b0c0d0e0f101112131415", s, &len, &err), -1);
	assert_non_null(strstr(err.msg, "longer than 20 bytes"));
	assert_int_equal(hsmca_records_parse_serial("xyz", s, &len, &err), -1);
	assert_non_null(strstr(err.msg, "not hexadecimal"));
	assert_int_equal(hsmca_records_parse_serial("", s, &len, &err), -1);
	assert_int_equal(hsmca_records_parse_serial(":::", s, &len, &err), -1);
	assert_int_equal(hsmca_records_parse_serial("4a 1f", s, &len, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_set_100k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_100k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_revocations_find),
		cmocka_unit_test(test_parse_serial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
