/* The tenant rotation's journal: one JSON object per line, each written with
 * one write() and fsynced before the step it records is acted on (or right
 * after, for steps whose effect is idempotent to find again), under an
 * exclusive flock on a separate lock file.  Only public data goes in:
 * fingerprints, certificates, uids, names, paths. */
#include "tenant/tenant_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"

int tj_init(struct tjournal *j, const char *home, const char *ns, const char *name,
	    hsmca_error *err)
{
	memset(j, 0, sizeof(*j));
	j->lock_fd = -1;
	j->fd = -1;
	if (hsmca_path_join(j->dir, sizeof(j->dir), err, "%s/tenant/%s-%s", home, ns, name) != 0 ||
	    hsmca_path_join(j->path, sizeof(j->path), err, "%s/journal.jsonl", j->dir) != 0)
		return -1;
	j->lines = json_object_new_array();
	if (!j->lines)
		return hsmca_error_set(err, "journal: out of memory");
	return 0;
}

int tj_lock(struct tjournal *j, hsmca_error *err)
{
	char lock[PATH_MAX];
	int fd;

	if (hsmca_mkdir_p(j->dir, 0700, err) != 0)
		return hsmca_error_prefix(err, "journal directory %s", j->dir);
	if (hsmca_path_join(lock, sizeof(lock), err, "%s/lock", j->dir) != 0)
		return -1;
	fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return hsmca_error_errno(err, "open lock %s", lock);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			hsmca_error_set(err, "another hsmca tenant rotate-ca holds %s (a rotation of this "
					"tenant is running); nothing changed", lock);
			err->code = EWOULDBLOCK;
			return -1;
		}
		errno = e;
		return hsmca_error_errno(err, "lock %s", lock);
	}
	j->lock_fd = fd;
	return 0;
}

bool tj_exists(const struct tjournal *j)
{
	struct stat st;

	return lstat(j->path, &st) == 0;
}

int tj_load(struct tjournal *j, hsmca_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0, start = 0, good = 0;
	struct stat st;
	int ret = -1;

	if (lstat(j->path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return hsmca_error_errno(err, "journal %s", j->path);
	}
	if (!S_ISREG(st.st_mode))
		return hsmca_error_set(err, "journal %s is not a regular file", j->path);
	if (hsmca_read_file(j->path, TENANT_JOURNAL_MAX, &buf, &len, err) != 0)
		return hsmca_error_prefix(err, "journal");
	for (size_t i = 0; i < len; i++) {
		json_object *line;
		enum json_tokener_error jerr;

		if (buf[i] != '\n')
			continue;
		buf[i] = '\0';
		line = json_tokener_parse_verbose((const char *)buf + start, &jerr);
		if (!line || !json_object_is_type(line, json_type_object) ||
		    !json_object_object_get_ex(line, "step", NULL)) {
			json_object_put(line);
			hsmca_error_set(err, "journal %s: line %zu is not a journal entry; the file was "
					"edited or damaged (move it away to start over)",
					j->path, json_object_array_length(j->lines) + 1);
			goto out;
		}
		json_object_array_add(j->lines, line);
		start = i + 1;
		good = start;
	}
	/* A last line without its newline is a write the crash interrupted:
	 * nothing acted on it (lines are written before acting). */
	if (good < len && j->lock_fd >= 0 && truncate(j->path, (off_t)good) != 0) {
		hsmca_error_errno(err, "journal %s: cut the torn last line", j->path);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

int tj_append(struct tjournal *j, const char *step, json_object *fields, hsmca_error *err)
{
	json_object *line = json_object_new_object();
	char ts[21];
	const char *text;
	size_t n;
	bool created = false;
	int ret = -1;

	if (!line) {
		json_object_put(fields);
		return hsmca_error_set(err, "journal: out of memory");
	}
	hsmca_format_time(hsmca_now(), ts);
	json_object_object_add(line, "step", json_object_new_string(step));
	json_object_object_add(line, "time", json_object_new_string(ts));
	if (fields) {
		json_object_object_foreach(fields, key, val)
		{
			json_object_object_add(line, key, json_object_get(val));
		}
		json_object_put(fields);
	}
	if (j->fd < 0) {
		created = !tj_exists(j);
		j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (j->fd < 0) {
			hsmca_error_errno(err, "open journal %s", j->path);
			goto out;
		}
	}
	text = json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = strlen(text);
	{
		char *buf = malloc(n + 1);
		ssize_t w;

		if (!buf) {
			hsmca_error_set(err, "journal: out of memory");
			goto out;
		}
		memcpy(buf, text, n);
		buf[n] = '\n';
		w = write(j->fd, buf, n + 1);
		free(buf);
		if (w != (ssize_t)(n + 1)) {
			if (w >= 0)
				errno = EIO;
			hsmca_error_errno(err, "write journal %s", j->path);
			goto out;
		}
	}
	if (fsync(j->fd) != 0) {
		hsmca_error_errno(err, "fsync journal %s", j->path);
		goto out;
	}
	if (created && hsmca_fsync_dir(j->dir, err) != 0)
		goto out;
	json_object_array_add(j->lines, line);
	line = NULL;
	ret = 0;
out:
	json_object_put(line);
	return ret;
}

json_object *tj_last(const struct tjournal *j, const char *step)
{
	size_t n = j->lines ? json_object_array_length(j->lines) : 0;

	while (n-- > 0) {
		json_object *l = json_object_array_get_idx(j->lines, n);
		const char *s = hsmca_kube_str(l, "step");

		if (s && strcmp(s, step) == 0)
			return l;
	}
	return NULL;
}

const char *tj_last_step(const struct tjournal *j)
{
	size_t n = j->lines ? json_object_array_length(j->lines) : 0;

	return n ? hsmca_kube_str(json_object_array_get_idx(j->lines, n - 1), "step") : NULL;
}

int tj_close_as(struct tjournal *j, const char *how, hsmca_error *err)
{
	char to[PATH_MAX], ts[21];
	struct stat st;

	hsmca_format_time(hsmca_now(), ts);
	if (hsmca_path_join(to, sizeof(to), err, "%s/%s-%s.jsonl", j->dir, how, ts) != 0)
		return -1;
	/* Two closes in one second (tests): do not overwrite the first. */
	for (int i = 1; lstat(to, &st) == 0 && i < 100; i++)
		if (hsmca_path_join(to, sizeof(to), err, "%s/%s-%s.%d.jsonl", j->dir, how, ts, i) != 0)
			return -1;
	if (rename(j->path, to) != 0)
		return hsmca_error_errno(err, "rename journal %s to %s", j->path, to);
	if (j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	return hsmca_fsync_dir(j->dir, err);
}

void tj_free(struct tjournal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	j->fd = j->lock_fd = -1;
	json_object_put(j->lines);
	j->lines = NULL;
}
