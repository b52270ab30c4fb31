/* Unit tests for the pure parts of src/fleet/lease.c: the MicroTime format the
 * Lease carries and the parser that judges expiry, and the holder identity.
 * Acquire/renew/release are tested against the Kubernetes API double
 * (tests/integration/tenant_lease.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet/lease.h"

static void test_format_time(void **state)
{
	char buf[32];

	(void)state;
	hsmca_lease_format_time(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
	/* 2026-12-07T23:31:06.123456Z */
	hsmca_lease_format_time(1796686266123456LL, buf);
	assert_string_equal(buf, "2026-12-07T23:31:06.123456Z");
}

static void test_parse_time(void **state)
{
	long long us = -1;

	(void)state;
	assert_int_equal(hsmca_lease_parse_time("2026-12-07T23:31:06.123456Z", &us), 0);
	assert_true(us == 1796686266123456LL);
	/* seconds only, as a Time (not MicroTime) would be written */
	assert_int_equal(hsmca_lease_parse_time("2026-12-07T23:31:06Z", &us), 0);
	assert_true(us == 1796686266000000LL);
	/* nanoseconds are cut to microseconds */
	assert_int_equal(hsmca_lease_parse_time("2026-12-07T23:31:06.123456789Z", &us), 0);
	assert_true(us == 1796686266123456LL);
	/* an offset is the same instant */
	assert_int_equal(hsmca_lease_parse_time("2026-12-08T01:31:06.5+02:00", &us), 0);
	assert_true(us == 1796686266500000LL);
	assert_int_equal(hsmca_lease_parse_time("2026-12-07T21:31:06-02:00", &us), 0);
	assert_true(us == 1796686266000000LL);
}

static void test_parse_time_refuses(void **state)
{
	static const char *const bad[] = {
		"", "2026-12-07", "2026-12-07T23:31:06", "2026-12-07T23:31:06.1", "yesterday",
		"2026-12-07T23:31:06Zjunk", "2026-12-07T23:31:06+0200", "2026-12-07 23:31:06Z",
	};
	long long us = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(hsmca_lease_parse_time(bad[i], &us), 0);
		assert_true(us == 42); /* untouched on failure */
	}
	assert_int_not_equal(hsmca_lease_parse_time(NULL, &us), 0);
}

static void test_identity(void **state)
{
	char a[HSMCA_LEASE_IDENTITY_MAX], b[HSMCA_LEASE_IDENTITY_MAX], host[128], want[160];
	hsmca_error err = { 0 };

	(void)state;
	assert_int_equal(hsmca_lease_make_identity(a, sizeof(a), &err), 0);
	assert_int_equal(hsmca_lease_make_identity(b, sizeof(b), &err), 0);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	snprintf(want, sizeof(want), "%s/%ld/", host, (long)getpid());
	assert_memory_equal(a, want, strlen(want));
	assert_int_equal(strlen(a), strlen(want) + 16);
	assert_string_not_equal(a, b); /* a fresh run id each time */
	/* too small a buffer is an error, not a truncated identity */
	assert_int_not_equal(hsmca_lease_make_identity(a, 8, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_time_refuses),
		cmocka_unit_test(test_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
