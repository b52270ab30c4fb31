/* M-of-N PIN shares: every subset of M of N shares rebuilds the PIN, every
 * subset of M-1 is refused, a damaged or forged share is refused, and the
 * share files look as documented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "pinshare/pinshare.h"

static char base[256];

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "%s/hsmca-pinshare.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	hsmca_error err = { "", 0 };

	(void)state;
	return hsmca_rmtree(base, &err);
}

static void set_pin(struct hsmca_pin *p, const char *v)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->value, sizeof(p->value), "%s", v);
	p->len = strlen(v);
}

/* A directory holding the shares whose bit is set in mask. */
static void pick(const char *from, unsigned n, unsigned mask, char *dir, size_t len)
{
	static unsigned seq;
	unsigned i;

	snprintf(dir, len, "%s/pick%u", base, seq++);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (i = 0; i < n; i++) {
		char src[512], dst[512];
		uint8_t *data = NULL;
		size_t dlen = 0;
		hsmca_error err = { "", 0 };

		if (!(mask & (1u << i)))
			continue;
		snprintf(src, sizeof(src), "%s/share-%u-of-%u.txt", from, i + 1, n);
		snprintf(dst, sizeof(dst), "%s/share-%u-of-%u.txt", dir, i + 1, n);
		assert_int_equal(hsmca_read_file(src, 1 << 16, &data, &dlen, &err), 0);
		assert_int_equal(hsmca_write_secret(dst, data, dlen, &err), 0);
		free(data);
	}
}

static void test_every_subset(void **state)
{
	struct hsmca_pin user, so, got;
	struct hsmca_pinshare_use use;
	hsmca_error err = { "", 0 };
	char dir[512], pick_dir[512];
	unsigned mask, ok = 0, refused = 0;

	(void)state;
	set_pin(&user, "a-user-pin-of-some-length-1234567890");
	set_pin(&so, "so-4242");
	snprintf(dir, sizeof(dir), "%s/split", base);
	assert_int_equal(hsmca_pinshare_split(&user, &so, 3, 5, "tok", "00ff11ee", dir, &err), 0);
	for (mask = 1; mask < 32; mask++) {
		unsigned bits = (unsigned)__builtin_popcount(mask);

		pick(dir, 5, mask, pick_dir, sizeof(pick_dir));
		memset(&got, 0, sizeof(got));
		if (bits >= 3) {
			if (hsmca_pinshare_read(pick_dir, "user", &got, &err) != 0)
				fail_msg("shares %#x: %s", mask, err.msg);
			assert_int_equal(got.len, user.len);
			assert_memory_equal(got.value, user.value, user.len);
			assert_true(hsmca_pinshare_last(&use));
			assert_string_equal(use.token, "00ff11ee");
			assert_int_equal(use.m, 3);
			ok++;
			if (hsmca_pinshare_read(pick_dir, "so", &got, &err) != 0)
				fail_msg("SO shares %#x: %s", mask, err.msg);
			assert_string_equal(got.value, "so-4242");
		} else {
			assert_int_equal(hsmca_pinshare_read(pick_dir, "user", &got, &err), -1);
			assert_non_null(strstr(err.msg, "shares needed were given"));
			assert_int_equal(got.len, 0);
			refused++;
		}
	}
	assert_int_equal(ok, 16);      /* C(5,3)+C(5,4)+C(5,5) */
	assert_int_equal(refused, 15); /* C(5,1)+C(5,2) */
}

static void test_files_and_damage(void **state)
{
	struct hsmca_pin user, got;
	hsmca_error err = { "", 0 };
	char dir[512], path[600], pick_dir[512];
	uint8_t *data = NULL;
	size_t len = 0;
	struct stat st;
	char *line;

	(void)state;
	set_pin(&user, "1234");
	snprintf(dir, sizeof(dir), "%s/files", base);
	assert_int_equal(hsmca_pinshare_split(&user, NULL, 2, 3, "tok", "abc", dir, &err), 0);
	snprintf(path, sizeof(path), "%s/share-2-of-3.txt", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Splitting again into the same directory is refused (O_EXCL). */
	assert_int_equal(hsmca_pinshare_split(&user, NULL, 2, 3, "tok", "abc", dir, &err), -1);
	assert_int_equal(hsmca_read_file(path, 1 << 16, &data, &len, &err), 0);
	assert_non_null(strstr((char *)data, "PIN share 2 of 3"));
	line = strstr((char *)data, "hsmca-share-v1:user:abc:");
	assert_non_null(line);
	free(data);

	/* A flipped hex digit in share 2: refused, naming its file. */
	pick(dir, 3, 3, pick_dir, sizeof(pick_dir));
	snprintf(path, sizeof(path), "%s/share-2-of-3.txt", pick_dir);
	assert_int_equal(hsmca_read_file(path, 1 << 16, &data, &len, &err), 0);
	line = strstr((char *)data, "hsmca-share-v1:");
	line = strrchr(line, ':') - 5;
	*line = *line == '0' ? '1' : '0';
	unlink(path);
	assert_int_equal(hsmca_write_secret(path, data, len, &err), 0);
	free(data);
	memset(&got, 0, sizeof(got));
	assert_int_equal(hsmca_pinshare_read(pick_dir, "user", &got, &err), -1);
	assert_non_null(strstr(err.msg, "share-2-of-3.txt: share is corrupted"));
	assert_int_equal(got.len, 0);

	/* Bad parameters. */
	assert_int_equal(hsmca_pinshare_split(&user, NULL, 1, 3, "tok", "abc", dir, &err), -1);
	assert_int_equal(hsmca_pinshare_split(&user, NULL, 2, 3, "tok", "a:b", dir, &err), -1);
}

static void test_parse_mn(void **state)
{
	hsmca_error err = { "", 0 };
	unsigned m = 0, n = 0;

	(void)state;
	assert_int_equal(hsmca_pinshare_parse_mn("3/5", &m, &n, &err), 0);
	assert_int_equal(m, 3);
	assert_int_equal(n, 5);
	assert_int_equal(hsmca_pinshare_parse_mn("1/5", &m, &n, &err), -1);
	assert_int_equal(hsmca_pinshare_parse_mn("5/3", &m, &n, &err), -1);
	assert_int_equal(hsmca_pinshare_parse_mn("3/99", &m, &n, &err), -1);
	assert_int_equal(hsmca_pinshare_parse_mn("3-5", &m, &n, &err), -1);
	assert_int_equal(hsmca_pinshare_parse_mn("3/5x", &m, &n, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_subset),
		cmocka_unit_test(test_files_and_damage),
		cmocka_unit_test(test_parse_mn),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
