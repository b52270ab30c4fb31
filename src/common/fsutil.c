#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hsmca_path_join(char *out, size_t outlen, hsmca_error *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen)
		return hsmca_error_set(err, "path too long: %.64s…", out);
	return 0;
}

int hsmca_read_file(const char *path, size_t max, uint8_t **out, size_t *len, hsmca_error *err)
{
	int ret = -1;
	int fd = -1;
	uint8_t *buf = NULL;
	size_t have = 0, cap = 4096;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		hsmca_error_errno(err, "cannot open %s", path);
		goto out;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		hsmca_error_set(err, "%s is a directory, not a file", path);
		goto out;
	}
	buf = malloc(cap + 1);
	if (!buf) {
		hsmca_error_set(err, "out of memory reading %s", path);
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (have == cap) {
			uint8_t *nb;

			if (cap > max) {
				hsmca_error_set(err, "%s is larger than the %zu-byte limit", path, max);
				goto out;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				hsmca_error_set(err, "out of memory reading %s", path);
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + have, cap - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			hsmca_error_errno(err, "cannot read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > max) {
			hsmca_error_set(err, "%s is larger than the %zu-byte limit", path, max);
			goto out;
		}
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int hsmca_fsync_dir(const char *dir, hsmca_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return hsmca_error_errno(err, "cannot open directory %s", dir);
	if (fsync(fd) != 0 && errno != EINVAL) {
		close(fd);
		return hsmca_error_errno(err, "cannot sync directory %s", dir);
	}
	close(fd);
	return 0;
}

/* Outputs like /dev/stdout, /dev/null or a FIFO are written in place: a
 * rename over them would replace the device node or the link itself. */
static int write_in_place(const char *path, const void *data, size_t len, hsmca_error *err)
{
	int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return hsmca_error_errno(err, "cannot open %s", path);
	if (write_all(fd, data, len) != 0) {
		hsmca_error_errno(err, "cannot write %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int hsmca_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       hsmca_error *err)
{
	char tmp[PATH_MAX];
	char dircopy[PATH_MAX];
	char real[PATH_MAX];
	struct stat st;
	int fd = -1;
	int ret = -1;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return hsmca_error_set(err, "%s is a directory", path);
		return write_in_place(path, data, len, err);
	}
	/* A symlink to a regular file: replace the file it names, not the link. */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real))
		path = real;
	if (hsmca_path_join(tmp, sizeof(tmp), err, "%s.tmp.%ld", path, (long)getpid()) != 0)
		return -1;
	if (hsmca_path_join(dircopy, sizeof(dircopy), err, "%s", path) != 0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		hsmca_error_errno(err, "cannot create %s", tmp);
		goto out;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		hsmca_error_errno(err, "cannot write %s", tmp);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		hsmca_error_errno(err, "cannot write %s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		hsmca_error_errno(err, "cannot rename %s to %s", tmp, path);
		goto out;
	}
	if (hsmca_fsync_dir(dirname(dircopy), err) != 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret != 0)
		unlink(tmp);
	return ret;
}

int hsmca_write_secret(const char *path, const void *data, size_t len, hsmca_error *err)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return hsmca_error_errno(err, "cannot create %s", path);
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		hsmca_error_errno(err, "cannot write %s", path);
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) != 0) {
		hsmca_error_errno(err, "cannot write %s", path);
		unlink(path);
		return -1;
	}
	return 0;
}

int hsmca_mkdir_p(const char *path, mode_t mode, hsmca_error *err)
{
	char buf[PATH_MAX];
	size_t i;

	if (hsmca_path_join(buf, sizeof(buf), err, "%s", path) != 0)
		return -1;
	for (i = 1; buf[i]; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return hsmca_error_errno(err, "cannot create directory %s", buf);
		buf[i] = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return hsmca_error_errno(err, "cannot create directory %s", buf);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int hsmca_rmtree(const char *path, hsmca_error *err)
{
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return hsmca_error_errno(err, "cannot remove %s", path);
	return 0;
}
