/* Per-test cleanup for cmocka unit tests.
 *
 * cmocka ends a failing test by longjmp()ing out of it: frees at the end of
 * the test body never run, and in the sanitizer build LeakSanitizer then
 * buries the one failed assertion under pages of leak reports.  So a test
 * registers what it acquires with defer() (defer_wipe() for buffers that
 * held secrets), and the per-test teardown defer_teardown() releases what is
 * still registered, newest first, whether the test passed or failed.
 * release() runs one cleanup at once (a buffer that is replaced mid-test).
 *
 * Header-only: one table per test program.  Only the test's own thread may
 * register or release. */
#ifndef HSMCA_TEST_DEFER_H
#define HSMCA_TEST_DEFER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/util.h"

#define DEFER_MAX 128

/* Releases p; n is what defer_n() was given (a length for wiping). */
typedef void (*defer_fn)(void *p, size_t n);

static struct {
	defer_fn fn;
	void *p;
	size_t n;
} defer_slots[DEFER_MAX];
static size_t defer_count;

/* Register p (NULL is ignored) to be released by fn(p, n); returns p. */
static inline void *defer_n(defer_fn fn, void *p, size_t n)
{
	if (!p)
		return NULL;
	if (defer_count == DEFER_MAX) {
		fn(p, n);
		fail_msg("defer: more than %d resources in one test", DEFER_MAX);
	}
	defer_slots[defer_count].fn = fn;
	defer_slots[defer_count].p = p;
	defer_slots[defer_count].n = n;
	defer_count++;
	return p;
}

static inline void *defer(defer_fn fn, void *p)
{
	return defer_n(fn, p, 0);
}

static inline void defer_free_fn(void *p, size_t n)
{
	(void)n;
	free(p);
}

static inline void defer_wipe_fn(void *p, size_t n)
{
	hsmca_wipe(p, n);
	free(p);
}

/* malloc'ed p, freed. */
static inline void *defer_free(void *p)
{
	return defer(defer_free_fn, p);
}

/* malloc'ed p holding n secret bytes: wiped, then freed. */
static inline void *defer_wipe(void *p, size_t n)
{
	return defer_n(defer_wipe_fn, p, n);
}

/* Release p now (its newest registration); p must be registered. */
static inline void release(void *p)
{
	size_t i = defer_count;

	if (!p)
		return;
	while (i > 0 && defer_slots[i - 1].p != p)
		i--;
	if (i == 0)
		fail_msg("release: %p was not deferred", p);
	i--;
	defer_slots[i].fn(p, defer_slots[i].n);
	for (; i + 1 < defer_count; i++)
		defer_slots[i] = defer_slots[i + 1];
	defer_count--;
}

/* The per-test teardown's part: release everything, newest first. */
static inline void defer_run_all(void)
{
	while (defer_count > 0) {
		defer_count--;
		defer_slots[defer_count].fn(defer_slots[defer_count].p,
					    defer_slots[defer_count].n);
	}
}

#endif
