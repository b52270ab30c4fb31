/* The rotation lock and journal (rot_internal.h). */
#include "rotate/rot_internal.h"

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

#define JOURNAL_MAX (16u << 20)

int hsmca_rot_path(const char *home, const char *name, char *out, size_t outlen,
		   hsmca_error *err)
{
	return hsmca_path_join(out, outlen, err, "%s/rotate%s%s", home, name[0] ? "/" : "", name);
}

int hsmca_rot_lock_take(const char *home, int *out, hsmca_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX], pid[32];
	int fd, n;

	if (hsmca_rot_path(home, "", dir, sizeof(dir), err) != 0 ||
	    hsmca_rot_path(home, "lock", path, sizeof(path), err) != 0 ||
	    hsmca_mkdir_p(dir, 0755, err) != 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return hsmca_error_errno(err, "cannot open the rotation lock %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char buf[32] = "";
		ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);

		close(fd);
		if (e == EWOULDBLOCK) {
			if (r > 0)
				buf[strcspn(buf, "\n")] = '\0';
			hsmca_error_set(err, "another rotation is running (pid %s holds %s); wait for "
					     "it, or see 'hsmca rotate status'",
					r > 0 && buf[0] ? buf : "?", path);
			err->code = EWOULDBLOCK;
			return -1;
		}
		errno = e;
		return hsmca_error_errno(err, "cannot lock %s", path);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		hsmca_error_errno(err, "cannot write %s", path);
		close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

void hsmca_rot_lock_release(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock; the file stays (unlinking it would race) */
}

int hsmca_rot_lock_probe(const char *home, bool *held, long *pid, hsmca_error *err)
{
	char path[PATH_MAX], buf[32] = "";
	ssize_t r;
	int fd;

	*held = false;
	*pid = 0;
	if (hsmca_rot_path(home, "lock", path, sizeof(path), err) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : hsmca_error_errno(err, "cannot open %s", path);
	if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			*held = true;
	} else {
		flock(fd, LOCK_UN);
	}
	r = pread(fd, buf, sizeof(buf) - 1, 0);
	if (r > 0)
		*pid = strtol(buf, NULL, 10);
	close(fd);
	return 0;
}

bool hsmca_rot_journal_exists(const char *home)
{
	char path[PATH_MAX];
	hsmca_error e;

	return hsmca_rot_path(home, "journal", path, sizeof(path), &e) == 0 &&
	       access(path, F_OK) == 0;
}

/* fsync the directory holding `path`. */
static int fsync_parent(const char *path, hsmca_error *err)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return hsmca_fsync_dir(".", err);
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return hsmca_fsync_dir(dir, err);
}

static int write_line(int fd, const char *path, const char *text, bool sync, hsmca_error *err)
{
	size_t len = strlen(text);
	char *line = malloc(len + 2);
	ssize_t w;

	if (!line)
		return hsmca_error_set(err, "out of memory");
	memcpy(line, text, len);
	line[len] = '\n';
	/* One write on an O_APPEND descriptor: a line is whole or torn at the
	 * end, never interleaved. */
	w = write(fd, line, len + 1);
	free(line);
	if (w != (ssize_t)(len + 1))
		return hsmca_error_errno(err, "cannot append to %s", path);
	if (sync && fsync(fd) != 0)
		return hsmca_error_errno(err, "cannot fsync %s", path);
	return 0;
}

int hsmca_rot_journal_create(const char *home, const struct hsmca_rot_plan *plan,
			     struct hsmca_rot_journal *j, hsmca_error *err)
{
	json_object *o = NULL;
	int ret = -1;

	j->fd = -1;
	j->seq = 1;
	if (hsmca_rot_path(home, "journal", j->path, sizeof(j->path), err) != 0)
		return -1;
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (j->fd < 0)
		return hsmca_error_errno(err, "cannot create the journal %s", j->path);
	o = json_object_new_object();
	json_object_object_add(o, "seq", json_object_new_int64(1));
	json_object_object_add(o, "ev", json_object_new_string("plan"));
	json_object_object_add(o, "plan", hsmca_rot_plan_to_json(plan));
	if (write_line(j->fd, j->path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		       true, err) != 0 ||
	    fsync_parent(j->path, err) != 0)
		goto out;
	ret = 0;
out:
	json_object_put(o);
	if (ret != 0) {
		close(j->fd);
		unlink(j->path);
		j->fd = -1;
	}
	return ret;
}

int hsmca_rot_journal_append(struct hsmca_rot_journal *j, json_object *o, bool sync,
			     hsmca_error *err)
{
	char now[21];
	int ret;

	hsmca_format_time(hsmca_now(), now);
	j->seq++;
	json_object_object_add(o, "seq", json_object_new_int64(j->seq));
	json_object_object_add(o, "time", json_object_new_string(now));
	ret = write_line(j->fd, j->path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			 sync, err);
	json_object_put(o);
	return ret;
}

static int step_of(json_object *ev)
{
	json_object *v;

	if (!json_object_object_get_ex(ev, "step", &v))
		return -1;
	return json_object_get_int(v);
}

void hsmca_rot_jstate_apply(struct hsmca_rot_jstate *st, json_object *ev)
{
	json_object *v;
	const char *e;
	int step = step_of(ev), node = -1;

	if (!json_object_object_get_ex(ev, "ev", &v))
		return;
	e = json_object_get_string(v);
	if (json_object_object_get_ex(ev, "node", &v))
		node = json_object_get_int(v);
	if (json_object_object_get_ex(ev, "seq", &v))
		st->seq = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(ev, "time", &v))
		snprintf(st->last_time, sizeof(st->last_time), "%s", json_object_get_string(v));
	if (step < -1 || step > HSMCA_ROT_NSTEPS)
		return;
	if (strcmp(e, "step-begin") == 0 && step >= 0) {
		if (st->steps[step] != HSMCA_ROT_ST_DONE)
			st->steps[step] = HSMCA_ROT_ST_BEGUN;
	} else if ((strcmp(e, "step-end") == 0 || strcmp(e, "step-skip") == 0) && step >= 0) {
		st->steps[step] = HSMCA_ROT_ST_DONE;
	} else if (strcmp(e, "node-end") == 0 && step >= 0 && node >= 0 &&
		   (size_t)node < st->n_nodes && st->node_done[step]) {
		st->node_done[step][node] = true;
	} else if (strcmp(e, "fail") == 0) {
		if (json_object_object_get_ex(ev, "error", &v))
			snprintf(st->last_error, sizeof(st->last_error), "%s",
				 json_object_get_string(v));
	} else if (strcmp(e, "abort-begin") == 0) {
		st->aborting = true;
		st->steps[HSMCA_ROT_ABORT] = HSMCA_ROT_ST_BEGUN;
	} else if (strcmp(e, "abort-end") == 0) {
		st->aborted = true;
		st->steps[HSMCA_ROT_ABORT] = HSMCA_ROT_ST_DONE;
	} else if (strcmp(e, "finish") == 0) {
		st->finished = true;
	}
	if (strcmp(e, "step-end") == 0 || strcmp(e, "finish") == 0 || strcmp(e, "abort-end") == 0)
		st->last_error[0] = '\0';
}

void hsmca_rot_jstate_free(struct hsmca_rot_jstate *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i <= HSMCA_ROT_NSTEPS; i++)
		free(st->node_done[i]);
	memset(st, 0, sizeof(*st));
}

static int jstate_init(struct hsmca_rot_jstate *st, size_t n_nodes, hsmca_error *err)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->n_nodes = n_nodes;
	for (i = 0; i <= HSMCA_ROT_NSTEPS; i++) {
		st->node_done[i] = calloc(n_nodes ? n_nodes : 1, sizeof(bool));
		if (!st->node_done[i]) {
			hsmca_rot_jstate_free(st);
			return hsmca_error_set(err, "out of memory");
		}
	}
	return 0;
}

int hsmca_rot_journal_load(const char *home, struct hsmca_rot_plan *plan,
			   struct hsmca_rot_jstate *st, struct hsmca_rot_journal *j,
			   hsmca_error *err)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0, off = 0, whole;
	unsigned line = 0;
	bool have_plan = false;
	int ret = -1;

	memset(plan, 0, sizeof(*plan));
	memset(st, 0, sizeof(*st));
	if (hsmca_rot_path(home, "journal", path, sizeof(path), err) != 0)
		return -1;
	if (access(path, F_OK) != 0)
		return hsmca_error_set(err, "no rotation in progress (%s does not exist)", path);
	if (hsmca_read_file(path, JOURNAL_MAX, &buf, &len, err) != 0)
		return -1;
	/* Only whole lines count: a torn tail is a write that never finished. */
	whole = len;
	while (whole > 0 && buf[whole - 1] != '\n')
		whole--;
	while (off < whole) {
		char *nl = memchr(buf + off, '\n', whole - off);
		json_object *o, *v;

		*nl = '\0';
		line++;
		o = json_tokener_parse((char *)buf + off);
		off = (size_t)(nl - (char *)buf) + 1;
		if (!o) {
			hsmca_error_set(err, "%s line %u: not JSON (the journal was edited?)", path, line);
			goto out;
		}
		if (!have_plan) {
			if (!json_object_object_get_ex(o, "plan", &v) ||
			    hsmca_rot_plan_from_json(v, plan, err) != 0 ||
			    jstate_init(st, plan->n_nodes, err) != 0) {
				json_object_put(o);
				hsmca_error_prefix(err, "%s line 1", path);
				goto out;
			}
			st->seq = 1;
			have_plan = true;
		} else {
			hsmca_rot_jstate_apply(st, o);
		}
		json_object_put(o);
	}
	if (!have_plan) {
		hsmca_error_set(err, "%s holds no plan (the rotation never started: remove the file)",
				path);
		goto out;
	}
	if (j) {
		j->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		if (j->fd < 0) {
			hsmca_error_errno(err, "cannot open %s", path);
			goto out;
		}
		if (whole != len && (ftruncate(j->fd, (off_t)whole) != 0 || fsync(j->fd) != 0)) {
			hsmca_error_errno(err, "cannot cut the torn last line of %s", path);
			close(j->fd);
			j->fd = -1;
			goto out;
		}
		snprintf(j->path, sizeof(j->path), "%s", path);
		j->seq = st->seq;
	}
	ret = 0;
out:
	free(buf);
	if (ret != 0) {
		hsmca_rot_plan_free(plan);
		hsmca_rot_jstate_free(st);
	}
	return ret;
}

int hsmca_rot_journal_archive(struct hsmca_rot_journal *j, const char *home, const char *id,
			      hsmca_error *err)
{
	char dir[PATH_MAX], dst[PATH_MAX];

	if (hsmca_rot_path(home, "history", dir, sizeof(dir), err) != 0 ||
	    hsmca_mkdir_p(dir, 0755, err) != 0 ||
	    hsmca_path_join(dst, sizeof(dst), err, "%s/%s.journal", dir, id) != 0)
		return -1;
	if (rename(j->path, dst) != 0)
		return hsmca_error_errno(err, "cannot move %s to %s", j->path, dst);
	if (fsync_parent(dst, err) != 0 || fsync_parent(j->path, err) != 0)
		return -1;
	return 0;
}

void hsmca_rot_journal_close(struct hsmca_rot_journal *j)
{
	if (j && j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
}
