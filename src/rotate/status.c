/* `hsmca rotate status`: read-only view of the rotation state (rotate.h). */
#include "rotate/rot_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int hsmca_rot_status(const char *home, const char *target, struct hsmca_rot_status *st,
		     hsmca_error *err)
{
	struct hsmca_rot_jstate js;
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *e;
	struct timespec newest = { 0, 0 };
	size_t i, k;

	memset(st, 0, sizeof(*st));
	if (hsmca_rot_lock_probe(home, &st->running, &st->lock_pid, err) != 0 ||
	    hsmca_rot_current_ca(home, target, st->current_ca, err) != 0)
		return -1;
	if (hsmca_rot_path(home, "history", dir, sizeof(dir), err) != 0)
		return -1;
	d = opendir(dir);
	if (d) {
		/* Ids start with a second-resolution time and end in random hex:
		 * two rotations of the same second do not sort by name.  The
		 * journal is last written when its rotation ends, so its mtime
		 * (nanoseconds) orders them; the name only breaks exact ties. */
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			struct stat sb;
			bool newer;

			if (l <= 8 || strcmp(e->d_name + l - 8, ".journal") != 0 ||
			    l - 8 >= sizeof(st->last_finished) ||
			    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
				continue;
			newer = sb.st_mtim.tv_sec != newest.tv_sec ? sb.st_mtim.tv_sec > newest.tv_sec
				: sb.st_mtim.tv_nsec != newest.tv_nsec
					? sb.st_mtim.tv_nsec > newest.tv_nsec
					: strncmp(e->d_name, st->last_finished, l - 8) > 0;
			if (!st->last_finished[0] || newer) {
				newest = sb.st_mtim;
				snprintf(st->last_finished, sizeof(st->last_finished), "%.*s", (int)(l - 8),
					 e->d_name);
			}
		}
		closedir(d);
	} else if (errno != ENOENT) {
		return hsmca_error_errno(err, "cannot list %s", dir);
	}
	if (!hsmca_rot_journal_exists(home))
		return 0;
	if (hsmca_rot_journal_load(home, &st->plan, &js, NULL, err) != 0)
		return -1;
	st->active = true;
	for (i = 0; i < HSMCA_ROT_NSTEPS; i++) {
		st->steps[i] = js.steps[i];
		for (k = 0; k < js.n_nodes; k++)
			st->nodes_done[i] += js.node_done[i][k];
	}
	st->aborting = js.aborting;
	snprintf(st->last_error, sizeof(st->last_error), "%s", js.last_error);
	snprintf(st->last_time, sizeof(st->last_time), "%s", js.last_time);
	hsmca_rot_jstate_free(&js);
	return 0;
}

void hsmca_rot_status_free(struct hsmca_rot_status *st)
{
	if (st)
		hsmca_rot_plan_free(&st->plan);
}
