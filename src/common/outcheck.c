#include "common/outcheck.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int writable_dir(const char *dir, const char *what, const char *path, hsmca_error *err)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return hsmca_error_errno(err, "%s %s: directory %s", what, path, dir);
	if (!S_ISDIR(st.st_mode))
		return hsmca_error_set(err, "%s %s: %s is not a directory", what, path, dir);
	if (access(dir, W_OK | X_OK) != 0)
		return hsmca_error_errno(err, "%s %s: directory %s is not writable", what, path, dir);
	return 0;
}

int hsmca_outcheck_file(const char *path, bool may_replace, hsmca_error *err)
{
	char copy[PATH_MAX];
	struct stat st;

	if (!path || !*path)
		return hsmca_error_set(err, "output path is empty");
	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return hsmca_error_set(err, "output path %.40s… is too long", path);
	if (copy[strlen(copy) - 1] == '/')
		return hsmca_error_set(err, "output %s names a directory, not a file", path);
	if (writable_dir(dirname(copy), "output", path, err) != 0)
		return -1;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return hsmca_error_errno(err, "output %s", path);
	}
	if (!S_ISREG(st.st_mode))
		return hsmca_error_set(err, "output %s exists and is not a regular file (%s)", path,
				       S_ISDIR(st.st_mode)	? "a directory"
				       : S_ISLNK(st.st_mode) ? "a symbolic link"
							     : "a special file");
	if (!may_replace)
		return hsmca_error_set(err, "output %s already exists", path);
	if (access(path, W_OK) != 0)
		return hsmca_error_errno(err, "output %s is not writable", path);
	return 0;
}

int hsmca_outcheck_dir(const char *dir, hsmca_error *err)
{
	char copy[PATH_MAX];
	struct stat st;

	if (!dir || !*dir)
		return hsmca_error_set(err, "output directory is empty");
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return hsmca_error_set(err, "output directory %s is not a directory", dir);
		if (access(dir, W_OK | X_OK) != 0)
			return hsmca_error_errno(err, "output directory %s is not writable", dir);
		return 0;
	}
	if (errno != ENOENT)
		return hsmca_error_errno(err, "output directory %s", dir);
	if (snprintf(copy, sizeof(copy), "%s", dir) >= (int)sizeof(copy))
		return hsmca_error_set(err, "output directory %.40s… is too long", dir);
	return writable_dir(dirname(copy), "output directory", dir, err);
}
