/* Helpers for fuzz targets whose parser is reached through a loader that
 * reads a file: the input is written to a file in a private directory made
 * once per process (under $TMPDIR, removed at exit), so the real loader,
 * reads and limits included, is what gets fuzzed. */
#ifndef HSMCA_FUZZ_UTIL_H
#define HSMCA_FUZZ_UTIL_H
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir_path[256];

static inline void fuzz_dir_remove(void)
{
	char cmd[300];

	if (fuzz_dir_path[0] && strncmp(fuzz_dir_path, "/", 1) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir_path);
		if (system(cmd) != 0)
			return;
	}
}

/* The process's private directory (mode 0700). */
static inline const char *fuzz_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (!fuzz_dir_path[0]) {
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "%s/hsmca-fuzz-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(fuzz_dir_path))
			abort();
		atexit(fuzz_dir_remove);
	}
	return fuzz_dir_path;
}

/* Make <fuzz_dir>/<rel> (one level) as a directory; returns its path in out. */
static inline void fuzz_mkdir(const char *rel, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", fuzz_dir(), rel);
	if (mkdir(out, 0700) != 0 && access(out, F_OK) != 0)
		abort();
}

/* Replace <fuzz_dir>/<rel> with data (mode 0600). */
static inline void fuzz_write(const char *rel, const void *data, size_t len, char *out, size_t outlen)
{
	int fd;

	snprintf(out, outlen, "%s/%s", fuzz_dir(), rel);
	unlink(out);
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0)
		abort();
	if (len && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* Split data at the first "\n----\n" into two parts (the second may be
 * empty); lets one input drive two files. */
static inline void fuzz_split(const uint8_t *data, size_t size, size_t *first, const uint8_t **rest,
		       size_t *rest_len)
{
	static const char sep[] = "\n----\n";
	size_t i;

	for (i = 0; i + sizeof(sep) - 1 <= size; i++)
		if (memcmp(data + i, sep, sizeof(sep) - 1) == 0) {
			*first = i;
			*rest = data + i + sizeof(sep) - 1;
			*rest_len = size - i - (sizeof(sep) - 1);
			return;
		}
	*first = size;
	*rest = data + size;
	*rest_len = 0;
}
#endif
