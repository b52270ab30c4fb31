/* How much slower than a quiet developer machine a test program runs.
 *
 * Timing checks in the unit tests are of two kinds.  A lower bound ("the
 * client retried until its deadline") holds on any machine.  An upper bound
 * ("the deadline cut the call", "it did not wait 100 s") and a deadline
 * that a call must finish within only hold with a margin, and the
 * sanitizer build (AddressSanitizer with the slow unwinder CI uses makes a
 * TLS handshake about ten times slower) on a loaded 2-core machine eats
 * margins.  Such values are multiplied by test_slow():
 *   HSMCA_TEST_SLOW when set (a factor, 1 to 100), else
 *   4 when built with AddressSanitizer, else 1. */
#ifndef HSMCA_TEST_SLOWDOWN_H
#define HSMCA_TEST_SLOWDOWN_H

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define HSMCA_TEST_SLOW_DEFAULT 4.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HSMCA_TEST_SLOW_DEFAULT 4.0
#endif
#endif
#ifndef HSMCA_TEST_SLOW_DEFAULT
#define HSMCA_TEST_SLOW_DEFAULT 1.0
#endif

static inline double test_slow(void)
{
	const char *s = getenv("HSMCA_TEST_SLOW");
	char *end;
	double f;

	if (!s || !*s)
		return HSMCA_TEST_SLOW_DEFAULT;
	f = strtod(s, &end);
	if (*end || !(f >= 1.0 && f <= 100.0))
		return HSMCA_TEST_SLOW_DEFAULT;
	return f;
}

/* ms scaled by test_slow(). */
static inline long slow_ms(long ms)
{
	return (long)((double)ms * test_slow());
}

#endif
