/* Bundles as tar files, through libarchive: strict on read (regular files,
 * plain names, bounded sizes), ustar on write, written atomically. */
#include "bundle/bundle.h"

#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/fsutil.h"
#include "common/sha2.h"
#include "common/util.h"

void hsmca_bundle_sha256(const void *data, size_t len, char out[65])
{
	uint8_t md[32];

	hsmca_sha2(256, data, len, md);
	hsmca_hex(md, sizeof(md), out);
}

void hsmca_bundle_clear(struct hsmca_bundle *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n; i++)
		free(b->files[i].data);
	free(b->files);
	b->files = NULL;
	b->n = 0;
}

const struct hsmca_bundle_file *hsmca_bundle_get(const struct hsmca_bundle *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->files[i].name, name) == 0)
			return &b->files[i];
	return NULL;
}

/* [A-Za-z0-9._-]+ with at most one '/', no component "." or "..". */
static bool name_ok(const char *name)
{
	const char *p, *slash = strchr(name, '/');
	size_t len = strlen(name);

	if (len == 0 || len >= sizeof(((struct hsmca_bundle_file *)0)->name) || name[0] == '.' ||
	    name[0] == '/' || name[len - 1] == '/' || (slash && strchr(slash + 1, '/')) ||
	    (slash && slash[1] == '.') || strstr(name, ".."))
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-' || *p == '/'))
			return false;
	return true;
}

int hsmca_bundle_add(struct hsmca_bundle *b, const char *name, const void *data, size_t len,
		     hsmca_error *err)
{
	struct hsmca_bundle_file *f;

	if (!name_ok(name))
		return hsmca_error_set(err, "bundle member name '%s' is not allowed", name);
	if (hsmca_bundle_get(b, name))
		return hsmca_error_set(err, "bundle member %s appears twice", name);
	if (b->n >= HSMCA_BUNDLE_MAX_FILES)
		return hsmca_error_set(err, "more than %d files in a bundle", HSMCA_BUNDLE_MAX_FILES);
	f = realloc(b->files, (b->n + 1) * sizeof(*f));
	if (!f)
		return hsmca_error_set(err, "out of memory");
	b->files = f;
	f = &b->files[b->n];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->data = malloc(len + 1);
	if (!f->data)
		return hsmca_error_set(err, "out of memory");
	memcpy(f->data, data, len);
	f->data[len] = '\0'; /* text members can be read as strings */
	f->len = len;
	b->n++;
	return 0;
}

int hsmca_bundle_read(const char *path, struct hsmca_bundle *out, hsmca_error *err)
{
	struct hsmca_bundle b = { NULL, 0 };
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	uint8_t *buf = NULL;
	size_t total = 0;
	int rc, ret = -1;

	if (!a)
		return hsmca_error_set(err, "out of memory");
	/* Only tar, never compressed: nothing to decompress means no bomb. */
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		hsmca_error_set(err, "cannot open bundle %s: %s", path, archive_error_string(a));
		goto out;
	}
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		la_int64_t size = archive_entry_size(e);
		la_ssize_t got;

		if (archive_entry_filetype(e) == AE_IFDIR)
			continue;
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) {
			hsmca_error_set(err, "bundle %s: member %s is not a regular file", path,
					name ? name : "?");
			goto out;
		}
		if (!name || !name_ok(name)) {
			hsmca_error_set(err, "bundle %s: member name '%s' is not allowed", path,
					name ? name : "");
			goto out;
		}
		if (size < 0 || (uint64_t)size > HSMCA_BUNDLE_MAX_BYTES - total) {
			hsmca_error_set(err, "bundle %s: larger than %u MiB", path,
					HSMCA_BUNDLE_MAX_BYTES >> 20);
			goto out;
		}
		buf = malloc((size_t)size + 1);
		if (!buf) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		/* archive_read_data() may return less than asked: read to the end. */
		for (got = 0; got < size;) {
			la_ssize_t n = archive_read_data(a, buf + got, (size_t)(size - got));

			if (n <= 0)
				break;
			got += n;
		}
		if (got != size) {
			hsmca_error_set(err, "bundle %s: member %s is truncated", path, name);
			goto out;
		}
		total += (size_t)size;
		if (hsmca_bundle_add(&b, name, buf, (size_t)size, err) != 0) {
			hsmca_error_prefix(err, "bundle %s", path);
			goto out;
		}
		free(buf);
		buf = NULL;
	}
	if (rc != ARCHIVE_EOF) {
		hsmca_error_set(err, "bundle %s: not a readable tar file: %s", path,
				archive_error_string(a));
		goto out;
	}
	*out = b;
	b.files = NULL;
	b.n = 0;
	ret = 0;
out:
	free(buf);
	hsmca_bundle_clear(&b);
	archive_read_free(a);
	return ret;
}

int hsmca_bundle_write(const char *path, const struct hsmca_bundle *b, hsmca_error *err)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t cap = 10240, used = 0, i;
	uint8_t *buf = NULL;
	int ret = -1;

	if (!a || !e) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < b->n; i++)
		cap += 1024 + b->files[i].len;
	buf = malloc(cap);
	if (!buf) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	/* Fixed owner, mode and time: the same files give the same bytes. */
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
		goto arch;
	for (i = 0; i < b->n; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, b->files[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)b->files[i].len);
		archive_entry_set_mtime(e, 0, 0);
		archive_entry_set_uname(e, "hsmca");
		archive_entry_set_gname(e, "hsmca");
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, b->files[i].data, b->files[i].len) != (la_ssize_t)b->files[i].len)
			goto arch;
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		goto arch;
	if (hsmca_write_atomic(path, buf, used, 0644, err) != 0)
		goto out;
	ret = 0;
	goto out;
arch:
	hsmca_error_set(err, "cannot write bundle %s: %s", path, archive_error_string(a));
out:
	archive_entry_free(e);
	if (a)
		archive_write_free(a);
	free(buf);
	return ret;
}
