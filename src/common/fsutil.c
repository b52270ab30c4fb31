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
#include <sys/random.h>
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
 * rename over them would replace the device node or the link itself.
 * Appending keeps what the caller's shell already wrote to a redirected
 * standard output. */
static int write_in_place(const char *path, const void *data, size_t len, hsmca_error *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);

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

/* What may stand at an output path before it is replaced.  Returns 1 for a
 * device, FIFO or /dev link to be written in place, 0 for "create or
 * replace", -1 if refused.  A symbolic link is refused (it would make us
 * write where its planter chose) except under /dev, where only root makes
 * links (/dev/stdout, /dev/fd/N): those name an open descriptor, written in
 * place and never renamed over (that would replace /dev/stdout itself). */
static int check_target(const char *path, hsmca_error *err)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return hsmca_error_errno(err, "cannot check %s", path);
	}
	if (S_ISLNK(st.st_mode)) {
		if (strncmp(path, "/dev/", 5) != 0)
			return hsmca_error_set(err, "%s is a symbolic link; refusing to write through or "
					       "replace it (remove it, or give the real path)", path);
		if (stat(path, &st) != 0)
			return hsmca_error_errno(err, "cannot check %s", path);
		if (S_ISDIR(st.st_mode))
			return hsmca_error_set(err, "%s is a directory", path);
		return 1;
	}
	if (S_ISREG(st.st_mode))
		return 0;
	if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
		return 1;
	if (S_ISDIR(st.st_mode))
		return hsmca_error_set(err, "%s is a directory", path);
	return hsmca_error_set(err, "%s exists and is not a regular file; refusing to replace it",
			       path);
}

/* ".<base>.<16 random hex>.tmp": unguessable, so nobody can plant it first;
 * O_EXCL would refuse a planted one anyway and we would draw again. */
static int temp_name(char *out, size_t outlen, const char *base, hsmca_error *err)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[8];
	char tag[2 * sizeof(rnd) + 1];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return hsmca_error_errno(err, "cannot draw a temporary file name");
	for (i = 0; i < sizeof(rnd); i++) {
		tag[2 * i] = hex[rnd[i] >> 4];
		tag[2 * i + 1] = hex[rnd[i] & 15];
	}
	tag[sizeof(tag) - 1] = '\0';
	return hsmca_path_join(out, outlen, err, ".%.200s.%s.tmp", base, tag);
}

/* The temporary file, created with its final mode.  The umask can only take
 * permission bits away; if it did, the bits are put back with fchmod on the
 * still-empty, unpublished file, so the output never exists with any mode
 * but `mode` (and never wider than it). */
static int create_temp(int dfd, const char *dir, const char *base, mode_t mode, char *tmp,
		       size_t tmplen, hsmca_error *err)
{
	struct stat st;
	int tries, fd = -1;

	for (tries = 0; tries < 16; tries++) {
		if (temp_name(tmp, tmplen, base, err) != 0)
			return -1;
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
			    mode);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return hsmca_error_errno(err, "cannot create a temporary file in %s", dir);
	if (fstat(fd, &st) != 0 ||
	    ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0)) {
		hsmca_error_errno(err, "cannot set mode %04o on %s/%s", (unsigned)mode, dir, tmp);
		close(fd);
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	return fd;
}

int hsmca_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       hsmca_error *err)
{
	char tmp[NAME_MAX + 1];
	char dircopy[PATH_MAX], basecopy[PATH_MAX];
	const char *dir, *base;
	int fd = -1, dfd = -1;
	int ret = -1, kind;

	kind = check_target(path, err);
	if (kind < 0)
		return -1;
	if (kind == 1)
		return write_in_place(path, data, len, err);
	if (hsmca_path_join(dircopy, sizeof(dircopy), err, "%s", path) != 0 ||
	    hsmca_path_join(basecopy, sizeof(basecopy), err, "%s", path) != 0)
		return -1;
	dir = dirname(dircopy);
	base = basename(basecopy);
	tmp[0] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return hsmca_error_errno(err, "cannot open directory %s", dir);
	fd = create_temp(dfd, dir, base, mode, tmp, sizeof(tmp), err);
	if (fd < 0) {
		tmp[0] = '\0';
		goto out;
	}
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		hsmca_error_errno(err, "cannot write %s/%s", dir, tmp);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		hsmca_error_errno(err, "cannot write %s/%s", dir, tmp);
		goto out;
	}
	fd = -1;
	/* rename(2) replaces whatever entry is there, a link included, and
	 * never writes through it. */
	if (renameat(dfd, tmp, dfd, base) != 0) {
		hsmca_error_errno(err, "cannot rename %s/%s to %s", dir, tmp, path);
		goto out;
	}
	tmp[0] = '\0';
	if (fsync(dfd) != 0 && errno != EINVAL) {
		hsmca_error_errno(err, "cannot sync directory %s", dir);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlinkat(dfd, tmp, 0);
	close(dfd);
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
