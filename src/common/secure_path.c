/* StrictModes for hsmca's state: what we read as configuration, the token
 * store, PINs and logs must be ours (or root's) and writable by nobody else,
 * or another user could swap the PKCS#11 module and be handed the PIN.
 * Modelled on secure_filename() in OpenSSH misc.c: resolve the path, then
 * check it and every parent up to "/". */
#include "common/secure_path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"

/* Deep enough for any state directory we create (cas/<name>/, tokens/<uuid>/). */
#define TREE_DEPTH_MAX 16

static int check_owner(const char *path, const struct stat *st, hsmca_error *err)
{
	uid_t uid = geteuid();

	if (st->st_uid == uid || st->st_uid == 0)
		return 0;
	return hsmca_error_set(err, "%s is owned by uid %lu, not by you (uid %lu) or root; hsmca "
			       "trusts only your own files here (chown %lu %s, or use another directory)",
			       path, (unsigned long)st->st_uid, (unsigned long)uid, (unsigned long)uid,
			       path);
}

static int check_writable(const char *path, const struct stat *st, hsmca_error *err)
{
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	return hsmca_error_set(err, "%s is writable by group or others (mode %04o): another user "
			       "could replace what hsmca reads (fix: chmod go-w %s)",
			       path, (unsigned)(st->st_mode & 07777), path);
}

/* A directory above the checked path.  A root-owned sticky directory (/tmp)
 * is accepted: others may add entries but not rename or remove ours. */
static int check_ancestor(const char *path, hsmca_error *err)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return hsmca_error_errno(err, "cannot check %s", path);
	if (check_owner(path, &st, err) != 0)
		return -1;
	if (S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) && st.st_uid == 0)
		return 0;
	return check_writable(path, &st, err);
}

/* Every directory above the resolved path `real`, up to and including "/". */
static int check_ancestors(const char *real, hsmca_error *err)
{
	char buf[PATH_MAX];
	char *slash;

	if (hsmca_path_join(buf, sizeof(buf), err, "%s", real) != 0)
		return -1;
	while ((slash = strrchr(buf, '/')) != NULL) {
		if (slash == buf) {
			return check_ancestor("/", err);
		}
		*slash = '\0';
		if (check_ancestor(buf, err) != 0)
			return -1;
	}
	return 0;
}

int hsmca_secure_path(const char *path, bool want_dir, hsmca_error *err)
{
	char real[PATH_MAX];
	struct stat st;

	if (!realpath(path, real))
		return hsmca_error_errno(err, "cannot check %s", path);
	if (stat(real, &st) != 0)
		return hsmca_error_errno(err, "cannot check %s", path);
	if (want_dir && !S_ISDIR(st.st_mode))
		return hsmca_error_set(err, "%s is not a directory", path);
	if (!want_dir && !S_ISREG(st.st_mode))
		return hsmca_error_set(err, "%s is not a regular file", path);
	if (check_owner(path, &st, err) != 0 || check_writable(path, &st, err) != 0)
		return -1;
	return check_ancestors(real, err);
}

int hsmca_secure_parents(const char *path, hsmca_error *err)
{
	char copy[PATH_MAX], real[PATH_MAX];
	char *slash;

	if (hsmca_path_join(copy, sizeof(copy), err, "%s", path) != 0)
		return -1;
	slash = strrchr(copy, '/');
	if (!slash)
		snprintf(copy, sizeof(copy), ".");
	else if (slash == copy)
		copy[1] = '\0';
	else
		*slash = '\0';
	if (!realpath(copy, real))
		return hsmca_error_errno(err, "cannot check %s", copy);
	/* The containing directory is itself an ancestor of `path`. */
	if (check_ancestor(real, err) != 0)
		return -1;
	return strcmp(real, "/") == 0 ? 0 : check_ancestors(real, err);
}

static int check_tree(int dfd, const char *dir, int depth, hsmca_error *err)
{
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (depth > TREE_DEPTH_MAX)
		return hsmca_error_set(err, "%s: directories nested deeper than %d levels", dir,
				       TREE_DEPTH_MAX);
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return hsmca_error_errno(err, "cannot read directory %s", dir);
	}
	while (ret == 0 && (e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (hsmca_path_join(path, sizeof(path), err, "%s/%s", dir, e->d_name) != 0) {
			ret = -1;
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue; /* removed meanwhile (a temporary file) */
			ret = hsmca_error_errno(err, "cannot check %s", path);
			break;
		}
		if (check_owner(path, &st, err) != 0) {
			ret = -1;
			break;
		}
		/* A link's own mode bits mean nothing; its owner does. */
		if (S_ISLNK(st.st_mode))
			continue;
		if (check_writable(path, &st, err) != 0) {
			ret = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				ret = hsmca_error_errno(err, "cannot open directory %s", path);
				break;
			}
			ret = check_tree(sub, path, depth + 1, err);
		}
	}
	closedir(d);
	return ret;
}

int hsmca_secure_tree(const char *home, hsmca_error *err)
{
	int fd;

	if (hsmca_secure_path(home, true, err) != 0)
		return -1;
	fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hsmca_error_errno(err, "cannot open directory %s", home);
	return check_tree(fd, home, 0, err);
}

int hsmca_secure_secret_fd(int fd, const char *path, hsmca_error *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return hsmca_error_errno(err, "cannot check %s", path);
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode))
		return 0;
	if (!S_ISREG(st.st_mode))
		return hsmca_error_set(err, "%s is not a regular file", path);
	if (st.st_uid != geteuid())
		return hsmca_error_set(err, "%s is owned by uid %lu, not by you (uid %lu): a PIN file "
				       "must be yours (chown %lu %s)",
				       path, (unsigned long)st.st_uid, (unsigned long)geteuid(),
				       (unsigned long)geteuid(), path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return hsmca_error_set(err, "%s has mode %04o: a PIN file must be readable by you "
				       "alone (fix: chmod 0600 %s)",
				       path, (unsigned)(st.st_mode & 07777), path);
	return hsmca_secure_parents(path, err);
}
